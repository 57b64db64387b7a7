"""Lowering of a reduction whose reduction loop is bound to ``threadIdx.x``: a cross-thread
reduction (TVM's meaning).

Each thread accumulates its share of the reduction (the other reduction loops, serially) into a
register, the threads of the block combine their registers with one
:class:`~tensorir.thread_reduce.ThreadAllReduce`, and thread 0 writes the result::

    for i in 0..n [blockIdx.x]:
      for k.inner in 0..64 [threadIdx.x]:
        B.acc[0] = 0.0
        for k.outer in 0..ceil(m / 64):
          if k.outer * 64 + k.inner < m:
            B.acc[0] = B.acc[0] + A[i, k.outer * 64 + k.inner]
        B.red[0] = thread_allreduce_sum(B.acc[0], threadIdx.x < 64)
        if k.inner == 0:
          B[i] = B.red[0]

The thread loop is hoisted to the outermost reduction position (the order of a commutative
reduction does not change its value); stages attached at any reduction loop stay inside it.
Every thread must reach the combining step, so guards apply to the accumulation and the final
write only. A user-defined reducer (``ns.comm_reducer``, argmax over a tuple too) or a stage of
several outputs takes the same nest with one register per value: see :mod:`.cross_thread_custom`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tensorir.buffer import Buffer, Scope
from tensorir.errors import LoweringError
from tensorir.expr import BinaryOp, BufferLoad, IterKind, IterVar, Reduce, ReduceOp, binary, const
from tensorir.functions import reduce_identity
from tensorir.stmt import Allocate, For, Stmt, Store, seq
from tensorir.thread_reduce import ThreadAllReduce

from .cross_thread_custom import custom_cross_thread_nest, is_custom
from .geometry import loop_geometry
from .lower import LoopRun, _guarded, _ToBuffers, stage_bodies, stage_body
from .thread_axis import predicate_guard

_COMBINE = {ReduceOp.SUM: BinaryOp.ADD, ReduceOp.MAX: BinaryOp.MAX, ReduceOp.MIN: BinaryOp.MIN}

if TYPE_CHECKING:
    from .lower import Lowering
    from .schedule import Stage


def thread_bound_reduction(stage: Stage) -> IterVar | None:
    """The reduction loop of ``stage`` bound to ``threadIdx.x``, if any."""
    for leaf in stage.leaves:
        note = stage.annotations.get(leaf)
        if leaf.kind is IterKind.REDUCE and note is not None and note.thread_tag:
            return leaf
    return None


def _local(lowering: Lowering, name: str, stage: Stage) -> Buffer:
    unique, n = name, 1
    while unique in lowering.names:
        unique = f"{name}_{n}"
        n += 1
    lowering.names.add(unique)
    return Buffer(unique, (1,), stage.op.dtype, Scope.LOCAL)


def cross_thread_nest(lowering: Lowering, stage: Stage, env: list[For]) -> Stmt:
    """The loop nest of ``stage``, whose reduction loop ``thread_bound_reduction(stage)`` is
    bound to ``threadIdx.x``: see the module docstring."""
    op = stage.compute_op
    thread = thread_bound_reduction(stage)
    body = stage_body(lowering.schedule, stage, lowering.bodies)
    assert isinstance(body, Reduce) and thread is not None
    first = next(p for p, leaf in enumerate(stage.leaves) if leaf.kind is IterKind.REDUCE)
    outer, inner = stage.leaves[:first], stage.leaves[first:]
    spatial = [leaf.name for leaf in inner if leaf.kind is not IterKind.REDUCE]
    if spatial:
        raise LoweringError(
            f"lower: stage {stage.name} reduces across threads (loop {thread.name} is bound to "
            f"threadIdx.x) but its data-parallel loops {spatial} run inside its reduction loops; "
            f"reorder them outside the reduction loops")
    if is_custom(stage, stage_bodies(lowering.schedule, stage, lowering.bodies)):
        return custom_cross_thread_nest(lowering, stage, env, thread, outer, inner)
    geo = loop_geometry(stage, lowering.regions.get(stage))
    # a store predicate guards the final write only: every thread accumulates its share
    predicate = predicate_guard(stage)
    to_buffers = _ToBuffers(lowering, {root.var: geo.values[root] for root in stage.root_axes})
    out = lowering.buffers[stage]
    index = lowering.shift(stage, tuple(to_buffers.visit(iv.var) for iv in op.axis))
    acc, red = _local(lowering, f"{stage.name}.acc", stage), _local(lowering, f"{stage.name}.red", stage)
    current = BufferLoad(acc, (const(0),), acc.dtype)
    others = tuple(leaf for leaf in inner if leaf is not thread)
    reduce_roots = set(op.reduce_axis)
    first_thread = thread.min if thread in reduce_roots else 0

    def update(_env):
        value = binary(_COMBINE[body.op], current, to_buffers.visit(body.source))
        where = [to_buffers.visit(body.condition)] if body.condition is not None else []
        return _guarded(Store(acc, (const(0),), value), geo.all_guards() + where)

    def per_thread(env2):
        init = Store(acc, (const(0),), reduce_identity(body.op, body.dtype))
        combine = Store(red, (const(0),), ThreadAllReduce(body.op, current, geo.extents[thread], body.dtype))
        total = BufferLoad(red, (const(0),), red.dtype)
        if body.init is not None:  # the threads reduce from the identity; the start value joins once
            total = binary(_COMBINE[body.op], to_buffers.visit(body.init), total)
        write = Store(out, index, total)
        guards = [binary(BinaryOp.EQ, thread.var, first_thread)] + geo.guards_without(reduce_roots) \
            + ([predicate] if predicate is not None else [])
        return seq(init, lowering.loops(LoopRun(stage, others, geo, update, body), env2), combine,
                   _guarded(write, guards))

    def reduction(env1):
        return Allocate(acc, Allocate(red, lowering.loops(LoopRun(stage, (thread,), geo, per_thread, body),
                                                          env1)))

    return lowering.loops(LoopRun(stage, tuple(outer), geo, reduction, body), env)



