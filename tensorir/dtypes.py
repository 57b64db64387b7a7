"""Scalar data types and the promotion rule of binary expressions.

Types: ``bool``; signed ``int8``, ``int16``, ``int32``, ``int64``; unsigned ``uint8``,
``uint16``, ``uint32``, ``uint64``; ``float16``, ``float32``, ``float64`` -- each the numpy type
of the same name in memory.

Promotion of two typed operands (tensor elements, axes, casts) is TVM's ``BinaryOpMatchTypes``,
which is numpy's ``np.result_type`` but for two exceptions: an integer (or bool) beside a float
takes the float's type (``int32 + float32`` is ``float32``; numpy would widen to ``float64``,
which would make every ``A[i] * i`` a float64 compute), and a signed integer beside an unsigned
one takes the wider type, of equal widths the unsigned one (``uint32 + int32`` and
``uint32 + int8`` are ``uint32``, ``uint8 + int8`` is ``uint8``, ``uint8 + int16`` is ``int16``,
``uint64 + int64`` is ``uint64``; numpy widens to ``int64``, ``int16`` or ``float64``): the
signed operand is converted, wrapping modulo ``2**bits`` as ``astype`` does. So
``int8 + int16`` is ``int16``, ``float16 + float32`` is ``float32``, ``int32 + float16`` is
``float16``. Arithmetic on two bools (``+``, ``-``, ``*``, ``//``, ``%``, shifts) computes in
``int32``.

A Python number beside an expression in an arithmetic operator, a comparison, ``max``/``min``,
``if_then_else`` or a two-operand intrinsic is typed as TVM types it (its FFI makes a Python
``int`` an ``int32`` constant, ``int64`` past 32 bits, and a ``float`` a ``float32`` one; then
``BinaryOpMatchTypes`` promotes as above): ``x_int8 + 1`` and ``x_uint8 + 1`` are ``int32``,
``x_float16 * 2.0`` is ``float32``, ``x_float16 * 2`` stays ``float16``, ``x_uint32 + 1`` stays
``uint32``, ``x_int32 + 2**40`` is ``int64``, ``x_float64 * 0.1`` is ``float64`` with the
literal's exact value (see :func:`literal_type`). The constant always holds the literal's own
value in the promoted type: it is never rounded to ``float32`` first. Bitwise operators and
shifts keep the other operand's type (TVM's bit operators take an ``int`` as a constant of that
type). A ``float`` beside an integer operand, or alone, is ``float32`` (numpy's default is
float64: Nestor keeps float32, TVM's). Where Nestor builds its own kernels on numpy's meaning
(the frontend), it makes constants of the operand's type itself: :func:`of_python_constant` is
numpy 2's NEP 50 typing, which :func:`tensorir.expr.as_expr` keeps for an explicit ``like``.
True division ``/`` of two integer operands gives ``float32``; ``//`` and
``%`` on integers floor (Python semantics). Comparisons and logical operators give ``bool``;
an unsigned comparison compares unsigned values (``uint32(2**31) > 0``).

Bitwise operators ``&``, ``|``, ``^``, ``~`` are logical on bools and bitwise on integers
(bools beside integers promote as above); shifts ``<<``, ``>>`` take integers and follow numpy:
a shift count outside ``0..bits-1`` gives 0 (``>>`` of a negative signed value gives -1), never
undefined behaviour; ``>>`` is arithmetic on signed and logical on unsigned types.

Integer arithmetic wraps modulo ``2**bits`` on every backend (``int8(100) + 100 == -56``,
``uint8(0) - 1 == 255``), as numpy's does. Integer division by zero and overflow follow numpy
(without its warning), on every backend and every integer type: ``x // 0``, ``x % 0``,
``truncdiv(x, 0)``, ``truncmod(x, 0)`` and ``fmod(x, 0)`` are 0, and ``INT_MIN // -1`` wraps
to ``INT_MIN`` (``INT_MIN % -1`` is 0); a kernel never traps on them. The guard costs a compare
and a select, and is left out where the divisor is provably neither 0 nor -1 (``i // 4``).
Float ``//`` and ``%`` by zero give IEEE results (``inf``, ``nan``), as numpy's do.

``float16`` is stored as IEEE half and every float16 operation is computed in float32 and
rounded to half right away, which is what numpy's float16 ufuncs do (and, for ``+ - * /`` and
``sqrt``, the correctly rounded half result). LLVM loads and stores ``half`` and extends each
operation's operands to ``float``, truncating the result back (``fpext``/``fptrunc``, which
the CPU does in hardware where it has F16C); CUDA stores ``__half`` (``cuda_fp16.h``) and
prints each operation as its float one between ``__half2float`` and ``__float2half_rn``; the
interpreter rounds each float16 result with numpy. Conversions to float16 round once (from
float64 through float32 rounded to odd, which cannot round twice wrongly).

Conversions (``astype``) follow numpy's ``astype``: float to integer truncates toward zero;
integer narrowing and signed/unsigned changes wrap modulo ``2**bits``; integer to float rounds
to nearest even; conversion to ``bool`` is ``!= 0`` (NaN is true). A float whose truncation
does not fit the target integer type, and NaN, are undefined in numpy (platform-dependent
values and a warning); Nestor defines them, the same on every backend (:func:`convert_value`
is the reference): NaN becomes 0; for ``int32`` and ``int64`` a value past either end
saturates to that end (``inf -> int32`` is ``2**31 - 1``); for the other integer types
(``int8``, ``int16`` and the unsigned ones) the truncated value, saturated to the ``int64``
range (``uint64``: non-negative values to ``0..2**64-1``), is taken modulo ``2**bits`` -- what
numpy gives on x86 for values inside the ``int64`` range, so ``-1.0 -> uint8`` is 255,
``300.0 -> uint8`` is 44 and ``-1.0 -> uint64`` is ``2**64 - 1``.
"""

