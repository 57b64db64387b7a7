"""Schedule and Stage: the loop structure chosen for each operation of a computation.

A stage owns its root axes (the compute's output axes, then its reduce axes), the relations
between its loop variables, the annotations of its loops and its attachment; those records
are the frozen values of :mod:`schedules.relations`. The leaves of the relations, in their
current order, are the stage's loops. The primitives (:mod:`schedules.primitives` on a stage,
:mod:`schedules.cache` on the schedule) check their arguments, record relations and append a
Step to the trace (:mod:`schedules.trace`); the attachment queries are in
:mod:`schedules.attachment`; lowering (:mod:`schedules.lower`) reads this state.

Identity: a stage, not a tensor, is what the schedule computes. ``cache_write`` gives a stage a
new operation (the copy out of the cache), yet the user's tensor handle and the operations that
read it still name the old one. So the schedule maps every operation a stage has had to that
stage, a tensor is turned into its stage once, where it enters the API (``s[T]``,
``stage_of``, the arguments of the primitives and of ``lower``), and below the API only stages
are compared: reads are resolved to producer stages (``Stage.producer_of``, which applies the
cache redirections, themselves stage to stage), and readers, consumers, attachment and lowering
are questions about stages. ``stage.op`` is a stage's current operation and ``stage.op.output``
its current tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tensorir.buffer import Scope
from tensorir.errors import ScheduleError
from tensorir.expr import IterVar
from tensorir.graph import post_order
from tensorir.tensor import ComputeOp, Operation, PlaceholderOp, Tensor

from . import attachment
from .cache import ScheduleCaching
from .primitives import StagePrimitives
from .relations import AT_ROOT, Annotation, Attach, Relation, Split
from .trace import Trace, replay


@dataclass(eq=False)
class Stage(StagePrimitives):
    """The schedule of one operation: its loops, where it is computed, where it is stored."""

    op: Operation
    schedule: Schedule
    name: str = ""
    leaves: list[IterVar] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    annotations: dict[IterVar, Annotation] = field(default_factory=dict)
    scope: Scope = Scope.GLOBAL
    attach: Attach = AT_ROOT
    is_output: bool = False
    #: producers this stage reads through a cache instead: producer stage -> cache stage
    read_redirect: dict[Stage, Stage] = field(default_factory=dict)

    @property
    def compute_op(self) -> ComputeOp:
        """The compute definition of this stage; a placeholder stage has none."""
        if isinstance(self.op, ComputeOp):
            return self.op
        raise ScheduleError(f"s[{self.name}]: {self.name} is a placeholder (an input); it has no "
                            "loops and no computation; schedule the compute stages that read it")

    @property
    def root_axes(self) -> tuple[IterVar, ...]:
        if isinstance(self.op, ComputeOp):
            return self.op.axis + self.op.reduce_axis
        return ()

    @property
    def all_axes(self) -> list[IterVar]:
        axes = list(self.root_axes)
        for rel in self.relations:
            axes += [rel.outer, rel.inner] if isinstance(rel, Split) else [rel.fused]
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


class Schedule(ScheduleCaching):
    """The stages of every operation that the outputs depend on, producers first."""

    def __init__(self, outputs: Sequence[Tensor]):
        self.outputs = tuple(outputs)
        self.stages: list[Stage] = []
        self._by_op: dict[Operation, Stage] = {}
        self.trace = Trace()
        for op in _post_order([t.op for t in self.outputs]):
            stage = self.add_stage(op, len(self.stages))
            stage.is_output = any(t.op is op for t in self.outputs)

    def add_stage(self, op: Operation, position: int) -> Stage:
        name, n = op.name, 1
        taken = {s.name for s in self.stages}
        while name in taken:
            name = f"{op.name}_{n}"
            n += 1
        stage = Stage(op, self, name)
        if isinstance(op, ComputeOp):
            stage.leaves = list(stage.root_axes)
        self.stages.insert(position, stage)
        self._by_op[op] = stage
        return stage

    def __getitem__(self, tensor: Tensor | Operation | str) -> Stage:
        if isinstance(tensor, str):
            for stage in self.stages:
                if stage.name == tensor:
                    return stage
            raise ScheduleError(
                f"s[{tensor!r}]: no stage is named {tensor!r}; stages: {[s.name for s in self.stages]}")
        op = tensor.op if isinstance(tensor, Tensor) else tensor
        stage = self._by_op.get(op)
        if stage is None:
            name = getattr(op, "name", repr(tensor))
            raise ScheduleError(
                f"s[{name}]: {name} is not computed by this schedule; its outputs are "
                f"{[t.name for t in self.outputs]} and the tensors they depend on")
        return stage

    def __contains__(self, tensor: Tensor) -> bool:
        return tensor.op in self._by_op

    def stage_of(self, tensor: Tensor) -> Stage:
        """The stage that computes ``tensor`` (any tensor the stage has had: see the module doc)."""
        return self._by_op[tensor.op]

    def replace_op(self, stage: Stage, op: ComputeOp) -> None:
        """Give ``stage`` the operation ``op``; tensors of its former operations still name it."""
        stage.op = op
        self._by_op[op] = stage

    def _as_stage(self, item: Stage | Tensor) -> Stage:
        return item if isinstance(item, Stage) else self.stage_of(item)

    def readers(self, producer: Stage | Tensor) -> list[Stage]:
        """The stages that read ``producer`` (after cache redirection), inlined ones included."""
        return attachment.readers(self, self._as_stage(producer))

    def consumers(self, producer: Stage | Tensor) -> list[Stage]:
        """The non-inlined stages whose computation reads ``producer``, looking through inlined stages."""
        return attachment.consumers(self, self._as_stage(producer))

    @classmethod
    def from_trace(cls, outputs: Tensor | Sequence[Tensor], trace) -> Schedule:
        """A schedule of ``outputs`` with the steps of ``trace`` (a Trace or its JSON) applied."""
        schedule = create_schedule(outputs)
        replay(schedule, trace)
        return schedule


def _post_order(roots: list[Operation]) -> list[Operation]:
    return post_order(roots, lambda op: [tensor.op for tensor in op.inputs])


def create_schedule(outputs: Tensor | Sequence[Tensor]) -> Schedule:
    """A schedule computing ``outputs`` (one tensor or a list), every stage at root."""
    if isinstance(outputs, Tensor):
        outputs = [outputs]
    outputs = list(outputs)
    if not outputs:
        raise ScheduleError("create_schedule: give at least one output tensor")
    for t in outputs:
        if not isinstance(t, Tensor):
            raise ScheduleError(f"create_schedule: {t!r} is not a tensor; pass the tensors to compute")
        if isinstance(t.op, PlaceholderOp):
            raise ScheduleError(
                f"create_schedule: {t.name} is a placeholder, which nothing computes; pass the "
                "compute tensors that are the outputs")
    return Schedule(outputs)
