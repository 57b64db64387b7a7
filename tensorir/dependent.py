"""Reduction ranges that depend on an output index (TVM's ``reduce_axis((0, i + 1))``).

Inside ``ns.compute((n,), lambda i: ...)`` a reduce axis may be created with bounds that use the
compute's own indices, as TVM allows::

    def cumsum(i):
        k = ns.reduce_axis((0, i + 1), "k")
        return ns.sum(A[k], axis=k)

Such an axis is a :class:`RangedIterVar`: its loop runs over the bounding box of the range over
every output point (``0..n`` here), and every reduction over it combines only the points of the
exact range: its bounds become part of the reduction's ``where`` predicate (``k < i + 1``). The
meaning is therefore exact under every schedule (reorder, split, rfactor move the reduction loop
freely), bounds proofs see the exact non-rectangular domain through the predicate, and every
backend runs it without special support. The box of a bound is found by interval arithmetic over
the output axes' ranges; bounds are affine in the indices (``+``, ``-``, ``*`` by a constant,
``//`` by a positive constant, ``min``/``max``).
"""

from __future__ import annotations

import contextlib
import contextvars
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .dtypes import DType
from .errors import DefinitionError
from .expr import Binary, BinaryOp, Cast, Const, Expr, IterKind, IterVar, Unary, UnaryOp, Var, binary
from .visitor import walk

#: the output axes of the compute whose ``fcompute`` is running (innermost compute last)
_DEFINING: contextvars.ContextVar[tuple[IterVar, ...]] = contextvars.ContextVar("nestor_defining", default=())


#: the variables of every RangedIterVar: the loops that tighten_ranges may narrow
_RANGED: weakref.WeakSet = weakref.WeakSet()


def is_ranged(var: Var) -> bool:
    """Whether ``var`` is the variable of a reduce axis with an output-dependent range."""
    return var in _RANGED


def in_definition() -> bool:
    """Whether a compute's ``fcompute`` is running."""
    return bool(_DEFINING.get())


@contextlib.contextmanager
def defining(axis: Sequence[IterVar]) -> Iterator[None]:
    """While ``fcompute`` runs: reduce axes may use these output axes in their bounds."""
    token = _DEFINING.set(_DEFINING.get() + tuple(axis))
    try:
        yield
    finally:
        _DEFINING.reset(token)


@dataclass(frozen=True, eq=False, repr=False)
class RangedIterVar(IterVar):
    """A reduce axis over ``lower..upper`` (expressions of output indices) inside its box
    ``min..min + extent``; reductions over it add ``lower <= k < upper`` to their predicate."""

    lower: Expr | int = 0
    upper: Expr | int = 0

    def __repr__(self) -> str:
        return f"reduce_axis({self.name}, {self.lower}..{self.upper})"

    def range_condition(self) -> Expr | None:
        """``lower <= k < upper`` less the parts the box already ensures (None: nothing left)."""
        parts = []
        if not (isinstance(self.lower, int) and self.lower == self.min):
            parts.append(binary(BinaryOp.GE, self.var, self.lower))
        if not (isinstance(self.upper, int) and self.upper == self.min + self.extent):
            parts.append(binary(BinaryOp.LT, self.var, self.upper))
        cond = None
        for part in parts:
            cond = part if cond is None else binary(BinaryOp.AND, cond, part)
        return cond


def loose_vars(bound: object) -> list[Var]:
    """The variables of ``bound`` that are neither size variables nor constants."""
    from .symbolic import ShapeVar

    if isinstance(bound, IterVar):
        bound = bound.var
    if not isinstance(bound, Expr):
        return []
    return [n for n in walk(bound) if isinstance(n, Var) and not isinstance(n, ShapeVar)]


