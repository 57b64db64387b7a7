"""Cross-thread reductions with a user-defined reducer (``ns.comm_reducer``), or with several
outputs: TVM's allreduce with any commutative reducer.

The nest is that of :mod:`.cross_thread`, with one register per reduced value: each thread
folds its share into its registers (the reducer's combination, every element of a tuple reducer
at once), then the threads combine their tuples with one
:class:`~tensorir.thread_reduce.ThreadCombine` per element, and the first thread writes every
output::

    for k.inner in 0..32 [threadIdx.x]:
      B_v0.acc[0] = -1
      B_v1.acc[0] = -3.4028234663852886e+38
      for k.outer in 0..2:
        ... argmax's combination of (B_v0.acc[0], B_v1.acc[0]) with (k, A[i, k])
      B_v0.red[0] = thread_allreduce_argmax((B_v0.acc[0], B_v1.acc[0]), threadIdx.x < 32)[0]
      B_v1.red[0] = thread_allreduce_argmax((B_v0.acc[0], B_v1.acc[0]), threadIdx.x < 32)[1]
      if k.inner == 0:
        B_v0[i] = B_v0.red[0]
        B_v1[i] = B_v1.red[0]

An ``init=`` value joins once, combined with the threads' result as the first operand.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from tensorir.buffer import Buffer, Scope
from tensorir.expr import BinaryOp, BufferLoad, Expr, Reduce, binary, cast, const
from tensorir.stmt import Allocate, For, Stmt, Store, seq
from tensorir.thread_reduce import ThreadAllReduce, ThreadCombine
from tensorir.visitor import substitute

from .geometry import loop_geometry
from .lower import LoopRun, _guarded, _reads_of, _ToBuffers, stage_bodies
from .reduction import COMBINE, starting_value, update
from .thread_axis import predicate_guard

if TYPE_CHECKING:
    from tensorir.expr import IterVar

    from .lower import Lowering
    from .schedule import Stage

_ZERO = (const(0),)


def _register(lowering: Lowering, name: str, dtype) -> Buffer:
    return Buffer(lowering.unique_name(name), (1,), dtype, Scope.LOCAL)


def _groups(bodies: tuple[Reduce, ...]) -> list[list[int]]:
    """The outputs combined together: a tuple reducer's values, each other reduction alone."""
    return [list(range(len(bodies)))] if bodies[0].sources else [[n] for n in range(len(bodies))]


def _combined(bodies, group: list[int], accs: list[Buffer], threads: int) -> list[Expr]:
    """The threads' combination of the accumulators of ``group``, one expression per element."""
    first = bodies[group[0]]
    loads = tuple(BufferLoad(accs[n], _ZERO, accs[n].dtype) for n in group)
    if first.combiner is None:
        return [ThreadAllReduce(first.op, loads[0], threads, first.dtype)]
    return [ThreadCombine(first.op, load, threads, load.dtype, loads, k, first.combiner)
            for k, load in enumerate(loads)]


def _with_init(bodies, group: list[int], totals: list[Expr], convert) -> list[Expr]:
    """``totals`` with the group's ``init=`` values combined in first (unchanged without one)."""
    first = bodies[group[0]]
    if first.init is None:
        return totals
    inits = [convert(bodies[n].init) for n in group]
    if first.combiner is None:
        return [binary(COMBINE[first.op], inits[0], totals[0])]
    mapping = dict(zip(first.combiner.lhs, inits)) | dict(zip(first.combiner.rhs, totals))
    return [cast(substitute(result, mapping), total.dtype) for result, total in zip(first.combiner.results, totals)]


def custom_cross_thread_nest(lowering: Lowering, stage: Stage, env: list[For], thread: IterVar,
                             outer: list, inner: list) -> Stmt:
    """The nest of ``stage`` whose reduction loop ``thread`` is bound to ``threadIdx.x`` and
    whose reducer is user-defined (or which has several outputs): see the module docstring."""
    op = stage.compute_op
    bodies = stage_bodies(lowering.schedule, stage, lowering.bodies)
    geo = loop_geometry(stage, lowering.regions.get(stage))
    predicate = predicate_guard(stage)
    convert = _ToBuffers(lowering, {root.var: geo.values[root] for root in stage.root_axes}).visit
    outs = [lowering.buffer_of(stage, n) for n in range(op.num_outputs)]
    index = lowering.shift(stage, tuple(convert(iv.var) for iv in op.axis))
    accs = [_register(lowering, f"{out.name}.acc", out.dtype) for out in outs]
    reds = [_register(lowering, f"{out.name}.red", out.dtype) for out in outs]
    threads = geo.extents[thread]
    reduce_roots = set(op.reduce_axis)
    first_thread = thread.min if thread in reduce_roots else 0
    others = tuple(leaf for leaf in inner if leaf is not thread)
    reads = _reads_of(bodies)

    def accumulate(_env):
        return _guarded(update(accs, _ZERO, bodies, convert, lowering.scratch), geo.all_guards())

    def per_thread(env2):
        starts = [Store(acc, _ZERO, starting_value(_no_init(body), convert)) for acc, body in zip(accs, bodies)]
        combines, writes = _combine_and_write(bodies, (accs, reds, outs), index, convert, threads)
        guards = [binary(BinaryOp.EQ, thread.var, first_thread)] + geo.guards_without(reduce_roots) \
            + ([predicate] if predicate is not None else [])
        return seq(*starts, lowering.loops(LoopRun(stage, others, geo, accumulate, reads), env2), *combines,
                   _guarded(seq(*writes), guards))

    def reduction(env1):
        body: Stmt = lowering.loops(LoopRun(stage, (thread,), geo, per_thread, reads), env1)
        for buffer in reversed(accs + reds):
            body = Allocate(buffer, body)
        return body

    return lowering.loops(LoopRun(stage, tuple(outer), geo, reduction, reads), env)


def _combine_and_write(bodies, buffers, index, convert, threads: int) -> tuple[list[Stmt], list[Stmt]]:
    """The threads' combination of each group's accumulators into its registers, and the
    stores of the outputs from those registers (with the init= values joined)."""
    accs, reds, outs = buffers
    combines, writes = [], []
    for group in _groups(bodies):
        for n, value in zip(group, _combined(bodies, group, accs, threads)):
            combines.append(Store(reds[n], _ZERO, value))
        totals = [BufferLoad(reds[n], _ZERO, reds[n].dtype) for n in group]
        for n, total in zip(group, _with_init(bodies, group, totals, convert)):
            writes.append(Store(outs[n], index, total))
    return combines, writes


def _no_init(body: Reduce) -> Reduce:
    """``body`` without its init= (the threads start from the identity; the init joins once)."""
    return replace(body, init=None) if body.init is not None else body


def is_custom(stage: Stage, bodies) -> bool:
    """Whether the cross-thread reduction of ``stage`` takes this module's path."""
    return len(bodies) > 1 or any(body.combiner is not None for body in bodies)

