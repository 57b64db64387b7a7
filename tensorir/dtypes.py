"""Scalar data types and the promotion rule of binary expressions.

Promotion: the operand types are ranked ``bool < int32 < int64 < float32 < float64`` and a
binary arithmetic expression takes the higher rank. A Python ``int`` constant takes the type of
the other operand (``int32`` beside a ``bool``); a Python ``float`` constant takes the other
operand's type when that is a float type, else ``float32``. True division ``/`` of two integer
operands gives ``float32``; ``//`` and ``%`` on integers floor (Python semantics). Comparisons
and logical operators give ``bool``.

Integer division by zero and overflow follow numpy (without its warning), on every backend:
``x // 0`` and ``x % 0`` are 0, and ``INT_MIN // -1`` wraps to ``INT_MIN`` (``INT_MIN % -1`` is
0); a kernel never traps on them. The guard costs a compare and a select, and is left out where
the divisor is provably neither 0 nor -1 (``i // 4``). Float ``//`` and ``%`` by zero give
IEEE results (``inf``, ``nan``), as numpy's do.
"""

from __future__ import annotations

import enum

import numpy as np


class DType(str, enum.Enum):
    """A scalar type. It is its name as a string too, so ``np.dtype(t.dtype)``,
    ``np.zeros(t.shape, dtype=t.dtype)`` and ``t.dtype == "float32"`` work for a tensor ``t``."""

    BOOL = "bool"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"

    @property
    def is_float(self) -> bool:
        return self in FLOAT_TYPES

    @property
    def is_int(self) -> bool:
        return self in INT_TYPES

    @property
    def bits(self) -> int:
        return _BITS[self]

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(self.value)

    def __str__(self) -> str:
        return self.value


FLOAT_TYPES = frozenset({DType.FLOAT32, DType.FLOAT64})
INT_TYPES = frozenset({DType.INT32, DType.INT64})
_BITS = {DType.BOOL: 1, DType.INT32: 32, DType.INT64: 64, DType.FLOAT32: 32, DType.FLOAT64: 64}
_RANK = {DType.BOOL: 0, DType.INT32: 1, DType.INT64: 2, DType.FLOAT32: 3, DType.FLOAT64: 4}

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
    except TypeError:
        name = repr(value)
    try:
        return DType(name)
    except ValueError:
        allowed = ", ".join(d.value for d in DType)
        raise DefinitionError(f"{what} {value!r} is not supported; use one of: {allowed}") from None


def promote(a: DType, b: DType) -> DType:
    """The type of a binary arithmetic expression over operands of types ``a`` and ``b``."""
    return a if _RANK[a] >= _RANK[b] else b


def of_python_constant(value: object, other: DType | None) -> DType:
    """The type a Python number takes beside an operand of type ``other``."""
    if isinstance(value, bool):
        return DType.BOOL
    if isinstance(value, int):
        if other is not None and other is not DType.BOOL:
            return other
        return DType.INT32 if -(2**31) <= value < 2**31 else DType.INT64
    if other is not None and other.is_float:
        return other
    return DEFAULT_FLOAT
