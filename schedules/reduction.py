"""The statements of a reduction: where each accumulator starts, and how a point of the reduction
domain updates the accumulators (TVM's meaning of ``Reduce``).

An output starts from its ``init=`` value or its reducer's identity. A point updates only where
the ``where=`` predicate holds. Builtin reducers (sum/max/min) combine one accumulator with one
value; a user reducer (:class:`~tensorir.expr.Combiner`) combines all the accumulators of a tuple
reducer at once: every new value is computed from the old ones, so the stores are ordered so that
no store overwrites an accumulator a later value still reads, and where no such order exists
(each new value reads the other's old one) the new values go through scratch registers first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tensorir.buffer import Buffer, Scope
from tensorir.expr import BinaryOp, BufferLoad, Expr, Reduce, ReduceOp, TensorLoad, binary, cast, const
from tensorir.functions import reduce_identity
from tensorir.stmt import Allocate, IfThenElse, Stmt, Store, seq
from tensorir.visitor import substitute, walk

from .relations import At

COMBINE = {ReduceOp.SUM: BinaryOp.ADD, ReduceOp.MAX: BinaryOp.MAX, ReduceOp.MIN: BinaryOp.MIN}

#: lowers an expression of the compute definition to one of buffers and loop variables
Convert = Callable[[Expr], Expr]
#: makes a scratch buffer with a name unique in the function: (name, dtype) -> Buffer
Scratch = Callable[[str, object], Buffer]


def starting_value(body: Reduce, convert: Convert) -> Expr:
    """What the accumulator of ``body`` holds before the first point: ``init`` or the identity."""
    if body.init is not None:
        return convert(body.init)
    if body.combiner is not None:
        return body.combiner.identities[body.value_index]
    return reduce_identity(body.op, body.dtype)


def late_init(stage, bodies: Sequence[Reduce], inner_leaves) -> bool:
    """Whether an init= of ``stage`` reads a stage computed inside the reduction loops (attached
    at one of ``inner_leaves``, the loops from the first reduction loop in): then the
    accumulators start at the first point of the reduction domain, once that stage is computed."""
    inside = {id(leaf) for leaf in inner_leaves}
    schedule = stage.schedule
    for body in bodies:
        if body.init is None:
            continue
        for node in walk(body.init):
            if isinstance(node, TensorLoad):
                match schedule.stage_of(node.tensor).attach:
                    case At(stage=consumer, axis=axis) if consumer is stage and id(axis) in inside:
                        return True
    return False


def first_point(geo, reduce_roots) -> Expr:
    """``True`` at the first point of the reduction domain: every reduce axis at its minimum
    (the nest visits it first for each output element, whatever the order of its loops)."""
    cond: Expr | None = None
    for root in sorted(reduce_roots, key=lambda r: r.name):
        at_min = binary(BinaryOp.EQ, geo.values[root], root.min)
        cond = at_min if cond is None else binary(BinaryOp.AND, cond, at_min)
    assert cond is not None
    return cond


def init_stores(outs: Sequence[Buffer], index: tuple[Expr, ...], bodies: Sequence[Reduce],
                convert: Convert) -> Stmt:
    return seq(*(Store(out, index, starting_value(body, convert)) for out, body in zip(outs, bodies)))


def update(outs: Sequence[Buffer], index: tuple[Expr, ...], bodies: Sequence[Reduce],
           convert: Convert, scratch: Scratch) -> Stmt:
    """The update of every accumulator at one point of the reduction domain."""
    stmts = []
    for group in _groups(bodies):
        first = bodies[group[0]]
        if first.combiner is None:
            stmt = _builtin_update(outs[group[0]], index, first, convert)
        else:
            stmt = _combiner_update([outs[n] for n in group], index, first, convert, scratch)
        if first.condition is not None:
            stmt = IfThenElse(convert(first.condition), stmt)
        stmts.append(stmt)
    return seq(*stmts)


def _groups(bodies: Sequence[Reduce]) -> list[list[int]]:
    """The outputs updated together: a tuple reducer's values, each other reduction alone."""
    if bodies[0].sources:
        return [list(range(len(bodies)))]
    return [[n] for n in range(len(bodies))]


def _builtin_update(out: Buffer, index: tuple[Expr, ...], body: Reduce, convert: Convert) -> Stmt:
    current = BufferLoad(out, index, out.dtype)
    return Store(out, index, binary(COMBINE[body.op], current, convert(body.source)))


def _combiner_update(outs: list[Buffer], index: tuple[Expr, ...], body: Reduce, convert: Convert,
                     scratch: Scratch) -> Stmt:
    combiner = body.combiner
    assert combiner is not None
    mapping: dict = {}
    for lhs, rhs, out, source in zip(combiner.lhs, combiner.rhs, outs, body.all_sources):
        mapping[lhs] = BufferLoad(out, index, out.dtype)
        mapping[rhs] = convert(source)
    news = {n: cast(substitute(result, mapping), outs[n].dtype) for n, result in enumerate(combiner.results)}
    return _ordered_stores(outs, index, news, scratch)


def _reads(expr: Expr, buffer: Buffer) -> bool:
    return any(isinstance(node, BufferLoad) and node.buffer is buffer for node in walk(expr))


def _ordered_stores(outs: list[Buffer], index: tuple[Expr, ...], news: dict[int, Expr],
                    scratch: Scratch) -> Stmt:
    """Store every new value, each accumulator only once no pending value reads it."""
    pending = dict(news)
    stmts: list[Stmt] = []
    while pending:
        ready = [n for n in pending
                 if not any(_reads(pending[m], outs[n]) for m in pending if m != n)]
        if not ready:
            break
        stmts.append(Store(outs[ready[0]], index, pending.pop(ready[0])))
    if not pending:
        return seq(*stmts)
    temps = {n: scratch(f"{outs[n].name}.next", outs[n].dtype) for n in pending}
    zero = (const(0),)
    staged = [Store(temps[n], zero, value) for n, value in pending.items()]
    copies = [Store(outs[n], index, BufferLoad(temps[n], zero, temps[n].dtype)) for n in pending]
    body: Stmt = seq(*stmts, *staged, *copies)
    for temp in temps.values():
        body = Allocate(temp, body)
    return body


def scratch_buffer(name: str, dtype) -> Buffer:
    """A one-element register for a new accumulator value."""
    return Buffer(name, (1,), dtype, Scope.LOCAL)
