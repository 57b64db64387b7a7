"""Elementwise functions, choice and reducers over expressions (``ns.exp``, ``ns.sum``, ...)."""

from __future__ import annotations

from .dtypes import DEFAULT_FLOAT, DType
from .errors import DefinitionError
from .expr import (
    FLOAT_FUNCS,
    BinaryOp,
    Call,
    Const,
    Expr,
    Func,
    Reduce,
    ReduceOp,
    Select,
    as_expr,
    binary,
    cast,
    promote_pair,
)


def _call(func: Func, value) -> Expr:
    expr = as_expr(value)
    if expr.dtype is DType.BOOL:
        expr = cast(expr, DType.INT32)
    if func in FLOAT_FUNCS and not expr.dtype.is_float:
        expr = cast(expr, DEFAULT_FLOAT)
    return Call(func, (expr,), expr.dtype)


def exp(x) -> Expr:
    return _call(Func.EXP, x)


def log(x) -> Expr:
    return _call(Func.LOG, x)


def sqrt(x) -> Expr:
    return _call(Func.SQRT, x)


def tanh(x) -> Expr:
    return _call(Func.TANH, x)


def sigmoid(x) -> Expr:
    return _call(Func.SIGMOID, x)


def abs(x) -> Expr:  # noqa: A001 - the public name mirrors numpy's
    return _call(Func.ABS, x)


def power(x, y) -> Expr:
    return binary(BinaryOp.POW, x, y)


def te_power(x, y) -> Expr:
    """``x`` to the power ``y`` as TVM's ``te.power`` (the public ``nestor.power``): in a float
    type; two integer operands are refused as TVM refuses them (``x ** y`` still takes them: an
    exact integer power, as the frontend's integer tensors use)."""
    result = power(x, y)
    if not result.dtype.is_float:
        raise DefinitionError(f"power({as_expr(x)}, {as_expr(y)}): power applies to floats only, and both operands "
                              f"are {result.dtype}; make one a float, e.g. power(x.astype('float32'), y), or write "
                              "x ** y for an integer power")
    return result


def maximum(x, y) -> Expr:
    return binary(BinaryOp.MAX, x, y)


def minimum(x, y) -> Expr:
    return binary(BinaryOp.MIN, x, y)


def equal(x, y) -> Expr:
    return binary(BinaryOp.EQ, x, y)


def not_equal(x, y) -> Expr:
    return binary(BinaryOp.NE, x, y)


def if_then_else(cond, true_value, false_value) -> Expr:
    """``true_value`` where ``cond`` holds, else ``false_value``; only the chosen one is evaluated."""
    c = as_expr(cond)
    if c.dtype is not DType.BOOL:
        raise DefinitionError(
            f"if_then_else: the condition {c} has type {c.dtype}; it must be a comparison or "
            "another bool expression")
    t, f = promote_pair(true_value, false_value)
    return Select(c, t, f, t.dtype)


def value_or_zero(cond, value) -> Expr:
    """``value`` where ``cond`` holds, else a zero of ``value``'s own type: the padding of a
    template's zero-padded copy (a literal ``0.0`` would make an integer copy float32, as TVM
    types literals)."""
    v = as_expr(value)
    return if_then_else(cond, v, Const(0, v.dtype) if not v.dtype.is_float else Const(0.0, v.dtype))


def _reduce(op: ReduceOp, source, axis, where=None, init=None) -> Reduce:
    from .reducers import builtin_reduce

    return builtin_reduce(op, source, axis, where, init)


_NO_AXIS = object()


def _reduce_or_combine(op: ReduceOp, expr, args: tuple, axis, where, init) -> Expr:
    """TVM's reducer calling convention: ``max(x, axis=k)`` reduces over ``k``; ``max(x, y)``
    with a second *positional* value that is no reduce axis combines two values elementwise
    (``te.max(x, tir.const(0))`` is a ReLU). A keyword ``axis=3`` stays refused: it names an
    axis."""
    if len(args) > 1 + (where is None) + (init is None):
        raise DefinitionError(f"{op.value}(...): too many arguments; use {op.value}(expr, axis, where=..., init=...)")
    if args:
        if axis is not _NO_AXIS:
            raise DefinitionError(f"{op.value}(...): axis given twice (positionally and as axis=)")
        axis, rest = args[0], args[1:]
        if _is_value(axis) and not rest and where is None and init is None:
            return binary(_COMBINE[op], expr, axis)
        where = rest[0] if rest else where
        init = rest[1] if len(rest) > 1 else init
    if axis is _NO_AXIS:
        raise DefinitionError(f"{op.value}({expr}): give the reduce axis (axis=k, from ns.reduce_axis)")
    return _reduce(op, expr, axis, where, init)


def _is_value(x) -> bool:
    from .expr import IterVar

    if isinstance(x, IterVar) or isinstance(x, (list, tuple)):
        return False
    return isinstance(x, Expr) or (isinstance(x, (int, float)) and not isinstance(x, bool))


_COMBINE = {ReduceOp.SUM: BinaryOp.ADD, ReduceOp.MAX: BinaryOp.MAX, ReduceOp.MIN: BinaryOp.MIN}


def sum(expr, *args, axis=_NO_AXIS, where=None, init=None) -> Expr:  # noqa: A001
    """The sum of ``expr`` over the reduce axis (or axes) ``axis``, at the points where ``where``
    holds, starting from ``init`` (0 by default; an expression of the output indices such as
    ``B[i]``). ``sum(x, y)`` with a value ``y`` is ``x + y`` (TVM's convention)."""
    return _reduce_or_combine(ReduceOp.SUM, expr, args, axis, where, init)


def max(expr, *args, axis=_NO_AXIS, where=None, init=None) -> Expr:  # noqa: A001
    """The maximum of ``expr`` over the reduce axis (or axes) ``axis``; ``where`` and ``init`` as
    in :func:`sum`. ``max(x, y)`` with a value ``y`` is the elementwise maximum, as in TVM."""
    return _reduce_or_combine(ReduceOp.MAX, expr, args, axis, where, init)


def min(expr, *args, axis=_NO_AXIS, where=None, init=None) -> Expr:  # noqa: A001
    """The minimum of ``expr`` over the reduce axis (or axes) ``axis``; ``where`` and ``init`` as
    in :func:`sum`. ``min(x, y)`` with a value ``y`` is the elementwise minimum, as in TVM."""
    return _reduce_or_combine(ReduceOp.MIN, expr, args, axis, where, init)


def reduce_identity(op: ReduceOp, dtype: DType) -> Const:
    """The value a reduction starts from."""
    if op is ReduceOp.SUM:
        return Const(0.0 if dtype.is_float else 0, dtype)
    if dtype.is_float:
        value: float | int = float("-inf") if op is ReduceOp.MAX else float("inf")
    else:
        value = dtype.min if op is ReduceOp.MAX else dtype.max
    return Const(value, dtype)

