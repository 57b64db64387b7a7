"""Lowering of ``scan`` (:mod:`tensorir.scan`): the init and the update write the scan's buffer,
where the state placeholder reads, and the update's outermost loop, over the scan axis, starts
after the init's steps::

    for i in 0..n:                      # init
      Y[0, i] = X[0, i]
    for t in 1..m:                      # the update's loop over the scan axis, in order
      for i in 0..n:                    # the update's own loops, as scheduled
        Y[t, i] = Y[t - 1, i] + X[t, i]

Where the update's loops are bound to threads, a barrier ends each step, so that the next step
reads what every thread of the block wrote (global memory included, which the barrier pass
orders only between stages). Bound to blocks, each step is a kernel launch, as in TVM: up to
:data:`MAX_STEP_KERNELS` steps of a constant number are root nests of their own, in order, each
with the step a constant; otherwise (a symbolic number of steps, or more) the steps are a serial
loop tagged :data:`~tensorir.stmt.HOST_LOOP` around the step's nests, which the CUDA backend
runs on the host, launching the step's kernels in turn with the step as an argument.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from tensorir.buffer import Buffer
from tensorir.dtypes import DType
from tensorir.errors import LoweringError
from tensorir.expr import BinaryOp, Call, Func, binary, const
from tensorir.scan import ScanOp
from tensorir.stmt import HOST_LOOP, Allocate, Evaluate, For, ForKind, Seq, Stmt, seq
from tensorir.symbolic import same_extent
from tensorir.visitor import substitute, walk

from .relations import At, AtRoot, Inlined

if TYPE_CHECKING:
    from .lower import Lowering
    from .schedule import Schedule, Stage


def _scans(schedule: Schedule) -> list[Stage]:
    return [stage for stage in schedule.stages if isinstance(stage.op, ScanOp)]


def is_scan_state(schedule: Schedule, stage: Stage) -> bool:
    """Whether ``stage`` is a state placeholder of a scan (its buffer is the scan's)."""
    return any(schedule.stage_of(state) is stage for scan in _scans(schedule) for state in scan.op.states)


def _update_of(scan_op: ScanOp, op) -> int:
    """The update (its position) whose step computes the body stage ``op``."""
    return next(n for n, ops in enumerate(scan_op.step_ops) if op in ops)


def attach_scan_bodies(schedule: Schedule) -> None:
    """Compute the stages of each scan's step (those an update reads that read a state) at
    that update's scan axis: once per step, over that step's region."""
    for scan in _scans(schedule):
        for op in scan.op.body_ops:
            update = schedule.stage_of(scan.op.updates[_update_of(scan.op, op)])
            schedule.stage_of(op.output).attach = At(update, update.leaves[0])


def shared_steps(schedule: Schedule, name: str) -> frozenset:
    """The stages of the steps of two or more updates of one scan (TVM's LSTM: the cell state
    that both the new hidden state and the new cell state read). Each is computed inside the
    first update's step, and the step loop that all the updates share keeps its buffer for
    the later ones (see :func:`root_nest`); a reader outside the scan's updates and stages is
    refused, as for any stage attached inside a loop."""
    from .attachment import outside_readers

    shared = []
    for scan in _scans(schedule):
        op: ScanOp = scan.op  # type: ignore[assignment]
        members = {schedule.stage_of(t) for t in op.updates} | {schedule.stage_of(b.output) for b in op.body_ops}
        for body in op.body_ops:
            stage = schedule.stage_of(body.output)
            owners = [u for u, ops in zip(op.updates, op.step_ops) if body in ops]
            if len(owners) > 1 and isinstance(stage.attach, At) \
                    and set(outside_readers(schedule, stage, stage.attach)) <= members:
                shared.append(stage)
    return frozenset(shared)


def _check_part(scan: Stage, part: Stage, role: str) -> None:
    if not isinstance(part.attach, AtRoot):
        raise LoweringError(
            f"lower: {part.name}, the {role} of scan {scan.name}, is inlined or attached; a scan "
            f"computes its {role} into its own buffer, so leave {part.name} at root")


def _attached_within(stage: Stage, update: Stage) -> bool:
    """Whether ``stage`` is attached at a loop of ``update``, directly or through stages attached
    inside it (a stage of the step computed inside another one, TVM's scan group)."""
    seen = set()
    while isinstance(stage.attach, At) and id(stage) not in seen:
        seen.add(id(stage))
        stage = stage.attach.stage
        if stage is update:
            return True
    return False


def alias_scan_buffers(lowering: Lowering) -> list[Buffer]:
    """Give each scan's init, update and state the scan's buffer; the buffers of scans that are
    not arguments, which the function allocates."""
    schedule, made = lowering.schedule, []
    for scan in _scans(schedule):
        op: ScanOp = scan.op  # type: ignore[assignment]
        made += lowering.make_buffers(scan, op.shape)
        for n, parts in enumerate(zip(op.inits, op.updates, op.states)):
            buffer = lowering.buffer_of(scan, n)
            for role, tensor in zip(("init", "update", "state"), parts):
                part = schedule.stage_of(tensor)
                if role != "state":
                    _check_part(scan, part, role)
                lowering.buffers[part] = buffer
        for body in op.body_ops:
            update = schedule.stage_of(op.updates[_update_of(op, body)])
            stage = schedule.stage_of(body.output)
            inside = _attached_within(stage, update)
            if not (inside or isinstance(stage.attach, Inlined)):
                raise LoweringError(
                    f"lower: {stage.name} is computed at each step of scan {scan.name} (it reads the "
                    f"state through {update.name}), so it must stay attached inside {update.name}'s "
                    f"loops; compute_at(s[{update.name}], ...) it there, or compute_inline it")
    return made


def _step_nest(lowering: Lowering, scan: Stage, stage: Stage) -> For:
    """The nest of the update ``stage`` of ``scan``, its scan axis outermost."""
    axis = stage.compute_op.axis[0]
    if not stage.leaves or stage.leaves[0] is not axis or axis in stage.annotations:
        raise LoweringError(
            f"lower: the scan axis {axis.name} of {stage.name} (the update of scan {scan.name}) must "
            f"stay its outermost loop, neither split, reordered nor marked; its loops are "
            f"{[leaf.name for leaf in stage.leaves]}; schedule the other axes")
    nest = lowering.nest(stage, [])
    assert isinstance(nest, For) and nest.var is axis.var
    return nest


def _shared_buffers_around(lowering: Lowering, scan: Stage, body: Stmt) -> Stmt:
    """``body`` (the updates' steps in order) with the buffers of the stages that several
    updates read allocated around all of it, not inside the first update's step only."""
    schedule, op = lowering.schedule, scan.op
    shared = [s for s in shared_steps(schedule, "") if s.op in op.body_ops]
    if not shared:
        return body
    for stage in shared:
        region = lowering.regions[stage]
        if any(not same_extent(size, full) for size, full in zip(region.shape[1:], stage.op.shape[1:])):
            raise LoweringError(
                f"lower: {stage.name} is read by several updates of scan {scan.name} at each step, but is "
                f"computed over only part of a step ({list(region.shape)} of {list(stage.op.shape)}); leave "
                f"its loops whole, or compute_inline it")
    buffers = {lowering.buffer_of(s, n) for s in shared for n in range(s.op.num_outputs)}
    body = _without_allocations(body, buffers)
    for buffer in sorted(buffers, key=lambda b: b.name, reverse=True):
        body = Allocate(buffer, body)
    return body


def _without_allocations(stmt: Stmt, buffers: set) -> Stmt:
    match stmt:
        case Allocate(buffer=buffer, body=inner) if buffer in buffers:
            return _without_allocations(inner, buffers)
        case Allocate(body=inner):
            return dataclasses.replace(stmt, body=_without_allocations(inner, buffers))
        case Seq():
            return dataclasses.replace(stmt, stmts=tuple(_without_allocations(s, buffers) for s in stmt.stmts))
    return stmt


def root_nest(lowering: Lowering, stage: Stage) -> Stmt:
    """The nest of root stage ``stage``; the update of a scan runs its scan axis in order. The
    updates of a scan over several states share one loop over the steps, made where the last
    of them (in stage order, after every init and every update's producers) is."""
    schedule = lowering.schedule
    scan = next((s for s in _scans(schedule) if any(schedule.stage_of(u) is stage for u in s.op.updates)), None)
    if scan is None:
        return lowering.nest(stage, [])
    op: ScanOp = scan.op  # type: ignore[assignment]
    updates = [schedule.stage_of(u) for u in op.updates]
    if stage is not max(updates, key=schedule.stages.index):
        return seq()
    nests = [_step_nest(lowering, scan, update) for update in updates]
    nest = nests[0]
    body = seq(nest.body, *(substitute(other.body, {other.var: nest.var}) for other in nests[1:]))
    body = _shared_buffers_around(lowering, scan, body)
    from tensorir.symbolic import to_expr

    steps = op.shape[0] - op.init_steps if isinstance(op.shape[0], int) else binary(
        BinaryOp.SUB, to_expr(op.shape[0]), op.init_steps)
    if any(isinstance(n, For) and n.kind is ForKind.THREAD_BINDING and n.thread_tag.startswith("blockIdx")
           for n in walk(body)):
        if isinstance(steps, int) and steps <= MAX_STEP_KERNELS:
            return _step_kernels(op, nest.var, body)
        # a loop on the host around the step's kernels, each launched once per step (TVM's form)
        return dataclasses.replace(nest, min=const(op.init_steps), extent=to_expr(steps), body=body,
                                   thread_tag=HOST_LOOP)
    if any(isinstance(n, For) and n.kind is ForKind.THREAD_BINDING for n in walk(body)):
        body = seq(body, Evaluate(Call(Func.BARRIER, (), DType.INT32)))
    return dataclasses.replace(nest, min=const(op.init_steps), extent=to_expr(steps), body=body)


#: the most steps of a scan bound to blockIdx unrolled into kernels of their own; past it (or
#: with a symbolic number of steps) the steps are a loop on the host that launches the kernels
MAX_STEP_KERNELS = 1024


def _step_kernels(op: ScanOp, var, body: Stmt) -> Stmt:
    """The steps of a scan whose update is bound to blockIdx, one root nest (so one kernel
    launch) per step in order, the step a constant in each: TVM launches a kernel per step from
    a host loop, and the end of a kernel is what orders one step's blocks before the next's."""
    steps = op.shape[0] - op.init_steps
    return seq(*(substitute(body, {var: const(t)}) for t in range(op.init_steps, op.init_steps + steps)))
