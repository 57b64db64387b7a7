"""General reductions with TVM's meaning: ``where=`` (a predicate on the reduction domain) and
``init=`` (the accumulator's starting value) on every reducer, user-defined commutative reducers
(``ns.comm_reducer``) including tuple reducers such as argmax, and the constants that build their
identities (``ns.const``, ``ns.min_value``, ``ns.max_value``).

A user reducer applied to a tuple of values gives one :class:`~tensorir.expr.Reduce` per element,
all sharing one :class:`~tensorir.expr.Combiner`; ``ns.compute`` turns them into one tensor per
element of a single stage (see :mod:`tensorir.outputs`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .dependent import with_ranges
from .dtypes import DType, as_dtype, literal_type
from .errors import DefinitionError
from .expr import Combiner, Const, Expr, IterKind, IterVar, Reduce, ReduceOp, TensorLoad, Var, as_expr, cast
from .expr import const as _const
from .visitor import walk


# -- constants -------------------------------------------------------------------------------
def min_value(dtype) -> Const:
    """The least finite value of ``dtype`` (the identity of ``max``-like reducers, as in TVM)."""
    dt = as_dtype(dtype, "min_value: dtype")
    if dt is DType.BOOL:
        return _const(False, dt)
    info = np.finfo(dt.numpy) if dt.is_float else np.iinfo(dt.numpy)
    return _const(info.min.item() if dt.is_float else int(info.min), dt)


def max_value(dtype) -> Const:
    """The greatest finite value of ``dtype`` (the identity of ``min``-like reducers)."""
    dt = as_dtype(dtype, "max_value: dtype")
    if dt is DType.BOOL:
        return _const(True, dt)
    info = np.finfo(dt.numpy) if dt.is_float else np.iinfo(dt.numpy)
    return _const(info.max.item() if dt.is_float else int(info.max), dt)


# -- the parts every reducer checks ----------------------------------------------------------
def reduce_axes(who: str, axis) -> tuple[IterVar, ...]:
    """``axis`` (a reduce axis or a list of them) as a tuple, each checked."""
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    if not axes:
        raise DefinitionError(f"{who}(...): axis is empty; pass a reduce_axis or a list of them")
    for item in axes:
        if not isinstance(item, IterVar):
            raise DefinitionError(
                f"{who}(..., axis={item}): `{item}` is not a reduce axis; create one with "
                "ns.reduce_axis(extent, name) and use it in the expression")
        if item.kind is not IterKind.REDUCE:
            raise DefinitionError(
                f"{who}(..., axis={item.name}): `{item.name}` is an output axis of the compute, "
                "not a reduce axis; create one with ns.reduce_axis(extent, name)")
    if len({id(a) for a in axes}) != len(axes):
        names = ", ".join(a.name for a in axes)
        raise DefinitionError(f"{who}(..., axis=[{names}]): an axis is listed twice")
    return tuple(axes)


def condition_of(who: str, where) -> Expr | None:
    """The ``where=`` predicate as a bool expression (None: every point counts)."""
    if where is None:
        return None
    try:
        cond = as_expr(where)
    except DefinitionError as err:
        raise DefinitionError(f"{who}(..., where=...): {err}") from None
    if cond.dtype is not DType.BOOL:
        raise DefinitionError(
            f"{who}(..., where={cond}): the predicate has type {cond.dtype}, not bool; "
            f"compare to make it one, e.g. where={cond} > 0")
    return cond


def inits_of(who: str, init, dtypes: tuple[DType, ...], axes: tuple[IterVar, ...]) -> tuple[Expr | None, ...]:
    """The ``init=`` starting values, one per element of the reducer (Nones without init)."""
    if init is None:
        return (None,) * len(dtypes)
    values = list(init) if isinstance(init, (list, tuple)) else [init]
    if len(values) != len(dtypes):
        raise DefinitionError(
            f"{who}(..., init=...): {len(values)} initial values for a reducer of {len(dtypes)} "
            f"value(s); give one per value")
    return tuple(_init_value(who, value, dtype, axes) for value, dtype in zip(values, dtypes))


def _init_value(who: str, value, dtype: DType, axes: tuple[IterVar, ...]) -> Expr:
    _check_literal_init(who, value, dtype)
    try:
        expr = as_expr(value, dtype)
    except DefinitionError as err:
        raise DefinitionError(f"{who}(..., init=...): {err}") from None
    if expr.dtype is not dtype:
        raise DefinitionError(
            f"{who}(..., init={expr}): the initial value has type {expr.dtype} but the reduction "
            f"has type {dtype}; convert it with .astype('{dtype}')")
    reduce_vars = {iv.var: iv for iv in axes}
    for node in walk(expr):
        if node in reduce_vars:
            raise DefinitionError(
                f"{who}(..., init={expr}): the initial value uses the reduce axis {node.name}; it "
                "may use only the compute's own indices (e.g. init=B[i])")
    return expr


def _check_literal_init(who: str, value, dtype: DType) -> None:
    """A Python number as ``init=`` takes the type TVM gives a literal beside a value of the
    reduction's type (``literal_type``: an int is int32, a float float32, then promoted); TVM
    stores the init into the reduction's buffer unconverted, so that type must be the
    reduction's own."""
    if not isinstance(value, (bool, int, float)):
        return
    typed = literal_type(value, dtype)
    if typed is not dtype:
        raise DefinitionError(
            f"{who}(..., init={value!r}): the Python literal is {typed} as TVM types it beside a "
            f"value of type {dtype}, but the reduction has type {dtype}; give the start value in that type, "
            f"init=ns.const({value!r}, '{dtype}')")


