"""TVM's two-operand math intrinsics and ``clz``: ``atan2``, ``hypot``, ``copysign``,
``nextafter`` (the C library's, in the operands' float type), ``ldexp(x, n)`` and ``clz(x)``,
each with numpy's meaning (``np.arctan2``, ``np.hypot``, ``np.copysign``, ``np.nextafter``,
``np.ldexp``; ``clz`` counts the leading zero bits of a 32- or 64-bit integer, 32 or 64 for 0)."""

from __future__ import annotations

from .dtypes import DEFAULT_FLOAT, DType
from .errors import DefinitionError
from .expr import BinaryOp, Call, Expr, Func, as_expr, binary, cast, promote_pair


def _float_pair(func: Func, x, y) -> Expr:
    a, b = promote_pair(x, y)
    if not a.dtype.is_float:  # integers and bools are converted, as for the one-operand functions
        a, b = cast(a, DEFAULT_FLOAT), cast(b, DEFAULT_FLOAT)
    return Call(func, (a, b), a.dtype)


def atan2(y, x) -> Expr:
    """The angle of the point ``(x, y)``, in ``-pi..pi`` (``np.arctan2(y, x)``)."""
    return _float_pair(Func.ATAN2, y, x)


def hypot(x, y) -> Expr:
    """``sqrt(x**2 + y**2)`` without overflow or underflow in between (``np.hypot``)."""
    return _float_pair(Func.HYPOT, x, y)


def copysign(x, y) -> Expr:
    """The magnitude of ``x`` with the sign of ``y`` (``np.copysign``)."""
    return _float_pair(Func.COPYSIGN, x, y)


def nextafter(x, y) -> Expr:
    """The next value of ``x``'s float type after ``x`` toward ``y`` (``np.nextafter``);
    float32 or float64 (a float16 step is refused: backends compute half in float32)."""
    call = _float_pair(Func.NEXTAFTER, x, y)
    if call.dtype is DType.FLOAT16:
        raise DefinitionError(f"nextafter({', '.join(map(str, call.args))}): the operands have type float16, "
                              "whose steps this function does not take; cast them to float32 first")
    return call


def ldexp(x, n) -> Expr:
    """``x * 2**n`` for a float ``x`` and an integer exponent ``n`` (``np.ldexp``): exact, and
    +-inf or 0 where the result leaves the type's range."""
    a, e = as_expr(x), as_expr(n)
    if not a.dtype.is_float:
        a = cast(a, DEFAULT_FLOAT)
    if e.dtype.is_float or e.dtype is DType.BOOL:
        raise DefinitionError(f"ldexp({a}, {e}): the exponent has type {e.dtype}; it must be an integer "
                              "(e.g. n.astype('int32'))")
    if e.dtype.bits >= 32 and e.dtype is not DType.INT32:  # past +-2**16 every float is 0 or inf already
        e = binary(BinaryOp.MIN, binary(BinaryOp.MAX, e, -_EXPONENT_LIMIT if not e.dtype.is_unsigned else 0),
                   _EXPONENT_LIMIT)
    return Call(Func.LDEXP, (a, cast(e, DType.INT32) if e.dtype is not DType.INT32 else e), a.dtype)


#: exponents of ldexp beyond this give the same result as it (every float type over- or underflows)
_EXPONENT_LIMIT = 1 << 16


def clz(x) -> Expr:
    """The number of leading zero bits of the 32- or 64-bit integer ``x`` (its bit width for 0)."""
    e = as_expr(x)
    if not e.dtype.is_int or e.dtype is DType.BOOL or e.dtype.bits not in (32, 64):
        raise DefinitionError(f"clz({e}): the operand has type {e.dtype}; clz counts the leading zeros of a "
                              "32- or 64-bit integer (cast first, e.g. x.astype('int32'))")
    return Call(Func.CLZ, (e,), e.dtype)


__all__ = ["atan2", "clz", "copysign", "hypot", "ldexp", "nextafter"]
