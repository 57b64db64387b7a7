"""What the interpreter needs for the types beyond Python's numbers: conversions with
``astype``'s meaning, wrap-around of integer results, float16 rounding per operation, and the
bitwise and rounding intrinsics (see :mod:`tensorir.dtypes` and :mod:`tensorir.intrinsics`).

Python's ints are unbounded and its floats double: a result that may leave its integer type
(``+``, ``-``, ``*``, ``<<``, negation, ``~``, ``abs``) is wrapped into it, unless the loop
ranges prove it stays inside; every float16 result is rounded to half, as numpy's float16
ufuncs round each operation.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from tensorir.analysis import interval
from tensorir.dtypes import DType, convert_value
from tensorir.expr import LIBM2_FUNCS, LIBM_FUNCS, Binary, BinaryOp, Call, Expr, Func, Unary, UnaryOp

#: integer operators whose result can leave the operands' type
_WRAPPING = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.POW, BinaryOp.SHL})
_WRAPPING_UNARY = frozenset({UnaryOp.NEG, UnaryOp.BIT_NOT})
#: float operators whose float16 result is rounded to half
_ROUNDED = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.DIV, BinaryOp.FLOORDIV,
                      BinaryOp.FLOORMOD, BinaryOp.POW})


def converter(dtype: DType) -> str:
    """The name of the runtime function that converts a value to ``dtype``."""
    return f"_to_{dtype.value}"


def needs_fit(e: Expr, ranges) -> bool:
    """Whether the Python value of ``e`` must be brought back into its type after computing."""
    dtype = e.dtype
    if dtype is DType.FLOAT16:
        return (isinstance(e, Binary) and e.op in _ROUNDED) or \
            (isinstance(e, Call) and e.func not in (Func.ISNAN, Func.ISINF))
    if not dtype.is_int:
        return False
    wraps = (isinstance(e, Binary) and e.op in _WRAPPING) or \
        (isinstance(e, Unary) and e.op in _WRAPPING_UNARY) or \
        (isinstance(e, Call) and e.func in (Func.ABS, Func.TRUNCDIV))
    return wraps and interval(e, ranges) is None


def _convert(dtype: DType):
    def to(value):
        return convert_value(value, dtype)
    to.__name__ = converter(dtype)
    return to


def _f32(x):
    """``x`` rounded to the nearest float32 (overflow gives inf, as a float32 operation would)."""
    with np.errstate(over="ignore"):
        return float(np.float32(x))


def _shl(a, b, bits):
    return a << b if 0 <= b < bits else 0


def _shr(a, b, bits):
    if 0 <= b < bits:
        return a >> b
    return -1 if a < 0 else 0


def _truncdiv(a, b):
    if b == 0:
        return 0
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _truncmod(a, b):
    if b == 0:
        return 0
    return a - b * _truncdiv(a, b)


def _fmod(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return _truncmod(a, b)
    if b == 0 or a != a or b != b or a in (math.inf, -math.inf):
        return math.nan
    return math.fmod(a, b)


def _ufloordiv(a, b):
    return a // b if b else 0


def _ufloormod(a, b):
    return a % b if b else 0


def _popcount(x, bits):
    return bin(x & ((1 << bits) - 1)).count("1")


def _integral(fn):
    def rounded(x):
        if isinstance(x, int) or x != x or x in (math.inf, -math.inf):
            return x
        return math.copysign(float(fn(x)), x)  # keeps -0.0 and the sign of -0.4 -> -0.0
    return rounded


def _isnan(x):
    return x != x


def _isinf(x):
    return x in (math.inf, -math.inf)


#: struct's standard-size codes of the types reinterpret takes (tensorir.reinterpret)
_STRUCT = {"int8": "b", "uint8": "B", "int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q",
           "uint64": "Q", "float32": "f", "float64": "d"}


def _reinterpret(x, source: str, target: str):
    """The bits of ``x`` (a value of type ``source``) read as type ``target``."""
    return struct.unpack("=" + _STRUCT[target], struct.pack("=" + _STRUCT[source], x))[0]


NAMESPACE = {
    "_reinterpret": _reinterpret,
    **{converter(d): _convert(d) for d in DType},
    "_f32": _f32, "_shl": _shl, "_shr": _shr, "_truncdiv": _truncdiv, "_truncmod": _truncmod, "_fmod": _fmod,
    "_popcount": _popcount, "_ufloordiv": _ufloordiv, "_ufloormod": _ufloormod,
    "_floor": _integral(math.floor), "_ceil": _integral(math.ceil),
    "_round": _integral(round), "_erf": math.erf, "_isnan": _isnan, "_isinf": _isinf,
}

def _libm(name: str):
    """The C library's ``name`` on a Python float, with numpy's results where ``math`` raises
    (NaN outside the domain, +-inf on overflow)."""
    exact = {"exp10": lambda x: 10.0 ** x}.get(name) or getattr(math, name)
    fallback = getattr(np, {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh",
                            "acosh": "arccosh", "atanh": "arctanh"}.get(name, name), None)

    def call(x):
        try:
            return exact(x)
        except (ValueError, OverflowError):
            with np.errstate(all="ignore"):
                return float(fallback(x) if fallback else 10.0 ** np.float64(x))

    return call


NAMESPACE.update({f"_{func.value}": _libm(func.value) for func in LIBM_FUNCS})


def _ldexp(x, n):
    try:
        return math.ldexp(x, n)
    except OverflowError:
        return math.copysign(math.inf, x)


def _nextafter32(x, y):
    """``nextafter`` in float32 (the double one would step by a double's ulp)."""
    return float(np.nextafter(np.float32(x), np.float32(y)))


def _clz(x, bits):
    return bits - (x & ((1 << bits) - 1)).bit_length()


NAMESPACE.update({"_atan2": math.atan2, "_hypot": math.hypot, "_copysign": math.copysign,
                  "_nextafter": math.nextafter, "_nextafter32": _nextafter32, "_ldexp": _ldexp, "_clz": _clz})
NAMESPACE["_trunc"] = _integral(math.trunc)

#: calls the interpreter writes as ``name(args)``
FUNCS = {Func.FMOD: "_fmod", Func.TRUNCDIV: "_truncdiv", Func.TRUNCMOD: "_truncmod",
         Func.FLOOR: "_floor", Func.CEIL: "_ceil", Func.ROUND: "_round", Func.ERF: "_erf",
         Func.ISNAN: "_isnan", Func.ISINF: "_isinf", Func.TRUNC: "_trunc",
         **{func: f"_{func.value}" for func in LIBM_FUNCS | LIBM2_FUNCS}, Func.LDEXP: "_ldexp"}
