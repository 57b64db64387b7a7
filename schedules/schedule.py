"""Schedule and Stage: the loop structure chosen for each operation of a computation.

A stage owns its root axes (the compute's output axes, then its reduce axes), the relations
between its loop variables, the annotations of its loops and its attachment; those records
are the frozen values of :mod:`schedules.relations`, kept by :class:`schedules.stage.StageState`.
The leaves of the relations, in their current order, are the stage's loops. ``Stage`` here is
those records plus the primitives of :mod:`schedules.primitives`; ``Schedule.cache_read`` and
``cache_write`` do their work in :mod:`schedules.cache`. Each primitive checks its arguments,
records relations and appends a Step to the trace (:mod:`schedules.trace`); the attachment
queries are in :mod:`schedules.attachment`; lowering (:mod:`schedules.lower`) reads this state.

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

from collections.abc import Iterable, Sequence

from tensorir.errors import ScheduleError
from tensorir.expr import IterVar
from tensorir.graph import post_order
from tensorir.tensor import ComputeOp, Operation, PlaceholderOp, Tensor

from . import attachment, cache
from .env_threads import EnvThreadsPrimitive
from .pragma import PragmaPrimitive
from .prefetch import PrefetchPrimitive
from .rolling_buffer import RollingBufferPrimitive
from .storage import StoragePrimitives
from .tensorize import TensorizePrimitive
from .trace import Trace, replay
from .transform_layout import TransformLayoutPrimitive


class Stage(StoragePrimitives, PragmaPrimitive, PrefetchPrimitive, EnvThreadsPrimitive, TransformLayoutPrimitive,
            TensorizePrimitive, RollingBufferPrimitive):
    """The schedule of one operation: its loops, where it is computed, where it is stored.

    Its records and their queries are those of :class:`schedules.stage.StageState`; its
    primitives (``split``, ``compute_at``, ...) those of :class:`schedules.primitives.StagePrimitives`
    and :class:`schedules.storage.StoragePrimitives`.
    """

    #: the ``create_group`` group this stage is a member of (TVM's ``s[T].group``), if any
    group = None

    @property
    def attach_type(self) -> int:
        """TVM's ``AttachType`` number: 1 at root, 2 inlined, 4 inside a loop."""
        from .auto_inline import attach_type

        return attach_type(self)

    @property
    def iter_var_attrs(self) -> dict:
        """TVM's marks of the loops (``iter_var_attrs[loop].iter_type``): see
        :mod:`schedules.tvm_introspection`."""
        from .tvm_introspection import iter_var_attrs

        return iter_var_attrs(self)

    @property
    def all_iter_vars(self) -> list:
        """TVM's name for every axis the stage has had: root axes and those splits and fuses made."""
        return self.all_axes

    @property
    def origin_op(self) -> Operation:
        """TVM's ``origin_op``: the operation the stage was made for (``op`` is the current one,
        after cache_write or rfactor gave the stage another)."""
        return next(op for op, owner in self.schedule._by_op.items() if owner is self)

    @property
    def attach_stage(self) -> Stage | None:
        """TVM's ``attach_stage``: the stage inside whose loop this one is computed (compute_at)."""
        return getattr(self.attach, "stage", None)

    @property
    def attach_ivar(self) -> IterVar | None:
        """TVM's ``attach_ivar``: the loop of ``attach_stage`` this stage is computed in."""
        return getattr(self.attach, "axis", None)