from __future__ import annotations

import enum

import numpy as np


class DType(str, enum.Enum):
    """A scalar type. It is its name as a string too, so ``np.dtype(t.dtype)``,
    ``np.zeros(t.shape, dtype=t.dtype)`` and ``t.dtype == "float32"`` work for a tensor ``t``."""

    BOOL = "bool"
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    UINT8 = "uint8"
    UINT16 = "uint16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    FLOAT16 = "float16"
    FLOAT32 = "float32"
    FLOAT64 = "float64"

    @property
    def is_float(self) -> bool:
        return self in FLOAT_TYPES

    @property
    def is_int(self) -> bool:
        """Any integer type, signed or unsigned (not bool)."""
        return self in INT_TYPES

    @property
    def is_unsigned(self) -> bool:
        return self in UNSIGNED_TYPES

    @property
    def bits(self) -> int:
        return _BITS[self]

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(self.value)

    @property
    def min(self) -> int | float:
        """The smallest value of the type (``-inf`` for floats)."""
        if self.is_float:
            return float("-inf")
        return int(np.iinfo(self.numpy).min) if self.is_int else 0

    @property
    def max(self) -> int | float:
        """The largest value of the type (``inf`` for floats)."""
        if self.is_float:
            return float("inf")
        return int(np.iinfo(self.numpy).max) if self.is_int else 1

    def __str__(self) -> str:
        return self.value


FLOAT_TYPES = frozenset({DType.FLOAT16, DType.FLOAT32, DType.FLOAT64})
SIGNED_TYPES = frozenset({DType.INT8, DType.INT16, DType.INT32, DType.INT64})
UNSIGNED_TYPES = frozenset({DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64})
INT_TYPES = SIGNED_TYPES | UNSIGNED_TYPES
#: the types of the first release; the others are narrower or unsigned integers and float16
#: (backends and passes that handle only these refuse the others by name)
CLASSIC_TYPES = frozenset({DType.BOOL, DType.INT32, DType.INT64, DType.FLOAT32, DType.FLOAT64})
_BITS = {d: (1 if d is DType.BOOL else np.dtype(d.value).itemsize * 8) for d in DType}

#: the integer types of subscripts and loop counters after definition (other integer
#: subscripts are converted to one of these, see tensorir.intrinsics.as_index)
INDEX_TYPES = frozenset({DType.INT32, DType.INT64})

#: Index variables and loop counters.
INDEX = DType.INT32
#: The float type that integer true division and bare Python floats default to.
DEFAULT_FLOAT = DType.FLOAT32


