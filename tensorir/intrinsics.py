"""Bitwise operators and the integer and rounding intrinsics (``ns.fmod``, ``ns.truncdiv``,
``ns.popcount``, ``ns.round``, ``ns.erf``, ``ns.isnan``, ...), with numpy's meaning.

Their types and edge cases are in :mod:`tensorir.dtypes`: operands promote like arithmetic;
``fmod`` takes the sign of the dividend (C's ``fmod``, numpy's ``np.fmod``), and of integers by
0 it is 0; ``truncdiv``/``truncmod`` are C's integer ``/`` and ``%`` (TVM's), 0 for a zero
divisor, ``INT_MIN`` truncdiv ``-1`` wraps; ``popcount`` counts the one bits of the two's
complement value in the operand's own type (TVM's and LLVM's ``ctpop``; numpy's
``bitwise_count`` counts those of the absolute value); ``floor``, ``ceil`` and ``round``
(half to even, ``np.round``) keep a float's type and return an integer unchanged, as TVM does;
``erf`` computes in float (integers become ``float32``); ``isnan``/``isinf`` give ``bool``
(always false for integers).
"""

from __future__ import annotations

import numpy as np

from .dtypes import DEFAULT_FLOAT, INDEX_TYPES, DType, as_dtype, of_python_constant
from .errors import DefinitionError
from .expr import (
    FLOAT_FUNCS,
    LOGICAL,
    BinaryOp,
    Call,
    Cast,
    Expr,
    Func,
    IterVar,
    Unary,
    UnaryOp,
    as_expr,
    binary,
    cast,
    promote_pair,
    unary,
)
from .expr import (
    const as make_const,
)

_SYMBOL = {BinaryOp.AND: "&", BinaryOp.OR: "|", BinaryOp.XOR: "^", BinaryOp.SHL: "<<",
           BinaryOp.SHR: ">>"}
_INTEGER = {BinaryOp.AND: BinaryOp.BIT_AND, BinaryOp.OR: BinaryOp.BIT_OR, BinaryOp.XOR: BinaryOp.XOR,
            BinaryOp.SHL: BinaryOp.SHL, BinaryOp.SHR: BinaryOp.SHR}


def bitwise(op: BinaryOp, a: object, b: object) -> Expr:
    """``a & b``, ``a | b``, ``a ^ b``, ``a << b``, ``a >> b``: logical on two bools, bitwise on
    integers (a bool beside an integer promotes to it). A Python int keeps the other operand's
    type, as TVM's bit operators do."""
    ea, eb = promote_pair(a, b, weak=True)
    if ea.dtype.is_float:
        if op in LOGICAL:  # the message that `&`/`|` of non-bools always gave
            binary(op, ea, eb)
        raise DefinitionError(
            f"`{_SYMBOL[op]}` needs integer or bool operands, got {ea} and {eb} of type "
            f"{ea.dtype}; cast first, e.g. x.astype('int32'), or compare, e.g. (x > 0)")
    if ea.dtype is DType.BOOL:
        if op in LOGICAL:
            return binary(op, ea, eb)
        if op is BinaryOp.XOR:
            return _binary(BinaryOp.XOR, ea, eb, DType.BOOL)
        ea, eb = cast(ea, DType.INT32), cast(eb, DType.INT32)
    return _binary(_INTEGER[op], ea, eb, ea.dtype)


def _binary(op: BinaryOp, a: Expr, b: Expr, dtype: DType) -> Expr:
    from .expr import Binary

    return Binary(op, a, b, dtype)


def invert(a: object) -> Expr:
    """``~a``: logical not of a bool, bitwise not of an integer."""
    ea = as_expr(a)
    if ea.dtype is DType.BOOL:
        return unary(UnaryOp.NOT, ea)
    if ea.dtype.is_float:
        return unary(UnaryOp.NOT, ea)  # refused: logical not needs a bool (compare first)
    return Unary(UnaryOp.BIT_NOT, ea, ea.dtype)