def _source(who: str, value, keep_bool: bool = False) -> Expr:
    """The value to reduce; sum/max/min count bools as int32, a user reducer keeps them bool."""
    try:
        expr = as_expr(value)
    except DefinitionError as err:
        raise DefinitionError(f"{who}(...): the value to reduce: {err}") from None
    return cast(expr, DType.INT32) if expr.dtype is DType.BOOL and not keep_bool else expr


def builtin_reduce(op: ReduceOp, source, axis, where=None, init=None) -> Reduce:
    """``sum``/``max``/``min`` of ``source`` over ``axis``, where ``where`` holds, from ``init``."""
    who = op.value
    axes = reduce_axes(who, axis)
    expr = _source(who, source)
    cond = with_ranges(axes, condition_of(who, where))
    (start,) = inits_of(who, init, (expr.dtype,), axes)
    return Reduce(op, expr, axes, expr.dtype, condition=cond, init=start)


# -- user-defined reducers -------------------------------------------------------------------
class CommReducer:
    """A commutative reducer made by :func:`comm_reducer`; call it like ``ns.sum``.

    ``reducer(expr, axis=k, where=None, init=None)`` reduces one value; given a tuple of values
    (``argmax((I[i, k], X[i, k]), axis=k)``) it returns a tuple of reductions, one per value,
    which ``ns.compute`` turns into one tensor each.
    """

    def __init__(self, fcombine: Callable, fidentity: Callable, name: str):
        self.fcombine, self.fidentity, self.name = fcombine, fidentity, name

    def __repr__(self) -> str:
        return f"comm_reducer({self.name})"

    def combine(self, *values) -> Expr:
        """``fcombine`` folded over two or more values: TVM's ``reducer(a, b, ...)``."""
        return _combined(self, values)

    def __call__(self, expr, axis, where=None, init=None, *more):
        who = self.name
        if not isinstance(axis, (IterVar, list, tuple)):  # TVM's reducer(a, b, ...): a combined with b, ...
            return self.combine(expr, axis, *(v for v in (where, init) if v is not None), *more)
        if more:
            raise DefinitionError(f"{who}(..., axis={getattr(axis, 'name', axis)}): {len(more)} more values after "
                                  "init; reduce one "
                                  "value (or one tuple) over the axes")
        is_tuple = isinstance(expr, (tuple, list))
        sources = tuple(_source(who, value, keep_bool=True) for value in (expr if is_tuple else (expr,)))
        if not sources:
            raise DefinitionError(f"{who}((), ...): give at least one value to reduce")
        axes = reduce_axes(who, axis)
        cond = with_ranges(axes, condition_of(who, where))
        dtypes = tuple(s.dtype for s in sources)
        starts = inits_of(who, init, dtypes, axes)
        combiner = make_combiner(self, dtypes, is_tuple)
        reductions = tuple(
            Reduce(ReduceOp.CUSTOM, source, axes, source.dtype, condition=cond, init=start,
                   combiner=combiner, sources=sources if is_tuple else (), value_index=n)
            for n, (source, start) in enumerate(zip(sources, starts)))
        return reductions if is_tuple else reductions[0]


def _combined(reducer: CommReducer, values: tuple) -> Expr:
    """``fcombine`` folded over ``values`` (two or more expressions), left to right."""
    who = reducer.name
    exprs = [_source(who, value, keep_bool=True) for value in values]
    result = exprs[0]
    for value in exprs[1:]:
        try:
            result = as_expr(reducer.fcombine(result, value))
        except DefinitionError as err:
            raise DefinitionError(f"{who}({', '.join(map(str, exprs))}): fcombine: {err}") from None
    return result


