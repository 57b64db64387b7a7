"""Conditions known while the code is written: a select whose condition depends only on
constants and unrolled loop variables (bound to LLVM constants) emits only the side it
chooses. A template can then write a small constant table as a chain of selects over its
indices (the Winograd transforms) and pay nothing for the sides an unrolled copy never takes."""

from __future__ import annotations

import operator

from llvmlite import ir

from tensorir.dtypes import DType
from tensorir.expr import Binary, BinaryOp, Const, Expr, Unary, UnaryOp, Var

_INTEGER_OPS = {
    BinaryOp.ADD: operator.add, BinaryOp.SUB: operator.sub, BinaryOp.MUL: operator.mul,
    BinaryOp.EQ: operator.eq, BinaryOp.NE: operator.ne, BinaryOp.LT: operator.lt, BinaryOp.LE: operator.le,
    BinaryOp.GT: operator.gt, BinaryOp.GE: operator.ge,
    BinaryOp.AND: lambda a, b: bool(a) and bool(b), BinaryOp.OR: lambda a, b: bool(a) or bool(b),
    BinaryOp.FLOORDIV: lambda a, b: a // b if b else None, BinaryOp.FLOORMOD: lambda a, b: a % b if b else None,
}


def known_condition(e: Expr, values: dict) -> bool | None:
    """The truth of the bool expression ``e`` when its integer variables are all bound (in
    ``values``) to constants, else None."""
    value = _known(e, values)
    return None if value is None else bool(value)


def _known(e: Expr, values: dict) -> int | None:
    if e.dtype.is_float:
        return None
    match e:
        case Const(value=value):
            return int(value)
        case Var():
            bound = values.get(e)
            return bound.constant if isinstance(bound, ir.Constant) and isinstance(bound.constant, int) else None
        case Unary(op=UnaryOp.NOT, a=a):
            inner = _known(a, values)
            return None if inner is None else int(not inner)
        case Binary(op=op, a=a, b=b) if op in _INTEGER_OPS and not a.dtype.is_float:
            left = _known(a, values)
            if left is None:
                return None
            right = _known(b, values)
            if right is None:
                return None
            result = _INTEGER_OPS[op](left, right)
            if result is None or not _fits(int(result), e.dtype):
                return None  # left to the generated code, which wraps around as its type does
            return int(result)
    return None


def _fits(value: int, dtype: DType) -> bool:
    if dtype is DType.BOOL:
        return value in (0, 1)
    if dtype.is_unsigned:
        return 0 <= value < 1 << dtype.bits
    return -(1 << (dtype.bits - 1)) <= value < 1 << (dtype.bits - 1)
