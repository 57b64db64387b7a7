"""A third set of TVM's ``tir`` names that te programs use, spelled as TVM spells them:
``shift_left``/``shift_right`` (the ``<<``/``>>`` of integers), ``q_multiply_shift`` (the
fixed-point product of quantized kernels, built from 64-bit integer operations so every backend
runs it), ``reinterpret`` (the bits of a value read as another type of the same width) and
``StringImm`` (a string constant: a pragma value or a name, never a value in a computation).
"""

from __future__ import annotations

from dataclasses import dataclass

from .dtypes import DType, as_dtype
from .errors import DefinitionError
from .expr import Expr, as_expr, cast
from .functions import if_then_else
from .intmath import as_int
from .intrinsics import left_shift, right_shift


@dataclass(frozen=True)
class StringImm:
    """TVM's ``tir.StringImm(value)``: a string constant (``.value``), e.g. a pragma's value.

    It has no numeric value: using it in arithmetic or a compute is refused, naming it.
    """

    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str):
            raise DefinitionError(f"StringImm({self.value!r}): the value is a {type(self.value).__name__}; "
                                  "give a str, or use tir.const for a number")

    @property
    def dtype(self) -> str:
        return "handle"

    def __str__(self) -> str:
        return self.value


def shift_left(x, y) -> Expr:
    """TVM's ``tir.shift_left``: ``x << y`` of integers (a count outside ``0..bits-1`` gives 0)."""
    return left_shift(x, y)


def shift_right(x, y) -> Expr:
    """TVM's ``tir.shift_right``: ``x >> y`` of integers, arithmetic on signed types."""
    return right_shift(x, y)


def q_multiply_shift(x, y, q, s) -> Expr:
    """TVM's ``tir.q_multiply_shift``: ``round(x * y * 2**(s - q))``, rounding half up, of int32s.

    ``x`` and ``y`` are int32 Q-numbers with ``q`` fractional bits; ``s`` is an extra shift
    (left when positive). As TVM lowers it: the product in int64, ``x`` first shifted left by
    ``max(s, 0)``, then ``2**(q + max(-s, 0) - 1)`` added and shifted right by
    ``q + max(-s, 0)``; the result is the low 32 bits. ``q`` must be a constant in 1..62.
    """
    who = f"q_multiply_shift({x}, {y}, {q}, {s})"
    ex, ey, es = (_int32(v, name, who) for v, name in ((x, "x"), (y, "y"), (s, "s")))
    shift = as_int(q)
    if not isinstance(shift, int) or not 1 <= shift <= 62:
        raise DefinitionError(f"{who}: q (the fractional bits) is {q}; give a constant from 1 to 62, e.g. 31")
    wide = DType.INT64
    zero = as_expr(0, DType.INT32)
    left = cast(if_then_else(es > zero, es, zero), wide)
    right = cast(if_then_else(es > zero, zero, -es), wide) + shift
    product = left_shift(cast(ex, wide), left) * cast(ey, wide)
    one = as_expr(1, wide)
    return cast(right_shift(product + left_shift(one, right - 1), right), DType.INT32)


def _int32(value, name: str, who: str) -> Expr:
    expr = as_expr(value, DType.INT32)
    if expr.dtype is not DType.INT32:
        raise DefinitionError(f"{who}: {name} has type {expr.dtype}; q_multiply_shift takes int32 operands, "
                              f"cast it first, e.g. {name}.astype('int32')")
    return expr


def reinterpret(dtype, value) -> Expr:
    """TVM's ``tir.reinterpret(dtype, value)``: the bits of ``value`` read as ``dtype`` (same width)."""
    from .reinterpret import reinterpret_bits

    return reinterpret_bits(as_dtype(dtype, "reinterpret: dtype"), as_expr(value))