def comm_reducer(fcombine: Callable, fidentity: Callable, name: str = "reduce") -> CommReducer:
    """A user-defined commutative reducer, with TVM's calling convention.

    Parameters
    ----------
    fcombine
        ``fcombine(x, y)``: the accumulator ``x`` combined with a new value ``y``. For a tuple
        reducer ``x`` and ``y`` are tuples and it returns a tuple of the same length.
    fidentity
        ``fidentity(t0, t1, ...)``: given the value types, the identity element (a tuple for
        a tuple reducer), e.g. ``ns.const(1, t0)`` or ``ns.min_value(t0)``.
    name
        The reducer's name in printed definitions and error messages.

    Examples
    --------
    >>> product = ns.comm_reducer(lambda x, y: x * y, lambda t: ns.const(1, t), name="product")
    >>> P = ns.compute((n,), lambda i: product(A[i, k], axis=k))
    """
    if not callable(fcombine) or not callable(fidentity):
        raise DefinitionError(
            f"comm_reducer(name={name!r}): fcombine and fidentity must be functions, got "
            f"{type(fcombine).__name__} and {type(fidentity).__name__}")
    if not isinstance(name, str) or not name:
        raise DefinitionError(f"comm_reducer: name must be a non-empty string, got {name!r}")
    return CommReducer(fcombine, fidentity, name)


def make_combiner(reducer: CommReducer, dtypes: tuple[DType, ...], is_tuple: bool) -> Combiner:
    """``reducer``'s combination and identity for values of ``dtypes``, checked."""
    who = reducer.name
    suffix = [str(n) for n in range(len(dtypes))] if is_tuple else [""]
    lhs = tuple(Var(f"x{s}", dt) for s, dt in zip(suffix, dtypes))
    rhs = tuple(Var(f"y{s}", dt) for s, dt in zip(suffix, dtypes))
    given = (lhs, rhs) if is_tuple else (lhs[0], rhs[0])
    results = _elements(who, "fcombine", _call_user(who, "fcombine", reducer.fcombine, given, dtypes), dtypes)
    allowed = set(lhs) | set(rhs)
    for result in results:
        stray = [n for n in walk(result) if isinstance(n, Var) and n not in allowed]
        if stray:
            raise DefinitionError(
                f"{who}: fcombine's result {result} uses {stray[0].name}, which is not one of its "
                "arguments; combine only the two values it is given")
    identity = _call_user(who, "fidentity", reducer.fidentity, dtypes, dtypes)
    identities = _elements(who, "fidentity", identity, dtypes)
    for value in identities:
        if any(isinstance(n, (Var, TensorLoad)) for n in walk(value)):
            raise DefinitionError(
                f"{who}: fidentity's value {value} is not a constant; build it with ns.const(v, t), "
                "ns.min_value(t) or ns.max_value(t)")
    return Combiner(who, lhs, rhs, results, identities)


def _call_user(who: str, what: str, function: Callable, args: tuple, dtypes: tuple[DType, ...]):
    """``function(*args)``; a Python error inside it is reported with what it was given."""
    try:
        return function(*args)
    except (TypeError, IndexError, AttributeError, ValueError) as err:
        if what == "fcombine":
            given = "x and y, each " + (f"a tuple of {len(dtypes)} values" if isinstance(args[0], tuple)
                                        else "one value")
        else:
            given = f"the dtypes {[str(t) for t in dtypes]}"
        raise DefinitionError(
            f"{who}: {what} failed ({type(err).__name__}: {err}); it was given {given}; a reducer "
            "applied to one value combines single values, one applied to a tuple combines tuples") from None


def _elements(who: str, what: str, value, dtypes: tuple[DType, ...]) -> tuple[Expr, ...]:
    """The value(s) ``what`` returned, one per reduced value, each of its value's type."""
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    if len(items) != len(dtypes):
        raise DefinitionError(
            f"{who}: {what} returned {len(items)} value(s) but the reducer combines {len(dtypes)} "
            f"value(s) of types {[str(t) for t in dtypes]}; return one per value")
    out = []
    for n, (item, dtype) in enumerate(zip(items, dtypes)):
        try:
            expr = as_expr(item, dtype)
        except DefinitionError as err:
            raise DefinitionError(f"{who}: {what} value {n}: {err}") from None
        if expr.dtype is not dtype:
            raise DefinitionError(
                f"{who}: {what} value {n} is {expr} of type {expr.dtype}, but value {n} of the "
                f"reduction has type {dtype}; make them match (e.g. ns.const(v, '{dtype}'))")
        out.append(expr)
    return tuple(out)