def bitwise_and(x, y) -> Expr:
    """``x & y`` (numpy's ``bitwise_and``; logical on bools)."""
    return bitwise(BinaryOp.AND, x, y)


def bitwise_or(x, y) -> Expr:
    """``x | y`` (numpy's ``bitwise_or``; logical on bools)."""
    return bitwise(BinaryOp.OR, x, y)


def bitwise_xor(x, y) -> Expr:
    """``x ^ y`` (numpy's ``bitwise_xor``)."""
    return bitwise(BinaryOp.XOR, x, y)


def bitwise_not(x) -> Expr:
    """``~x`` (numpy's ``invert``)."""
    return invert(x)


def left_shift(x, y) -> Expr:
    """``x << y``; a count outside ``0..bits-1`` gives 0 (numpy's ``left_shift``)."""
    return bitwise(BinaryOp.SHL, x, y)


def right_shift(x, y) -> Expr:
    """``x >> y``: arithmetic on signed, logical on unsigned types; a count outside
    ``0..bits-1`` gives 0, or -1 for a negative signed ``x`` (numpy's ``right_shift``)."""
    return bitwise(BinaryOp.SHR, x, y)


def _pair_call(func: Func, x, y, integers_only: bool) -> Expr:
    ea, eb = promote_pair(x, y)
    if ea.dtype is DType.BOOL:
        ea, eb = cast(ea, DType.INT32), cast(eb, DType.INT32)
    if integers_only and ea.dtype.is_float:
        raise DefinitionError(
            f"{func.value}({ea}, {eb}): the operands have type {ea.dtype}; {func.value} is "
            f"integer division (C's `/` and `%`); for floats use ns.fmod(x, y) or x / y")
    return Call(func, (ea, eb), ea.dtype)


def fmod(x, y) -> Expr:
    """The remainder of ``x / y`` with the sign of ``x`` (C's ``fmod``, ``np.fmod``)."""
    return _pair_call(Func.FMOD, x, y, integers_only=False)


def truncdiv(x, y) -> Expr:
    """Integer division rounding toward zero (C's ``/``; TVM's ``truncdiv``)."""
    return _pair_call(Func.TRUNCDIV, x, y, integers_only=True)


def truncmod(x, y) -> Expr:
    """The remainder of :func:`truncdiv`, with the sign of ``x`` (C's ``%``)."""
    return _pair_call(Func.TRUNCMOD, x, y, integers_only=True)


def _unary_call(func: Func, x) -> Expr:
    expr = as_expr(x)
    if expr.dtype is DType.BOOL:
        expr = cast(expr, DType.INT32)
    if func in FLOAT_FUNCS and not expr.dtype.is_float:
        expr = cast(expr, DEFAULT_FLOAT)
    return Call(func, (expr,), expr.dtype)


def popcount(x) -> Expr:
    """The number of one bits of integer ``x`` (two's complement, in ``x``'s own type)."""
    expr = as_expr(x)
    if not expr.dtype.is_int:
        raise DefinitionError(
            f"popcount({expr}): the operand has type {expr.dtype}; popcount counts the bits of "
            "an integer (cast first, e.g. x.astype('int32'))")
    return Call(Func.POPCOUNT, (expr,), expr.dtype)


def _rounding(func: Func, x) -> Expr:
    expr = as_expr(x)
    if not expr.dtype.is_float:
        return cast(expr, DType.INT32) if expr.dtype is DType.BOOL else expr
    return Call(func, (expr,), expr.dtype)


def floor(x) -> Expr:
    """The largest integral value not above ``x`` (of ``x``'s float type)."""
    return _rounding(Func.FLOOR, x)


def ceil(x) -> Expr:
    """The smallest integral value not below ``x`` (of ``x``'s float type)."""
    return _rounding(Func.CEIL, x)


def round(x) -> Expr:  # noqa: A001 - the public name mirrors numpy's
    """``x`` rounded to the nearest integral value, halves to even (``np.round``)."""
    return _rounding(Func.ROUND, x)


