"""Double-buffered shared tiles: a serial loop that fills shared buffers marked
``double_buffered`` (``Stage.double_buffer``), waits, and reads them::

    for ko in lo..lo+n:                      T[0] = fetch(lo); barrier()
      [barrier()]                            for ko in lo..lo+n:
      T = fetch(ko)                  ->        if ko + 1 < lo + n: T[(ko+1-lo) % 2] = fetch(ko + 1)
      barrier()                                use(T[(ko-lo) % 2])
      use(T)                                   barrier()

becomes a loop over two copies of each buffer: the next tile's global loads are issued before
the current tile's products, and one barrier per step separates both the fill of a copy from its
reads and its reads from its next fill. Runs on flattened IR after the barrier pass; a marked
buffer whose loop has another shape is refused with a CodegenError.
"""

from __future__ import annotations

import dataclasses

from tensorir.buffer import Buffer
from tensorir.dtypes import DType
from tensorir.errors import CodegenError
from tensorir.expr import Binary, BinaryOp, BufferLoad, Call, Const, Expr, Func
from tensorir.passes.simplify import simplify
from tensorir.stmt import Allocate, Evaluate, For, ForKind, IfThenElse, PrimFunc, Seq, Stmt, Store
from tensorir.visitor import Mutator, substitute, walk


def _is_barrier(s: Stmt) -> bool:
    return isinstance(s, Evaluate) and isinstance(s.value, Call) and s.value.func is Func.BARRIER


def _touches(s: Stmt, buffers: set[Buffer]) -> tuple[bool, bool]:
    """Whether ``s`` reads, and whether it writes, any of ``buffers``."""
    reads = any(isinstance(n, BufferLoad) and n.buffer in buffers for n in walk(s))
    writes = any(isinstance(n, Store) and n.buffer in buffers for n in walk(s))
    return reads, writes


class _Halves(Mutator):
    """Accesses of the doubled buffers moved to copy ``half``."""

    def __init__(self, doubled: dict[Buffer, Buffer], half: Expr):
        super().__init__()
        self.doubled, self.half = doubled, half

    def _move(self, node):
        new = self.doubled[node.buffer]
        (flat,) = (self.visit(i) for i in node.indices)
        span = Const(node.buffer.size, flat.dtype)
        offset = Binary(BinaryOp.ADD, Binary(BinaryOp.MUL, self.half, span, flat.dtype), flat, flat.dtype)
        logical = None if node.logical is None else (self.half, *node.logical)
        return new, (offset,), logical

    def rewrite(self, node):
        if isinstance(node, BufferLoad) and node.buffer in self.doubled:
            buffer, indices, logical = self._move(node)
            return dataclasses.replace(node, buffer=buffer, indices=indices, logical=logical)
        if isinstance(node, Store) and node.buffer in self.doubled:
            buffer, indices, logical = self._move(node)
            return dataclasses.replace(node, buffer=buffer, indices=indices, logical=logical,
                                       value=self.visit(node.value))
        return None


def _split_steps(loop: For, body: Stmt, doubled: set[Buffer]) -> tuple[list[Stmt], list[Stmt]]:
    """The fetch statements and the statements that use the tiles, or a CodegenError."""
    items = list(body.stmts) if isinstance(body, Seq) else [body]
    if items and _is_barrier(items[0]):
        items = items[1:]
    fetch: list[Stmt] = []
    while items and not _is_barrier(items[0]):
        reads, writes = _touches(items[0], doubled)
        if reads or not writes:
            break
        fetch.append(items.pop(0))
    use = items[1:] if items and _is_barrier(items[0]) else None
    if not fetch or use is None or any(_touches(s, doubled)[1] for s in use):
        names = ", ".join(sorted(b.name for b in doubled))
        raise CodegenError(
            f"double_buffer({names}): loop {loop.var.name} must fill the tiles, wait at a barrier, then "
            f"only read them; compute_at the stages at the loop that steps through the tiles, with "
            f"their readers inside it, or drop double_buffer()")
    return fetch, use


def _rewrite_loop(loop: For) -> Stmt:
    allocations, body = [], loop.body
    while isinstance(body, Allocate):
        allocations.append(body.buffer)
        body = body.body
    marked = {b for b in allocations if b.double_buffered}
    if not marked:
        return dataclasses.replace(loop, body=rewrite_stmt(loop.body))
    if not (isinstance(loop.min, Const) and isinstance(loop.extent, Const) and loop.extent.value >= 1
            and loop.kind in (ForKind.SERIAL, ForKind.UNROLLED)):
        raise CodegenError(f"double_buffer({', '.join(sorted(b.name for b in marked))}): loop {loop.var.name} "
                           f"must be a serial loop of constant extent (at least 1)")
    fetch, use = _split_steps(loop, body, marked)
    doubled = {b: dataclasses.replace(b, shape=(2, *b.shape), strides=(b.size, *b.strides)) for b in marked}
    ko, lo, end = loop.var, loop.min.value, loop.min.value + loop.extent.value
    typed = ko.dtype
    step = Binary(BinaryOp.ADD, ko, Const(1, typed), typed)

    def half(at: Expr) -> Expr:
        shifted = Binary(BinaryOp.SUB, at, Const(lo, typed), typed) if lo else at
        return Binary(BinaryOp.FLOORMOD, shifted, Const(2, typed), typed)

    first = [_Halves(doubled, Const(0, typed)).visit(substitute(s, {ko: Const(lo, typed)})) for s in fetch]
    after = [_Halves(doubled, half(step)).visit(substitute(s, {ko: step})) for s in fetch]
    now = _Halves(doubled, half(ko))
    guard = Binary(BinaryOp.LT, step, Const(end, typed), DType.BOOL)
    inner: Stmt = Seq((IfThenElse(guard, Seq(tuple(after)), None), *(now.visit(s) for s in use), _barrier()))
    for buffer in reversed([b for b in allocations if b not in marked]):
        inner = Allocate(buffer, inner)
    out: Stmt = Seq((*first, _barrier(), dataclasses.replace(loop, body=inner)))
    for buffer in reversed([b for b in allocations if b in marked]):
        out = Allocate(doubled[buffer], out)
    return out


def _barrier() -> Evaluate:
    return Evaluate(Call(Func.BARRIER, (), DType.INT32))


def rewrite_stmt(s: Stmt) -> Stmt:
    """``s`` with every loop over double-buffered tiles rewritten."""
    match s:
        case For():
            return _rewrite_loop(s)
        case Seq(stmts=stmts):
            return dataclasses.replace(s, stmts=tuple(rewrite_stmt(x) for x in stmts))
        case Allocate(body=body):
            return dataclasses.replace(s, body=rewrite_stmt(body))
        case IfThenElse(then_body=then, else_body=other):
            return dataclasses.replace(s, then_body=rewrite_stmt(then),
                                       else_body=None if other is None else rewrite_stmt(other))
    return s


def double_buffer(func: PrimFunc) -> PrimFunc:
    """``func`` (flattened) with its double-buffered shared tiles alternating between two copies."""
    if not any(isinstance(n, Allocate) and n.buffer.double_buffered for n in walk(func.body)):
        return func
    # the first tiles' fetches have the loop variable replaced by its start: fold the constants
    return simplify(dataclasses.replace(func, body=rewrite_stmt(func.body)))