class Schedule:
    """The stages of every operation that the outputs depend on, producers first."""

    def __init__(self, outputs: Sequence[Tensor]):
        #: the output tensors (every output of a compute with several)
        self.output_tensors = _output_tensors("Schedule", outputs)
        self.stages: list[Stage] = []
        self._by_op: dict[Operation, Stage] = {}
        self.trace = Trace()
        self._groups: list = []
        for op in _post_order([t.op for t in self.output_tensors]):
            stage = self.add_stage(op, len(self.stages))
            stage.is_output = any(t.op is op for t in self.output_tensors)
        from .groups import group_scan_bodies
        from .scan_lowering import attach_scan_bodies

        attach_scan_bodies(self)
        group_scan_bodies(self)

    @property
    def groups(self) -> tuple:
        """TVM's ``s.groups``: every group of this schedule (each scan's body, then those of
        ``create_group``), oldest first."""
        return tuple(self._groups)

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

    def remove_stage(self, stage: Stage) -> None:
        """Take back a stage just added (a primitive that refuses after trying it)."""
        self.stages.remove(stage)
        for op in [op for op, owner in self._by_op.items() if owner is stage]:
            del self._by_op[op]

    @property
    def stage_map(self) -> dict[Operation, Stage]:
        """TVM's ``stage_map``: each operation (and each one a stage had before) to its stage."""
        return dict(self._by_op)

    @property
    def outputs(self) -> tuple[Operation, ...]:
        """The output operations, as TVM gives them (``s.outputs[0].output(0)`` is a tensor);
        ``output_tensors`` lists the tensors."""
        return tuple(dict.fromkeys(t.op for t in self.output_tensors))

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
                f"{[t.name for t in self.output_tensors]} and the tensors they depend on")
        return stage

    def normalize(self) -> Schedule:
        """TVM's ``Schedule.normalize()``: this schedule itself. TVM rebases loops to start at 0
        before it lowers (and its ``lower`` calls this); here lowering computes each loop's
        range itself, so there is nothing to rebase and the lowered function is the same."""
        return self

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

    def cache_read(self, tensor: Tensor | str, scope: str, readers: Sequence) -> Tensor:
        """A copy of ``tensor`` in ``scope`` that ``readers`` read instead of ``tensor``.

        Attach the returned tensor's stage with ``compute_at`` to copy only the region a tile needs.
        """
        return cache.cache_read(self, tensor, scope, readers)

    def cache_write(self, tensor: Tensor | str | Sequence[Tensor], scope: str) -> Tensor | list[Tensor]:
        """Compute ``tensor`` into a cache in ``scope``, then copy the cache to ``tensor``.

        For a compute with several outputs, pass the list of them (TVM's form): every output is
        cached in one stage and the list of cache tensors comes back.

        The returned tensor's stage holds the original computation (and its reduce axes); the
        stage of ``tensor`` becomes the copy, with fresh loops ``s[tensor].op.axis``. The stage
        keeps its identity: ``s[tensor]`` and every reader of ``tensor`` still find it.
        """
        return cache.cache_write(self, tensor, scope)

    def rfactor(self, tensor: Tensor | str, axis, factor_axis: int = 0) -> Tensor:
        """Factor the reduction of ``tensor`` over loop ``axis`` into a stage of its own.

        Before, with ``k`` split into ``k.outer, k.inner`` (16)::

            for i in 0..n:
              B[i] = 0
              for k.outer in 0..ceil(m / 16):
                for k.inner in 0..16:
                  B[i] += A[i, k.outer * 16 + k.inner]

        After ``BF = s.rfactor(B, k.inner)``::

            for k.inner in 0..16:            # BF's data axes: k.inner inserted at factor_axis
              for i in 0..n:
                BF[k.inner, i] = 0
                for k.outer in 0..ceil(m / 16):
                  BF[k.inner, i] += A[i, k.outer * 16 + k.inner]
            for i in 0..n:
              B[i] = 0
              for k.inner in 0..16:          # s[B].op.reduce_axis[0]
                B[i] += BF[k.inner, i]

        Parameters
        ----------
        tensor
            A reduction whose data axes are not scheduled yet.
        axis
            One of its reduction loops (a root reduction axis or a loop split or fused from them).
        factor_axis
            Where the factored axis goes among the data axes of the new stage.

        Returns
        -------
        Tensor
            The tensor of partial results (its stage is named ``<tensor>.rf``).
        """
        from .rfactor import rfactor

        return rfactor(self, tensor, axis, factor_axis)

    def create_group(self, outputs, inputs=None, include_inputs: bool = False):
        """The stages between ``inputs`` and ``outputs`` as one group (TVM's ``create_group``):
        ``g.compute_at(s[T], loop)`` moves them all inside ``loop``. See :mod:`schedules.groups`."""
        from .groups import create_group

        return create_group(self, outputs, inputs, include_inputs)

    @classmethod
    def from_trace(cls, outputs: Tensor | Sequence[Tensor], trace) -> Schedule:
        """A schedule of ``outputs`` with the steps of ``trace`` (a Trace or its JSON) applied."""
        schedule = create_schedule(outputs)
        replay(schedule, trace)
        return schedule


def _post_order(roots: list[Operation]) -> list[Operation]:
    return post_order(roots, lambda op: [tensor.op for tensor in op.inputs])


def create_schedule(outputs: Tensor | Sequence[Tensor]) -> Schedule:
    """A schedule computing ``outputs`` (a tensor, an operation standing for all its outputs, or a
    list of them), every stage at root."""
    if isinstance(outputs, (Tensor, Operation)):
        outputs = [outputs]
    elif isinstance(outputs, (str, bytes)) or not isinstance(outputs, Iterable):
        raise ScheduleError(f"create_schedule: expected a tensor, an operation or a list of them, got "
                            f"{type(outputs).__name__} {outputs!r:.60}; pass the tensors to compute, e.g. "
                            "create_schedule(C) or create_schedule([C, D])")
    # an operation (TVM's ``create_schedule(C.op)``) stands for all its outputs
    outputs = [t for item in outputs for t in (item.outputs if isinstance(item, Operation) else [item])]
    outputs = [t for n, t in enumerate(outputs) if not any(t is other for other in outputs[:n])]
    if not outputs:
        raise ScheduleError("create_schedule: give at least one output tensor")
    for t in outputs:
        if not isinstance(t, Tensor):
            raise ScheduleError(f"create_schedule: {t!r} is not a tensor; pass the tensors to compute")
        if isinstance(t.op, PlaceholderOp):
            raise ScheduleError(
                f"create_schedule: {t.name} is a placeholder, which nothing computes; pass the "
                "compute tensors that are the outputs")
    from tensorir.scan import check_scan_bodies

    check_scan_bodies("create_schedule", _post_order([t.op for t in outputs]))
    return Schedule(outputs)


def _output_tensors(who: str, outputs) -> tuple[Tensor, ...]:
    """``outputs`` as a tuple of tensors, or a ScheduleError naming what is not one."""
    if isinstance(outputs, (str, bytes)) or not isinstance(outputs, Iterable):
        raise ScheduleError(f"{who}: expected a list of output tensors, got {type(outputs).__name__} "
                            f"{outputs!r:.60}; e.g. {who}([C])")
    outputs = tuple(outputs)
    for item in outputs:
        if not isinstance(item, Tensor):
            raise ScheduleError(f"{who}: {item!r:.60} is not a tensor; pass the tensors to compute, e.g. "
                                f"{who}([C])")
    return outputs
