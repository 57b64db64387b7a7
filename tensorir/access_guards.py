"""Run-time checks of the subscripts that no proof bounds, and the user's ways out of them.

Every access of a compute definition is proved in bounds with isl where its subscript is
affine (:mod:`tensorir.isl_bridge`), or refused. A subscript with no affine form (one that reads
a tensor, ``A[I[i]]``, or multiplies indices) is bounded here by interval arithmetic over the
axis ranges; where that fails too it is wrapped in a :class:`~tensorir.expr.CheckedIndex`,
which every backend checks when it runs (and which never lets the kernel touch memory outside
the tensor). Statically bounded subscripts carry no check.

The opt-outs: ``ns.assume_in_bounds(index)`` (the user promises; no check) and
``A.at(*indices, mode=...)`` with ``"clip"`` (clamp into the dimension) or ``"wrap"`` (floor
modulo the extent), whose results are bounded by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

from .analysis import interval
from .dtypes import INDEX, INDEX_TYPES
from .errors import DefinitionError, OutOfBoundsError
from .expr import (
    Binary,
    BinaryOp,
    Call,
    Cast,
    CheckedIndex,
    Const,
    Expr,
    Func,
    IterVar,
    Reduce,
    Select,
    TensorLoad,
    as_expr,
    binary,
)
from .isl_bridge import is_quasi_affine
from .stmt import PrimFunc
from .visitor import Mutator, walk

#: access modes of :meth:`Tensor.at <tensorir.tensor.Tensor.at>`
MODES = ("check", "clip", "wrap", "assume")
Bounds = tuple[int | None, int | None]


def assume_in_bounds(index) -> Expr:
    """``index``, promised by the caller to lie inside the dimension it subscripts: no run-time
    check is emitted for it (an index outside is undefined behaviour, as in C)."""
    expr = as_expr(index, INDEX)
    if not expr.dtype.is_int:
        raise DefinitionError(
            f"assume_in_bounds({expr}): the index has type {expr.dtype}; subscripts are integer "
            "expressions (use .astype('int32'))")
    return Call(Func.ASSUME_IN_BOUNDS, (expr,), expr.dtype)


def index_in_mode(index: Expr, extent: int, mode: str, who: str) -> Expr:
    """``index`` made to fit ``0..extent`` as access ``mode`` says (see :data:`MODES`)."""
    match mode:
        case "check":
            return index
        case "clip":
            return binary(BinaryOp.MAX, 0, binary(BinaryOp.MIN, index, extent - 1))
        case "wrap":
            return binary(BinaryOp.FLOORMOD, index, extent)
        case "assume":
            return assume_in_bounds(index)
    raise DefinitionError(f"{who}: mode={mode!r} is not an access mode; use one of {', '.join(MODES)}")


def guard_accesses(name: str, axis: Sequence[IterVar], body: Expr) -> Expr:
    """``body`` with a :class:`CheckedIndex` around every subscript that neither isl nor interval
    arithmetic bounds, and without the ``assume_in_bounds`` promises (they have been heard)."""
    reduce_axes = body.axes if isinstance(body, Reduce) else ()
    # interval arithmetic takes constant ranges; a symbolic one bounds nothing here
    ranges = {iv.var: (iv.min, iv.min + iv.extent - 1) for iv in (*axis, *reduce_axes)
              if isinstance(iv.min, int) and isinstance(iv.extent, int)}
    if not any(isinstance(n, (TensorLoad, Call)) for n in walk(body)):
        return body
    return _Guard(name, ranges)(body)


class _Guard(Mutator):
    def __init__(self, name: str, ranges: dict) -> None:
        super().__init__()
        self.name, self.ranges = name, ranges

    def rewrite(self, node):
        match node:
            case Call(func=Func.ASSUME_IN_BOUNDS, args=(value,)):
                return self.visit(value)
            case TensorLoad(tensor=tensor, indices=indices):
                guarded = tuple(self.subscript(node, dim, index) for dim, index in enumerate(indices))
                changed = any(a is not b for a, b in zip(guarded, indices))
                return TensorLoad(tensor, guarded, node.dtype) if changed else node
        return None

    def subscript(self, load: TensorLoad, dim: int, index: Expr) -> Expr:
        promised = isinstance(index, Call) and index.func is Func.ASSUME_IN_BOUNDS
        inner = self.visit(index)
        extent = load.tensor.shape[dim]
        if promised or is_quasi_affine(index):  # affine ones were proved by isl_bridge
            return inner
        low, high = bounds(inner, self.ranges)
        if low is not None and high is not None and low >= 0 and high < extent:
            return inner
        site = (f"compute {self.name}: the access {load} reads dimension {dim} of "
                f"{load.tensor.name} (shape {list(load.tensor.shape)}) at index {index}")
        return CheckedIndex(inner, extent, site, inner.dtype)


def bounds(e: Expr, ranges: dict) -> Bounds:
    """Inclusive bounds of integer ``e``, either side None where unknown (a load, a product of
    unknowns); ``min``/``max`` and modulo by a constant bound one side or both."""
    exact = interval(e, ranges)
    if exact is not None:
        return exact
    match e:
        case CheckedIndex(extent=extent):
            return 0, extent - 1
        case Cast(value=value) if value.dtype.is_int and e.dtype.is_int:
            inner = bounds(value, ranges)
            if _fits(inner, e.dtype):  # a conversion that keeps every value
                return inner
        case Binary(op=BinaryOp.FLOORMOD, b=Const(value=d)) if isinstance(d, int) and d > 0:
            return 0, d - 1
        case Binary(op=BinaryOp.MIN | BinaryOp.MAX as op, a=a, b=b):
            return _min_max(op, bounds(a, ranges), bounds(b, ranges))
        case Select(true_value=t, false_value=f):
            (lt, ht), (lf, hf) = bounds(t, ranges), bounds(f, ranges)
            return (None if lt is None or lf is None else min(lt, lf),
                    None if ht is None or hf is None else max(ht, hf))
    if e.dtype.is_int and e.dtype not in INDEX_TYPES:  # a narrow or unsigned type bounds its values
        return e.dtype.min, e.dtype.max
    return None, None


def _fits(known: Bounds, dtype) -> bool:
    low, high = known
    return low is not None and high is not None and dtype.min <= low and high <= dtype.max


def _min_max(op: BinaryOp, a: Bounds, b: Bounds) -> Bounds:
    """Bounds of ``min(a, b)`` (``max`` mirrors it): its upper bound is either known upper
    bound, its lower bound needs both lower bounds."""
    if op is BinaryOp.MAX:
        low, high = _min_max(BinaryOp.MIN, _negated(a), _negated(b))
        return _negated((low, high))
    uppers = [x for x in (a[1], b[1]) if x is not None]
    lower = None if a[0] is None or b[0] is None else min(a[0], b[0])
    return lower, (min(uppers) if uppers else None)


def _negated(side: Bounds) -> Bounds:
    return (None if side[1] is None else -side[1]), (None if side[0] is None else -side[0])


def runtime_checks(func: PrimFunc) -> tuple[CheckedIndex, ...]:
    """The checks of ``func`` with one entry per distinct site and extent, in a fixed order:
    position ``n`` is the check a kernel reports as ``n + 1`` (its status slot)."""
    sites = {(n.site, n.extent): n for n in walk(func.body) if isinstance(n, CheckedIndex)}
    return tuple(sites[key] for key in sorted(sites))


def site_number(checks: Sequence[CheckedIndex], node: CheckedIndex) -> int:
    """The number (from 1) that a kernel reports for the check ``node``."""
    for position, check in enumerate(checks):
        if check.site == node.site and check.extent == node.extent:
            return position + 1
    raise KeyError(node.site)


def out_of_bounds(site: str, extent: int, value: int, backend: str) -> OutOfBoundsError:
    """The error for the check at ``site`` (see :class:`CheckedIndex`) failing with ``value``."""
    return OutOfBoundsError(
        f"{backend}: {site} = {value}, outside 0..{extent - 1}; guard it with "
        "if_then_else(...), clamp or wrap it with .at(..., mode='clip' or 'wrap'), or fix the "
        "index data")