def as_dtype(value: object, what: str = "dtype") -> DType:
    """Turn ``"float32"``, ``np.float32``, ``np.dtype`` or a DType into a DType."""
    from .errors import DefinitionError

    if isinstance(value, DType):
        return value
    try:
        name = np.dtype(value).name if not isinstance(value, str) else value
    except (TypeError, ValueError):  # numpy refuses some objects with a ValueError (a Tensor)
        name = repr(value)
    try:
        return DType(name)
    except ValueError:
        allowed = ", ".join(d.value for d in DType)
        raise DefinitionError(f"{what} {value!r} is not supported; use one of: {allowed}") from None


def promote(a: DType, b: DType) -> DType:
    """The type of a binary arithmetic expression over operands of types ``a`` and ``b``."""
    if a is b:
        return a
    if a.is_float != b.is_float:
        return a if a.is_float else b
    if a.is_int and b.is_int and a.is_unsigned != b.is_unsigned:  # TVM's BinaryOpMatchTypes
        if a.bits != b.bits:
            return a if a.bits > b.bits else b
        return a if a.is_unsigned else b
    return DType(np.result_type(a.numpy, b.numpy).name)


def of_python_constant(value: object, other: DType | None) -> DType:
    """The type a Python number takes beside an operand of type ``other`` (NEP 50's weak
    scalars; see the module docstring). A Python int that does not fit ``other`` is refused."""
    if isinstance(value, bool):
        return DType.BOOL
    if isinstance(value, int):
        if other is not None and other is not DType.BOOL:
            if other.is_int and not other.min <= value <= other.max:
                from .errors import DefinitionError

                raise DefinitionError(
                    f"the Python int {value} does not fit {other} (range {other.min}..{other.max}), "
                    f"the type of the operand beside it; make it a constant of a wider type "
                    f"(e.g. ns.const({value}, 'int64')) or cast the operand first (x.astype('int64'))")
            return other
        return DType.INT32 if -(2**31) <= value < 2**31 else DType.INT64
    if other is not None and other.is_float:
        return other
    return DEFAULT_FLOAT


def literal_type(value: object, other: DType) -> DType:
    """The type of ``value op other`` for a Python number ``value`` beside an operand of type
    ``other``, as TVM types it: the literal is ``int32`` (``int64`` past 32 bits) or ``float32``
    (a ``bool`` is ``bool``), then promoted with ``other`` by :func:`promote`. An int that does not
    fit ``int64`` is taken as ``uint64`` beside ``uint64`` and refused otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        return promote(other, of_python_constant(value, None))
    if -(2**63) <= value < 2**63:
        return promote(other, of_python_constant(value, None))
    if other is DType.UINT64 and 0 <= value < 2**64:
        return other
    from .errors import DefinitionError

    raise DefinitionError(
        f"the Python int {value} beside an operand of type {other} fits no type a literal takes "
        f"(int32, int64; uint64 beside uint64); keep it within the int64 range, or make it a float "
        f"constant (ns.const({float(value)!r}, 'float64'))")


def wrap_int(value: int, dtype: DType) -> int:
    """``value`` modulo ``2**bits`` in the range of integer type ``dtype``."""
    bits = dtype.bits
    value &= (1 << bits) - 1
    if dtype not in UNSIGNED_TYPES and value >> (bits - 1):
        value -= 1 << bits
    return value


def float_to_int(value: float, dtype: DType) -> int:
    """The integer type ``dtype``'s value of float ``value`` (see the module docstring)."""
    if value != value:
        return 0
    if value in (float("inf"), float("-inf")):
        whole = 2**200 if value > 0 else -(2**200)
    else:
        whole = int(value)  # truncates toward zero
    if dtype in (DType.INT32, DType.INT64):
        return max(dtype.min, min(dtype.max, whole))
    if dtype is DType.UINT64 and whole >= 0:
        return min(whole, DType.UINT64.max)
    return wrap_int(max(DType.INT64.min, min(DType.INT64.max, whole)), dtype)


def convert_value(value: int | float | bool, dtype: DType) -> int | float | bool:
    """The Python value that ``value`` has as a ``dtype`` (``astype``'s meaning, above)."""
    if dtype is DType.BOOL:
        return bool(value)
    if dtype in INT_TYPES:
        if isinstance(value, float):
            return float_to_int(value, dtype)
        return wrap_int(int(value), dtype)
    if dtype is DType.FLOAT16:
        with np.errstate(over="ignore"):
            return float(np.float16(float(value) if not isinstance(value, int) else _int_to_float(value)))
    return float(value) if not isinstance(value, int) else _int_to_float(value)


def _int_to_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")