def erf(x) -> Expr:
    """The error function (integers are converted to ``float32`` first)."""
    return _unary_call(Func.ERF, x)


def _classify(func: Func, x) -> Expr:
    expr = as_expr(x)
    if not expr.dtype.is_float:
        return make_const(False, DType.BOOL)
    return Call(func, (expr,), DType.BOOL)


def isnan(x) -> Expr:
    """Whether ``x`` is NaN (``bool``; false for integers)."""
    return _classify(Func.ISNAN, x)


def isinf(x) -> Expr:
    """Whether ``x`` is +-inf (``bool``; false for integers)."""
    return _classify(Func.ISINF, x)


def const(value, dtype=None) -> Expr:
    """The constant ``value`` of type ``dtype`` (TVM's ``tir.const``): ``ns.const(300, "int64")``.

    Without a dtype, ``int32`` for an int (``int64`` past its range), ``float32`` for a float and
    ``bool`` for a bool. The value is converted as ``astype`` would (see :mod:`tensorir.dtypes`).
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (Expr, IterVar)) or not isinstance(value, (bool, int, float)):
        raise DefinitionError(f"const({value!r}, {dtype}): the value must be a Python number")
    dt = of_python_constant(value, None) if dtype is None else as_dtype(dtype, f"const({value!r}, ...): dtype")
    return make_const(value, dt)


def as_index(expr: Expr) -> Expr:
    """A subscript in an index type: an integer of another type is converted, value for value,
    to ``int32`` (8- and 16-bit ones) or ``int64`` (``uint32``, ``uint64``: a ``uint64`` past
    ``2**63`` becomes negative, which the access checks refuse)."""
    if expr.dtype in INDEX_TYPES or not expr.dtype.is_int:
        return expr
    return Cast(expr, DType.INT32 if expr.dtype.bits < 32 else DType.INT64)


def trunc(x) -> Expr:
    """``x`` rounded toward zero to an integral value (of ``x``'s float type)."""
    return _rounding(Func.TRUNC, x)


def _libm(func: Func):
    def call(x) -> Expr:
        return _unary_call(func, x)

    call.__name__ = call.__qualname__ = func.value
    call.__doc__ = (f"``{func.value}(x)`` of the C math library, elementwise, with numpy's meaning "
                    "(integers are converted to ``float32`` first; NaN outside the domain).")
    return call


sin = _libm(Func.SIN)
cos = _libm(Func.COS)
tan = _libm(Func.TAN)
asin = _libm(Func.ASIN)
acos = _libm(Func.ACOS)
atan = _libm(Func.ATAN)
sinh = _libm(Func.SINH)
cosh = _libm(Func.COSH)
asinh = _libm(Func.ASINH)
acosh = _libm(Func.ACOSH)
atanh = _libm(Func.ATANH)
log2 = _libm(Func.LOG2)
log10 = _libm(Func.LOG10)
log1p = _libm(Func.LOG1P)
exp2 = _libm(Func.EXP2)
exp10 = _libm(Func.EXP10)
expm1 = _libm(Func.EXPM1)
cbrt = _libm(Func.CBRT)


def rsqrt(x) -> Expr:
    """``1 / sqrt(x)``."""
    return 1 / _unary_call(Func.SQRT, x)


def isfinite(x) -> Expr:
    """Whether ``x`` is neither NaN nor +-inf (``bool``; true for integers)."""
    return ~(isnan(x) | isinf(x))


__all__ = [
    "as_index", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "ceil",
    "const", "erf", "floor", "fmod", "isinf", "isnan", "left_shift", "popcount", "right_shift",
    "round", "truncdiv", "truncmod",
]
#: the C math library's one-operand functions, and the ones built from others
LIBM = ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "log2",
        "log10", "log1p", "exp2", "exp10", "expm1", "cbrt")
__all__ += [*LIBM, "isfinite", "rsqrt", "trunc"]
