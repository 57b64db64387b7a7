"""``s.create_group(outputs, inputs)``: TVM's group of stages, the stages between ``inputs``
and ``outputs`` moved together.

A group is a handle, not a stage of its own: ``g.compute_at(s[T], loop)`` attaches every member
that is not already computed inside another member (readers first, so each producer finds its
readers inside the loop), ``g.compute_root()`` and ``g.compute_inline()`` apply to each member.
Each member records its own steps, so a trace replays a group's schedule without it.
"""

from __future__ import annotations

from collections.abc import Sequence

from tensorir.errors import ScheduleError
from tensorir.tensor import ComputeOp, PlaceholderOp, Tensor

from .relations import At, Inlined


class Group:
    """The stages of a ``create_group`` call, producers first (see the module doc)."""

    def __init__(self, schedule, members: Sequence):
        self.schedule, self.members = schedule, tuple(members)

    @property
    def name(self) -> str:
        return f"group({', '.join(s.name for s in self.members)})"

    def _roots(self) -> list:
        """The members not attached inside another member, readers first."""
        inside = set(self.members)
        return [s for s in reversed(self.members)
                if not (isinstance(s.attach, At) and s.attach.stage in inside)]

    def compute_at(self, stage, axis) -> None:
        """Compute every member inside loop ``axis`` of ``stage``."""
        parent = self.schedule[stage] if isinstance(stage, (str, Tensor)) else stage
        if parent in self.members:
            raise ScheduleError(
                f"{self.name}.compute_at(s[{parent.name}], ...): {parent.name} is a member of the group; "
                "attach the group inside a loop of a stage that reads it")
        for member in self._roots():
            if not isinstance(member.attach, Inlined):
                member.compute_at(parent, axis)

    def compute_root(self) -> None:
        """Compute every member in its own loop nest at root."""
        for member in self.members:
            member.compute_root()

    def compute_inline(self) -> None:
        """Inline every member into its readers (readers first)."""
        for member in reversed(self.members):
            member.compute_inline()

    def __repr__(self) -> str:
        return self.name


def create_group(schedule, outputs, inputs=None, include_inputs: bool = False) -> Group:
    """The group of the stages that compute ``outputs`` from ``inputs`` (all placeholders when
    None), ``inputs``' own stages included only with ``include_inputs``."""
    outputs = _tensors(outputs, "outputs")
    stops = _tensors(inputs, "inputs") if inputs is not None else []
    for t in (*outputs, *stops):
        if t not in schedule:
            raise ScheduleError(f"create_group: {t.name} is not a tensor of this schedule; pass tensors the "
                                "schedule's outputs are computed from")
    stop_ops = {t.op for t in stops}
    found, stack = set(), [t.op for t in outputs]
    while stack:
        op = stack.pop()
        if op in found or isinstance(op, PlaceholderOp):
            continue
        if op in stop_ops and not include_inputs:
            continue
        found.add(op)
        if op not in stop_ops:
            stack.extend(t.op for t in op.inputs)
    chosen = {schedule.stage_of(Tensor(op)) for op in found}
    members = [s for s in schedule.stages if s in chosen and isinstance(s.op, ComputeOp)]
    if not members:
        raise ScheduleError("create_group: no compute stage lies between the inputs and the outputs; "
                            "pass outputs computed from the inputs")
    group = Group(schedule, members)
    for member in members:
        if member.group is None:  # a member of a group made earlier stays in that (inner) group
            member.group = group  # TVM's s[T].group
    return group


def _tensors(value, what: str) -> list[Tensor]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items or not all(isinstance(t, Tensor) for t in items):
        raise ScheduleError(f"create_group: {what} must be a tensor or a list of tensors, got {value!r}")
    return items
