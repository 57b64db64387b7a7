"""The rest of TVM's ``te``/``tir`` expression vocabulary, spelled as TVM spells it, on top of
Nestor's operators: ``floordiv``/``floormod`` (``//``, ``%``), ``indexdiv``/``indexmod`` (the
same, for index arithmetic), ``div`` (``truncdiv`` of integers, ``/`` of floats, as
``tir.div``), ``nearbyint`` (``round``: halves to even), ``all``/``any`` over any number of
conditions, and ``add``/``subtract``/``multiply``."""

from __future__ import annotations

from functools import reduce

from .errors import DefinitionError
from .expr import Expr, as_expr
from .intrinsics import round as _round
from .intrinsics import truncdiv


def floordiv(a, b) -> Expr:
    """``a // b``: division rounding toward minus infinity."""
    return as_expr(a) // b


def floormod(a, b) -> Expr:
    """``a % b``: the remainder of :func:`floordiv`, with the sign of ``b``."""
    return as_expr(a) % b


indexdiv = floordiv
indexmod = floormod


def div(a, b) -> Expr:
    """TVM's ``tir.div``: C's division, truncating for integers, true division for floats."""
    x, y = as_expr(a), as_expr(b)
    return truncdiv(x, y) if x.dtype.is_int and y.dtype.is_int else x / y


def nearbyint(x) -> Expr:
    """``x`` rounded to the nearest integral value, halves to even (as ``round``)."""
    return _round(x)


def _conditions(who: str, args) -> list[Expr]:
    if not args:
        raise DefinitionError(f"{who}(): give at least one condition")
    conds = [as_expr(a) for a in args]
    for cond in conds:
        if cond.dtype != "bool":
            raise DefinitionError(f"{who}(...): the condition {cond} has type {cond.dtype}; give comparisons "
                                  "or other bool expressions")
    return conds


def all(*args) -> Expr:  # noqa: A001 - TVM's name
    """True where every condition holds (``tir.all``)."""
    return reduce(lambda a, b: a & b, _conditions("all", args))


def any(*args) -> Expr:  # noqa: A001 - TVM's name
    """True where some condition holds (``tir.any``)."""
    return reduce(lambda a, b: a | b, _conditions("any", args))


def add(a, b) -> Expr:
    return as_expr(a) + b


def subtract(a, b) -> Expr:
    return as_expr(a) - b


def multiply(a, b) -> Expr:
    return as_expr(a) * b


def Select(condition, true_value, false_value) -> Expr:  # noqa: N802 - TVM's name (tir.Select)
    """``true_value`` where ``condition`` holds, else ``false_value`` (TVM's ``tir.Select``; the
    same values as ``if_then_else``)."""
    from .functions import if_then_else

    return if_then_else(condition, true_value, false_value)


__all__ = ["Select", "add", "all", "any", "div", "floordiv", "floormod", "indexdiv", "indexmod", "multiply",
           "nearbyint", "subtract"]
