"""Schedule and Stage: the loop structure chosen for each operation of a computation.

A stage owns its root axes (the compute's output axes, then its reduce axes) and a list of
relations between loop variables (splits and fuses). The leaves of those relations, in their
current order, are the stage's loops. The primitives (:mod:`schedules.primitives`,
:mod:`schedules.cache`) check their arguments, record relations and append a Step to the
trace; lowering (:mod:`schedules.lower`) reads this state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tensorir.buffer import Scope
from tensorir.errors import ScheduleError
from tensorir.expr import IterVar
from tensorir.graph import post_order
from tensorir.stmt import ForKind
from tensorir.tensor import ComputeOp, Operation, PlaceholderOp, Tensor

from .cache import ScheduleCaching
from .primitives import StagePrimitives
from .trace import Trace


@dataclass(frozen=True, eq=False)
class Split:
    parent: IterVar
    outer: IterVar
    inner: IterVar
    factor: int


@dataclass(frozen=True, eq=False)
class Fuse:
    outer: IterVar
    inner: IterVar
    fused: IterVar


Relation = Split | Fuse


@dataclass
class LoopAnnotation:
    kind: ForKind = ForKind.SERIAL
    thread_tag: str = ""


@dataclass(eq=False)
class Stage(StagePrimitives):
    """The schedule of one operation: its loops, where it is computed, where it is stored."""

    op: Operation
    schedule: Schedule
    name: str = ""
    leaves: list[IterVar] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    annotations: dict[IterVar, LoopAnnotation] = field(default_factory=dict)
    scope: Scope = Scope.GLOBAL
    #: ``root``, ``inline`` or ``at`` (then ``attach_stage``/``attach_axis`` say where)
    attach: str = "root"
    attach_stage: Stage | None = None
    attach_axis: IterVar | None = None
    is_output: bool = False
    #: tensors this stage reads through a cache instead: original tensor -> cache tensor
    read_redirect: dict[Tensor, Tensor] = field(default_factory=dict)

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

    @property
    def inputs(self) -> list[Tensor]:
        """The tensors this stage reads, after cache redirection."""
        return [self.read_redirect.get(t, t) for t in self.op.inputs]

    def annotation(self, axis: IterVar) -> LoopAnnotation:
        return self.annotations.get(axis) or LoopAnnotation()

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
        return self._by_op[tensor.op]

    def same_tensor(self, a: Tensor, b: Tensor) -> bool:
        """Whether ``a`` and ``b`` are the tensor of one stage (cache_write gives a stage a new
        operation; its readers keep reading the tensor of the old one)."""
        return a is b or (a.op in self._by_op and self._by_op[a.op] is self._by_op.get(b.op))

    def readers(self, tensor: Tensor) -> list[Stage]:
        """The stages that read ``tensor`` (after cache redirection), inlined ones included."""
        return [s for s in self.stages if any(self.same_tensor(t, tensor) for t in s.inputs)]

    def consumers(self, tensor: Tensor) -> list[Stage]:
        """The non-inlined stages whose computation reads ``tensor``, looking through inlined stages."""
        found: list[Stage] = []
        for reader in self.readers(tensor):
            if reader.attach == "inline":
                found += [c for c in self.consumers(reader.op.output) if c not in found]
            elif reader not in found:
                found.append(reader)
        return found

    @classmethod
    def from_trace(cls, outputs: Tensor | Sequence[Tensor], trace) -> Schedule:
        """A schedule of ``outputs`` with the steps of ``trace`` (a Trace or its JSON) applied."""
        from .trace import replay

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
