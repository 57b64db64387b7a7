"""Run a reduction loop over an output-dependent range only over that range.

A reduce axis whose range uses an output index (``reduce_axis((0, i + 1))``, see
:mod:`tensorir.dependent`) lowers to a loop over its bounding box with the exact range as a
guard::

    for k in 0..8:                    for k in 0..i + 1:
      if k < i + 1:          ->         B[i] = B[i] + A[k]
        B[i] = B[i] + A[k]

This pass moves such guards into the loop's bounds: ``k < b`` becomes the loop's end and
``k >= b`` its start, for a serial loop over the axis itself (a split or reordered axis keeps its
guard, which is exact wherever the loop sits). The guard may sit under loops nested perfectly
inside the reduction loop (``for k: for j: if k < i + 1: S``) when it does not use them. The
new bounds are clamped to the box (``min``/``max``) unless the enclosing loops' ranges prove
them inside it, so an empty range gives an empty loop.
"""

from __future__ import annotations

import dataclasses

from ..analysis import interval
from ..conditions import conjunction, conjuncts
from ..dependent import is_ranged
from ..expr import Binary, BinaryOp, Const, Expr, binary, const
from ..stmt import For, ForKind, IfThenElse, PrimFunc, Stmt
from ..visitor import map_statements, walk
from .simplify import simplify_expr


def _guard(loop: For) -> tuple[list[For], IfThenElse] | None:
    """The loops perfectly nested in ``loop`` down to a guard without else, and the guard."""
    chain: list[For] = []
    body = loop.body
    while isinstance(body, For):
        chain.append(body)
        body = body.body
    if isinstance(body, IfThenElse) and body.else_body is None:
        return chain, body
    return None


def _bound(part: Expr, loop: For, inner: set) -> tuple[str, Expr] | None:
    """``("end", b)`` for ``k < b``, ``("start", b)`` for ``k >= b`` (``k`` the loop variable)."""
    if not (isinstance(part, Binary) and part.a is loop.var and part.op in (BinaryOp.LT, BinaryOp.GE)):
        return None
    if any(n is loop.var or n in inner for n in walk(part.b)):
        return None
    return ("end" if part.op is BinaryOp.LT else "start"), part.b


def _clamp(op: BinaryOp, value: Expr, limit: Expr, ranges: dict) -> Expr:
    """``op(value, limit)`` unless the ranges prove ``value`` already on the right side."""
    found, lim = interval(value, ranges), interval(limit, ranges)
    if found is not None and lim is not None and lim[0] == lim[1]:
        if (op is BinaryOp.MIN and found[1] <= lim[0]) or (op is BinaryOp.MAX and found[0] >= lim[0]):
            return value
    return binary(op, value, limit)


def _tighten(loop: For, ranges: dict) -> For:
    found = _guard(loop) if loop.kind is ForKind.SERIAL and is_ranged(loop.var) else None
    if found is None:
        return loop
    chain, guard = found
    inner = {f.var for f in chain}
    start, end, kept = loop.min, simplify_expr(binary(BinaryOp.ADD, loop.min, loop.extent)), []
    for part in conjuncts(guard.cond):
        match _bound(part, loop, inner):
            case ("end", b):
                end = _clamp(BinaryOp.MIN, b, end, ranges)
            case ("start", b):
                start = _clamp(BinaryOp.MAX, b, start, ranges)
            case _:
                kept.append(part)
    if len(kept) == len(conjuncts(guard.cond)):
        return loop
    body: Stmt = IfThenElse(conjunction(kept), guard.then_body) if kept else guard.then_body
    for f in reversed(chain):
        body = dataclasses.replace(f, body=body)
    start, end = simplify_expr(start), simplify_expr(end)
    # from 0 the extent is the end; else ``end - start`` over that very ``start``, which the
    # printer shows as ``start..end``
    zero = isinstance(start, Const) and start.value == 0
    extent = end if zero else binary(BinaryOp.SUB, end, start)
    extent = _clamp(BinaryOp.MAX, extent, const(0, extent.dtype), ranges)
    return dataclasses.replace(loop, min=start, extent=extent, body=body)


def _visit(s: Stmt, ranges: dict) -> Stmt:
    if isinstance(s, For) and isinstance(s.min, Const) and isinstance(s.extent, Const):
        ranges = {**ranges, s.var: (s.min.value, s.min.value + s.extent.value - 1)}
    inner = map_statements(s, lambda x: _visit(x, ranges))
    return _tighten(inner, ranges) if isinstance(s, For) else inner


def tighten_ranges(func: PrimFunc) -> PrimFunc:
    """``func`` with each output-dependent reduction loop running over its exact range."""
    body = _visit(func.body, {})
    return func if body is func.body else dataclasses.replace(func, body=body)
