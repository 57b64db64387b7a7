"""TVM's ``te.max`` and ``te.min``: the reductions start from the type's finite extreme.

TVM defines ``te.max = comm_reducer(max, min_value)`` and ``te.min = comm_reducer(min,
max_value)`` (python/tvm/tir/op.py), and ``min_value(float32)`` is the finite lowest float
(``numeric_limits<float>::lowest()``, src/tir/op/op.cc), not ``-inf``. The difference shows
where a reduction meets no point (an empty range, or a ``where=`` that holds nowhere: the
result is ``-3.4028235e38``) or only infinite points (a max over ``-inf`` values is the finite
lowest, not ``-inf``).

These are the public ``ns.max``/``ns.min`` (and the string form's ``max``/``min``): a float
reduction without ``init=`` gets TVM's start value as its ``init``, so every schedule (rfactor,
cross-thread reductions) joins it once, exactly as the starting value. The IR's own identity of
``ReduceOp.MAX`` stays ``-inf``, which the frontend's numpy-exact reductions use through
:mod:`tensorir.functions`.
"""

from __future__ import annotations

from dataclasses import replace

from . import functions
from .expr import Expr, Reduce
from .reducers import max_value, min_value

_NO_AXIS = functions._NO_AXIS


def max(expr, *args, axis=_NO_AXIS, where=None, init=None) -> Expr:  # noqa: A001
    """The maximum of ``expr`` over the reduce axis (or axes) ``axis``, as TVM's ``te.max``.

    Parameters
    ----------
    expr : Expr
        The value to reduce; with a second positional value that is no reduce axis,
        ``max(x, y)`` is the elementwise maximum.
    axis : IterVar or list of IterVar
        The reduce axes (from ``ns.reduce_axis``).
    where : Expr, optional
        A bool predicate: only the points where it holds are combined.
    init : Expr or number, optional
        The starting value; without it a float reduction starts from
        ``ns.min_value(dtype)`` (the finite lowest value, as in TVM) and an integer one from
        the type's least value.

    Returns
    -------
    Expr
        The reduction (or the elementwise maximum).
    """
    return _finite_start(functions.max(expr, *args, axis=axis, where=where, init=init), min_value)


def min(expr, *args, axis=_NO_AXIS, where=None, init=None) -> Expr:  # noqa: A001
    """The minimum of ``expr`` over ``axis``, as TVM's ``te.min``: parameters as :func:`max`;
    a float reduction without ``init=`` starts from ``ns.max_value(dtype)``, the finite
    greatest value."""
    return _finite_start(functions.min(expr, *args, axis=axis, where=where, init=init), max_value)


def _finite_start(result: Expr, start) -> Expr:
    """``result`` with ``init=start(dtype)`` where it is a float reduction without an init."""
    if isinstance(result, Reduce) and result.init is None and result.dtype.is_float:
        return replace(result, init=start(result.dtype))
    return result
