"""More of TVM's ``tir`` vocabulary that te programs use, spelled as TVM spells it:
``infinity(dtype)``, ``likely(cond)`` (a branch hint: the condition itself), ``ceildiv(a, b)``,
``Cast(dtype, value)`` (``value.astype(dtype)``) and ``SizeVar(name, dtype)`` (``size_var``)."""

from __future__ import annotations

from .dtypes import DType, as_dtype
from .errors import DefinitionError
from .expr import Const, Expr, as_expr, cast
from .symbolic import ShapeVar, size_var


def infinity(dtype) -> Const:
    """TVM's ``tir.infinity``: ``+inf`` of a float type (``-infinity`` is ``-inf``)."""
    dt = as_dtype(dtype, "infinity: dtype")
    if not dt.is_float:
        raise DefinitionError(f"infinity({dt}): {dt} has no infinity; use ns.max_value('{dt}') for the "
                              "greatest value of an integer type")
    return Const(float("inf"), dt)


def likely(cond) -> Expr:
    """TVM's ``tir.likely``: a hint that ``cond`` mostly holds; the condition itself here."""
    expr = as_expr(cond)
    if expr.dtype is not DType.BOOL:
        raise DefinitionError(f"likely({expr}): the condition has type {expr.dtype}, not bool; compare to "
                              f"make it one, e.g. likely({expr} > 0)")
    return expr


def ceildiv(a, b) -> Expr:
    """TVM's ``tir.ceildiv``: ``ceil(a / b)`` of integers (``-((-a) // b)``, exact for every sign);
    for floats, ``ceil(a / b)``."""
    x, y = as_expr(a), as_expr(b)
    if x.dtype.is_int and y.dtype.is_int:
        return -((-x) // y)
    from .intrinsics import ceil

    return ceil(x / y)


def Cast(dtype, value) -> Expr:  # noqa: N802 - TVM's name (tir.Cast)
    """TVM's ``tir.Cast(dtype, value)``: ``value`` converted to ``dtype`` (``value.astype``)."""
    return cast(as_expr(value), as_dtype(dtype, "Cast: dtype"))


def SizeVar(name: str = "n", dtype="int32") -> ShapeVar:  # noqa: N802 - TVM's name (tir.SizeVar)
    """TVM's ``tir.SizeVar(name, dtype)``: a size variable known to be >= 0 (``size_var``)."""
    return size_var(name, dtype)
