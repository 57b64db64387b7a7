"""Fold constants and drop arithmetic identities (``x * 1``, ``x + 0``) from index and value expressions.

The canonical linear form of index expressions it rewrites to is :func:`tensorir.analysis.canonical_index`.
"""

from __future__ import annotations

import math
import operator

from ..analysis import Ranges, canonical_index, split_divmod
from ..dtypes import INDEX_TYPES
from ..expr import Binary, BinaryOp, Cast, Const, Expr, Select, Unary, UnaryOp, const
from ..stmt import For, ForKind, IfThenElse, PrimFunc, Stmt, seq
from ..visitor import Mutator

__all__ = ["Simplifier", "canonical_index", "simplify", "simplify_expr"]


def _floordiv(a, b):
    return a // b if isinstance(a, int) else math.floor(a / b)


_FOLD = {
    BinaryOp.ADD: operator.add, BinaryOp.SUB: operator.sub, BinaryOp.MUL: operator.mul,
    BinaryOp.MAX: max, BinaryOp.MIN: min,
    BinaryOp.EQ: operator.eq, BinaryOp.NE: operator.ne, BinaryOp.LT: operator.lt,
    BinaryOp.LE: operator.le, BinaryOp.GT: operator.gt, BinaryOp.GE: operator.ge,
    BinaryOp.AND: lambda a, b: a and b, BinaryOp.OR: lambda a, b: a or b,
}
_LINEAR_OPS = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL})
_INT_FOLD = {BinaryOp.FLOORDIV: operator.floordiv, BinaryOp.FLOORMOD: operator.mod}


def _is(e: Expr, value) -> bool:
    return isinstance(e, Const) and e.value == value and not isinstance(e.value, bool)


class Simplifier(Mutator):
    """Folds constants; with the ranges of enclosing loops, splits floor division and modulo."""

    def __init__(self, ranges: Ranges | None = None):
        super().__init__()
        self.ranges: Ranges = dict(ranges or {})

    def rewrite(self, node):
        if isinstance(node, For) and isinstance(node.min, Const) and isinstance(node.extent, Const):
            self.ranges[node.var] = (node.min.value, node.min.value + node.extent.value - 1)
        if isinstance(node, Binary):
            folded = _simplify_binary(self.generic(node))
            if isinstance(folded, Binary) and folded.op in (BinaryOp.FLOORDIV, BinaryOp.FLOORMOD) \
                    and folded.dtype in INDEX_TYPES:
                split = split_divmod(folded, self.ranges)
                if split is not None:
                    return split
            if isinstance(folded, Binary) and folded.op in _LINEAR_OPS and folded.dtype in INDEX_TYPES:
                return canonical_index(folded)
            return folded
        if isinstance(node, (Unary, Cast, Select)):
            return _simplify_other(self.generic(node))
        if isinstance(node, (For, IfThenElse)):
            return _simplify_stmt(self.generic(node), self.ranges)
        return None


def _simplify_binary(node: Expr) -> Expr:
    if not isinstance(node, Binary):
        return node
    op, a, b = node.op, node.a, node.b
    if isinstance(a, Const) and isinstance(b, Const):
        if op in _FOLD:
            return const(_FOLD[op](a.value, b.value), node.dtype)
        if op in _INT_FOLD and a.dtype.is_int and b.value != 0:
            return const(_INT_FOLD[op](a.value, b.value), node.dtype)
    if node.dtype.is_int and node.dtype not in INDEX_TYPES:
        return node  # narrow and unsigned integers wrap: only constants fold
    if not node.dtype.is_int:
        # float identities only where exact: x * 1, x / 1
        if op in (BinaryOp.MUL, BinaryOp.DIV) and _is(b, 1):
            return a
        if op is BinaryOp.MUL and _is(a, 1):
            return b
        return node
    if op is BinaryOp.ADD:
        if _is(b, 0):
            return a
        if _is(a, 0):
            return b
        if isinstance(b, Const) and b.value < 0:
            return Binary(BinaryOp.SUB, a, const(-b.value, b.dtype), node.dtype)
        # (x + c1) + c2 -> x + (c1 + c2)
        if isinstance(b, Const) and isinstance(a, Binary) and isinstance(a.b, Const) and \
                a.op in (BinaryOp.ADD, BinaryOp.SUB):
            shift = a.b.value if a.op is BinaryOp.ADD else -a.b.value
            return _simplify_binary(Binary(BinaryOp.ADD, a.a, const(shift + b.value, b.dtype), node.dtype))
    if op is BinaryOp.SUB:
        if _is(b, 0):
            return a
        if isinstance(b, Const):
            return _simplify_binary(Binary(BinaryOp.ADD, a, const(-b.value, b.dtype), node.dtype))
    if op is BinaryOp.MUL:
        if _is(b, 1):
            return a
        if _is(a, 1):
            return b
        if _is(a, 0) or _is(b, 0):
            return const(0, node.dtype)
    if op is BinaryOp.FLOORDIV and _is(b, 1):
        return a
    if op is BinaryOp.FLOORMOD and _is(b, 1):
        return const(0, node.dtype)
    return node


def _simplify_other(node: Expr) -> Expr:
    match node:
        case Unary(op=UnaryOp.NEG, a=Const(value=v)) if not isinstance(v, bool):
            return const(-v, node.dtype)
        case Unary(op=UnaryOp.NOT, a=Const(value=v)):
            return const(not v, node.dtype)
        case Cast(value=Const(value=v)):
            return const(v, node.dtype)
        case Select(cond=Const(value=v), true_value=t, false_value=f):
            return t if v else f
    return node


def _simplify_stmt(node: Stmt, ranges: Ranges) -> Stmt | None:
    match node:
        case IfThenElse(cond=Const(value=True), then_body=body):
            return body
        case IfThenElse(cond=Const(value=False), else_body=body):
            return body if body is not None else seq()
        case For(extent=Const(value=0)):
            return seq()
        case For(var=var, min=lo, extent=Const(value=1), kind=kind, body=body) if kind is not ForKind.THREAD_BINDING:
            # a loop of one iteration is its body with the variable fixed
            from ..visitor import substitute

            return Simplifier(ranges)(substitute(body, {var: lo}))
    return node


def simplify(func: PrimFunc) -> PrimFunc:
    """``func`` with constant sub-expressions folded and identities removed."""
    return Simplifier()(func)


def simplify_expr(expr: Expr) -> Expr:
    return Simplifier().visit(expr)