def dependent_reduce_axis(name: str, lo: object, hi: object) -> IterVar:
    """A reduce axis whose bounds use indices of the compute being defined."""
    from .symbolic import as_extent, fold, to_expr

    who = f"reduce_axis {name}"
    ranges = {iv.var: iv for iv in _DEFINING.get()}
    lo, hi = (b.var if isinstance(b, IterVar) else b for b in (lo, hi))
    for what, bound in (("lower bound", lo), ("upper bound", hi)):
        for var in loose_vars(bound):
            if var not in ranges:
                raise DefinitionError(
                    f"{who}: the {what} {bound} uses {var.name}, which is neither a size variable nor "
                    "an index of the compute being defined (a range may not use another reduce axis "
                    "or another compute's index); create the reduce axis inside the compute's lambda "
                    "(lambda i: ns.sum(..., axis=ns.reduce_axis((0, i + 1))))")
        if isinstance(bound, Expr) and (not bound.dtype.is_int or bound.dtype is DType.BOOL):
            raise DefinitionError(f"{who}: the {what} {bound} has type {bound.dtype}; bounds are integers")
    from .passes.simplify import simplify_expr

    box_lo = as_extent(lo, who, "lower bound") if not loose_vars(lo) else fold(
        simplify_expr(_interval(who, lo, ranges)[0]))
    box_hi = to_expr(as_extent(hi, who, "upper bound")) if not loose_vars(hi) else simplify_expr(
        _interval(who, hi, ranges)[1])
    box_hi = fold(box_hi)
    if not isinstance(box_lo, int):
        raise DefinitionError(
            f"{who}: the lower bound {lo} has no constant least value over the output (it is "
            f"{box_lo}); start the range at an int and shift the index instead")
    extent = fold(to_expr(box_hi) - box_lo) if box_lo else box_hi
    if isinstance(extent, int) and extent <= 0:
        raise DefinitionError(
            f"{who}: the range {lo}..{hi} is empty at every output point; it needs hi > lo somewhere")
    lower = fold(lo) if isinstance(lo, Expr) else lo
    upper = fold(hi) if isinstance(hi, Expr) else hi
    extent = extent if isinstance(extent, int) else as_extent(extent, who)
    axis = RangedIterVar(Var(name), box_lo, extent, IterKind.REDUCE, lower=lower, upper=upper)
    _RANGED.add(axis.var)
    return axis


def _interval(who: str, expr: Expr, ranges: dict) -> tuple[Expr, Expr]:
    """The least and the greatest value of ``expr`` over the output axes' ranges."""
    from .symbolic import ShapeVar, to_expr

    match expr:
        case Var() if expr in ranges:
            iv = ranges[expr]
            return to_expr(iv.min), to_expr(iv.min) + to_expr(iv.extent) - 1
        case ShapeVar() | Const():
            return expr, expr
        case Cast(value=value) if value.dtype.is_int:
            return _interval(who, value, ranges)
        case Unary(op=UnaryOp.NEG, a=a):
            low, high = _interval(who, a, ranges)
            return -high, -low
        case Binary(op=BinaryOp.ADD, a=a, b=b):
            (al, ah), (bl, bh) = _interval(who, a, ranges), _interval(who, b, ranges)
            return al + bl, ah + bh
        case Binary(op=BinaryOp.SUB, a=a, b=b):
            (al, ah), (bl, bh) = _interval(who, a, ranges), _interval(who, b, ranges)
            return al - bh, ah - bl
        case Binary(op=BinaryOp.MIN | BinaryOp.MAX as op, a=a, b=b):
            (al, ah), (bl, bh) = _interval(who, a, ranges), _interval(who, b, ranges)
            return binary(op, al, bl), binary(op, ah, bh)
        case Binary(op=BinaryOp.MUL | BinaryOp.FLOORDIV as op, a=a, b=Const(value=c)) if op is BinaryOp.MUL or c > 0:
            low, high = _interval(who, a, ranges)
            low, high = binary(op, low, expr.b), binary(op, high, expr.b)
            return (low, high) if c >= 0 else (high, low)
        case Binary(op=BinaryOp.MUL, a=Const(), b=b):
            return _interval(who, binary(BinaryOp.MUL, b, expr.a), ranges)
    raise DefinitionError(
        f"{who}: cannot bound {expr} over the output indices; a bound that uses an index must be "
        "affine in it (+, -, * by a constant, // by a positive constant, min, max)")


def with_ranges(axes: Sequence[IterVar], cond: Expr | None) -> Expr | None:
    """``cond`` (the user's ``where=``) with the exact ranges of dependent axes before it."""
    inside = {iv.var for iv in _DEFINING.get()}
    for iv in reversed(axes):
        if not isinstance(iv, RangedIterVar):
            continue
        stray = [v for bound in (iv.lower, iv.upper) for v in loose_vars(bound) if v not in inside]
        if stray:
            raise DefinitionError(
                f"reduce over {iv.name}: its range {iv.lower}..{iv.upper} uses {stray[0].name}, an index "
                "of another compute; create the reduce axis again inside this compute's lambda")
        if (part := iv.range_condition()) is not None:
            cond = part if cond is None else binary(BinaryOp.AND, part, cond)
    return cond
