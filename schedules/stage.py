"""The records of one stage (``StageState``) and the queries over them; the primitives that
change them are in :mod:`schedules.primitives`, and :mod:`schedules.schedule` assembles both
into ``Stage``. The values recorded are those of :mod:`schedules.relations`; a stage is
identified by itself, never by its tensor (see :mod:`schedules.schedule`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tensorir.buffer import Scope
from tensorir.errors import ScheduleError
from tensorir.expr import Expr, IterVar
from tensorir.tensor import ComputeOp, Operation, Tensor

from .relations import AT_ROOT, Annotation, Attach, Relation, Split

if TYPE_CHECKING:
    from .schedule import Schedule, Stage


@dataclass(eq=False)
class StageState:
    """What a schedule records about one operation: its loops and their relations and kinds,
    where it is computed and stored, and which producers it reads through caches."""

    op: Operation
    schedule: Schedule
    name: str = ""
    leaves: list[IterVar] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    annotations: dict[IterVar, Annotation] = field(default_factory=dict)
    scope: Scope = Scope.GLOBAL
    #: whether ``scope`` was chosen (set_scope, a cache); if not, an attached stage's scope follows
    #: the GPU indices around it (see :func:`schedules.bounds.storage_scope`)
    scope_given: bool = False
    attach: Attach = AT_ROOT
    is_output: bool = False
    #: producers this stage reads through a cache instead: producer stage -> cache stage
    read_redirect: dict[Stage, Stage] = field(default_factory=dict)
    #: only the threads where this holds store the stage's values (``set_store_predicate``)
    store_predicate: Expr | None = None
    #: two copies of the stage's buffer, the next one filled while the current one is read
    double_buffered: bool = False
    #: resident blocks per SM that the stage's GPU kernel asks room for (0: no request)
    min_blocks: int = 0
    #: (dimension, factor, offset) of ``storage_align``: that dimension's stride is padded to
    #: ``k * factor + offset``
    alignments: tuple[tuple[int, int, int], ...] = ()
    #: TVM's pragma hints of the loops (``s[T].pragma``): loop -> ((key, value), ...)
    pragmas: dict[IterVar, tuple] = field(default_factory=dict)
    #: the GPU indices a scan's steps share (TVM's ``env_threads``, a hint)
    environment_threads: tuple = ()
    #: TVM's prefetch requests (``s[T].prefetch``), :class:`schedules.prefetch.Prefetch` records
    prefetches: tuple = ()

    @property
    def compute_op(self) -> ComputeOp:
        """The compute definition of this stage; a placeholder stage has none."""
        if isinstance(self.op, ComputeOp):
            return self.op
        if type(self.op).__name__ == "ExternOp":
            from .extern_stage import refuse_schedule

            raise refuse_schedule(self)
        raise ScheduleError(f"s[{self.name}]: {self.name} is a placeholder (an input); it has no "
                            "loops and no computation; schedule the compute stages that read it")

    @property
    def root_axes(self) -> tuple[IterVar, ...]:
        if isinstance(self.op, ComputeOp):
            return self.op.axis + self.op.reduce_axis
        return ()

    @property
    def leaf_iter_vars(self) -> tuple[IterVar, ...]:
        """TVM's name for the loops in their order (``leaves``)."""
        return tuple(self.leaves)

    @property
    def all_axes(self) -> list[IterVar]:
        axes = list(self.root_axes)
        for rel in self.relations:
            axes += [rel.outer, rel.inner] if isinstance(rel, Split) else [rel.fused]  # Fuse, Singleton
        return axes

    def producer_of(self, tensor: Tensor) -> Stage:
        """The stage that this stage's read of ``tensor`` reads, after cache redirection."""
        original = self.schedule.stage_of(tensor)
        return self.read_redirect.get(original, original)

    @property
    def producers(self) -> list[Stage]:
        """The stages this stage reads, after cache redirection."""
        return [self.producer_of(t) for t in self.op.inputs]

    def annotation(self, axis: IterVar) -> Annotation:
        return self.annotations.get(axis) or Annotation()

    def __repr__(self) -> str:
        return f"s[{self.name}]"
