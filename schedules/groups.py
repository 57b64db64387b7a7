"""``s.create_group(outputs, inputs)``: TVM's group of stages, the stages between ``inputs``
and ``outputs`` moved together.

A group is a handle, not a stage of its own: ``g.compute_at(s[T], loop)`` attaches every member
that is not already computed inside another member (readers first, so each producer finds its
readers inside the loop), ``g.compute_root()`` and ``g.compute_inline()`` apply to each member.
Each member records its own steps, so a trace replays a group's schedule without it.

Groups nest as TVM's do: a group's ``group`` is the group that encloses it (a group made later
around its members, or the body of the scan it lies in), ``s[T].group`` the innermost group of a
stage, and a stage in a group may be attached only inside a stage of that group (or of a group
nested in it): the group itself is what moves out.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar

from tensorir.errors import ScheduleError
from tensorir.tensor import ComputeOp, PlaceholderOp, Tensor

from .relations import At, Inlined

#: the group whose ``compute_at`` is moving its members (they may then leave the group)
_MOVING: ContextVar = ContextVar("moving_group", default=None)


class Group:
    """The stages of a ``create_group`` call, producers first (see the module doc)."""

    def __init__(self, schedule, members: Sequence, parent: Group | None = None):
        self.schedule, self.members = schedule, tuple(members)
        #: the enclosing group (TVM's ``g.group``), None at the top
        self.group = parent
        self._attach_stage = None

    @property
    def attach_stage(self):
        """The stage inside whose loop the group is computed (a scan's body: the scan), or None."""
        return self._attach_stage

    @property
    def num_child_stages(self) -> int:
        """How many stages and groups this group holds directly (TVM's ``num_child_stages``)."""
        direct = [s for s in self.members if s.group is self]
        return len(direct) + sum(1 for g in self.schedule.groups if g.group is self)

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
        token = _MOVING.set(self)
        try:
            for member in self._roots():
                if not isinstance(member.attach, Inlined):
                    member.compute_at(parent, axis)
        finally:
            _MOVING.reset(token)
        self._attach_stage = parent

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
    return _enclose(schedule, members)


def _chain(group: Group | None) -> list:
    """``group`` and the groups enclosing it, innermost first, ending with None (the top)."""
    found = []
    while group is not None:
        found.append(group)
        group = group.group
    return [*found, None]


def _enclose(schedule, members: list) -> Group:
    """A new group of ``members`` inside the innermost group enclosing them all: a member in
    that group moves into the new one; a member of a group nested in it stays there, and the
    outermost such group moves into the new one (TVM's ``create_group``)."""
    chains = [_chain(m.group) for m in members]
    parent = next(g for g in chains[0] if all(g in chain for chain in chains))
    group = Group(schedule, members, parent)
    for member, chain in zip(members, chains):
        if member.group is parent:
            member.group = group  # TVM's s[T].group
        else:
            chain[chain.index(parent) - 1].group = group
    schedule._groups.append(group)
    return group


def group_scan_bodies(schedule) -> None:
    """Each scan's updates and the stages of its steps as one group attached at the scan
    (TVM's scan group: ``s[update].group``)."""
    from tensorir.scan import ScanOp

    for stage in list(schedule.stages):
        op = stage.op
        if isinstance(op, ScanOp):
            ops = {*(t.op for t in op.updates), *op.body_ops}
            members = [s for s in schedule.stages if s.op in ops]
            _enclose(schedule, members)._attach_stage = stage


def check_group_attach(stage, parent, fail, call: str) -> None:
    """Refuse attaching ``stage`` of a group inside ``parent`` outside that group."""
    group = stage.group
    if group is None or group in _chain(parent.group) or _MOVING.get() is not None:
        return
    raise fail(call, f"{stage.name} is a member of {group.name} and {parent.name} is not",
               f"attach {stage.name} inside a stage of its group, or attach the whole group "
               f"({group.name}.compute_at(...))")


def _tensors(value, what: str) -> list[Tensor]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items or not all(isinstance(t, Tensor) for t in items):
        raise ScheduleError(f"create_group: {what} must be a tensor or a list of tensors, got {value!r}")
    return items
