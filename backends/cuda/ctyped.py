"""C (CUDA) printing of the types beyond the first release's (see :mod:`tensorir.dtypes`).

float16 is stored as ``__half`` (``cuda_fp16.h``) and every float16 operation is printed as
the float32 operation on its converted operands, rounded back with ``__float2half_rn``: numpy's
result, and what the GPU's half units give for ``+ - *``. Integers narrower than ``int`` are
promoted by C, so an operation that can leave the type is computed in ``unsigned int`` (which
wraps, where a signed overflow would be undefined) and converted back. Unsigned types are C's
unsigned types, so division, comparison and ``>>`` use unsigned instructions. Shifts, integer
division and float-to-integer conversions go through helpers defined for every operand.
"""

from __future__ import annotations

import math

from tensorir.dtypes import DType
from tensorir.expr import Binary, BinaryOp, Call, Cast, Const, Expr, Func, Unary, UnaryOp

C_TYPES_NEW = {DType.INT8: "signed char", DType.INT16: "short", DType.UINT8: "unsigned char",
               DType.UINT16: "unsigned short", DType.UINT32: "unsigned int",
               DType.UINT64: "unsigned long long", DType.FLOAT16: "__half"}

#: integer operators whose C result (in int) can leave a narrow type
_WRAPPING = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.POW})
_HALF_ARITH = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.DIV, BinaryOp.FLOORDIV,
                         BinaryOp.FLOORMOD, BinaryOp.MAX, BinaryOp.MIN, BinaryOp.POW})

HELPERS = {
    "nestor_fp16": "#include <cuda_fp16.h>",
    # a count outside 0..bits-1 gives 0 (-1 for a negative signed value shifted right): numpy's
    "nestor_shl": """\
template <typename T> __device__ __forceinline__ T nestor_shl(T a, T b) {
  return (unsigned long long)b < sizeof(T) * 8 ? (T)((unsigned long long)a << (unsigned long long)b) : (T)0;
}""",
    "nestor_shr": """\
template <typename T> __device__ __forceinline__ T nestor_shr(T a, T b) {
  if ((unsigned long long)b < sizeof(T) * 8) return (T)(a >> b);
  return (T)-1 > (T)0 ? (T)0 : (T)(a < (T)0 ? -1 : 0);  // unsigned: 0; signed: the sign
}""",
    "nestor_ufloordiv": """\
template <typename T> __device__ __forceinline__ T nestor_ufloordiv(T a, T b) { return b == 0 ? (T)0 : (T)(a / b); }""",
    "nestor_ufloormod": """\
template <typename T> __device__ __forceinline__ T nestor_ufloormod(T a, T b) { return b == 0 ? (T)0 : (T)(a % b); }""",
    # C's / and %, 0 for a zero divisor, INT_MIN / -1 wraps (numpy's fmod and TVM's truncdiv)
    "nestor_truncdiv": """\
template <typename T> __device__ __forceinline__ T nestor_truncdiv(T a, T b) {
  if (b == 0) return 0;
  if ((T)0 > (T)-1 && b == (T)-1) return (T)(0ULL - (unsigned long long)a);
  return (T)(a / b);
}""",
    "nestor_truncmod": """\
template <typename T> __device__ __forceinline__ T nestor_truncmod(T a, T b) {
  if (b == 0 || ((T)0 > (T)-1 && b == (T)-1)) return 0;
  return (T)(a % b);
}""",
    # float to integer as tensorir.dtypes defines it: NaN is 0, int and long long saturate (the
    # GPU's conversions do), narrower and unsigned types wrap the value saturated to 64 bits
    "nestor_f2i": """\
template <typename T> __device__ __forceinline__ T nestor_f2i(double x) {
  if (x != x) return (T)0;
  if (sizeof(T) == 8 && (T)-1 > (T)0 && x >= 0) return (T)__double2ull_rz(x);  // uint64
  return (T)__double2ll_rz(x);
}""",
    "nestor_reinterpret": """\
template <typename To, typename From> __device__ __forceinline__ To nestor_reinterpret(From x) {
  To y;
  memcpy(&y, &x, sizeof(To));
  return y;
}""",
    "nestor_popcount": """\
template <typename T> __device__ __forceinline__ T nestor_popcount(T x) {
  unsigned long long bits = (unsigned long long)x;
  if (sizeof(T) < 8) bits &= (1ULL << (sizeof(T) * 8)) - 1ULL;
  return (T)__popcll(bits);
}""",
}


def is_new(dtype: DType) -> bool:
    return dtype in C_TYPES_NEW


def float_view(e: Expr) -> Expr | None:
    """The float32 computation a float16 node prints as (None where ``e`` is not one): its
    operands converted to float, its result rounded back to half (comparisons give bool)."""
    match e:
        case Binary(op=op, a=a, b=b) if a.dtype is DType.FLOAT16:
            wide = Binary(op, Cast(a, DType.FLOAT32), Cast(b, DType.FLOAT32),
                          DType.FLOAT32 if op in _HALF_ARITH else e.dtype)
            return Cast(wide, DType.FLOAT16) if op in _HALF_ARITH else wide
        case Unary(op=UnaryOp.NEG, a=a) if a.dtype is DType.FLOAT16:
            return Cast(Unary(UnaryOp.NEG, Cast(a, DType.FLOAT32), DType.FLOAT32), DType.FLOAT16)
        case Call(func=func, args=args) if args and args[0].dtype is DType.FLOAT16:
            wide = Call(func, tuple(Cast(x, DType.FLOAT32) for x in args),
                        DType.BOOL if e.dtype is DType.BOOL else DType.FLOAT32)
            return wide if e.dtype is DType.BOOL else Cast(wide, DType.FLOAT16)
    return None


def narrow_wraps(e: Expr) -> bool:
    """Whether C's int result of ``e`` must be converted back into its narrow type."""
    if not e.dtype.is_int or e.dtype.bits >= 32:
        return False
    return (isinstance(e, Binary) and e.op in _WRAPPING) or \
        (isinstance(e, Unary) and e.op in (UnaryOp.NEG, UnaryOp.BIT_NOT)) or \
        (isinstance(e, Call) and e.func in (Func.ABS, Func.POPCOUNT))


def const_text(node: Const, float_text) -> str | None:
    """C literals of the new types (None for the others)."""
    dtype, value = node.dtype, node.value
    if dtype is DType.FLOAT16:
        return f"__float2half_rn({float_text(Const(value, DType.FLOAT32))})"
    if dtype in (DType.UINT32, DType.UINT64):
        return f"{value}ULL" if dtype is DType.UINT64 else f"{value}u"
    if dtype in (DType.INT8, DType.INT16, DType.UINT8, DType.UINT16):
        return f"(({_c(dtype)}){value})"  # typed, so that helper templates deduce one type
    return None


def cast_text(source: DType, target: DType, text: str) -> str | None:
    """A conversion involving a new type, of the already printed operand ``text``; None for
    the others."""
    if source is DType.FLOAT16:
        text, source = f"__half2float({text})", DType.FLOAT32
        if target is DType.FLOAT32:
            return text
    if target is DType.FLOAT16:
        if source is DType.FLOAT64:
            return f"__double2half({text})"
        return f"__float2half_rn((float)({text}))"
    if target.is_int and source.is_float and is_new(target):
        return f"nestor_f2i<{_c(target)}>((double)({text}))"
    if is_new(target) or is_new(source):
        return f"({_c(target)})({text})"
    return None


def _c(dtype: DType) -> str:
    from .cstyle import C_TYPES

    return C_TYPES[dtype]


def float_literal(value: float) -> bool:
    return not math.isfinite(value)
