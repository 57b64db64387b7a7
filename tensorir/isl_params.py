"""Size variables in isl sets: the box of an index space with symbolic bounds, and the context
of what every size variable is known to satisfy (its lower bound, its divisor, what was assumed,
and that every tensor dimension is at least 1).

A size variable becomes one more dimension of the set, so a point of a violation names the
values of the size variables at which an access leaves its tensor. Proofs hold for every value
the context allows: an access is refused only when some allowed value makes it leave.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import islpy as isl

from .expr import BinaryOp, Expr, Var, binary
from .symbolic import ShapeVar, assumptions, shape_vars, to_expr

if TYPE_CHECKING:
    from .isl_bridge import IndexSpace

Bound = int | Expr | None


def split_bounds(bounds: dict[Var, tuple[Bound, Bound]], mentions: Iterable[object]
                 ) -> tuple[dict[Var, tuple[int | None, int | None]], dict[Var, tuple[Bound, Bound]],
                            list[ShapeVar]]:
    """The int part of ``bounds`` (symbolic sides left open, size variables appended with their
    lower bounds), the symbolic bounds, and the size variables involved."""
    symbolic = {v: pair for v, pair in bounds.items()
                if any(b is not None and not isinstance(b, int) for b in pair)}
    pairs = [b for pair in symbolic.values() for b in pair if b is not None]
    params = [p for p in shape_vars([*pairs, *mentions]) if p not in bounds]
    static = {v: tuple(b if isinstance(b, int) or b is None else None for b in pair)
              for v, pair in bounds.items()}
    for p in params:
        static[p] = (p.lower, None)
    return static, symbolic, params  # type: ignore[return-value]


def constrain(space: IndexSpace, symbolic: dict[Var, tuple[Bound, Bound]],
              params: Sequence[ShapeVar], positive: Iterable[object]) -> isl.Set:
    """``space``'s box narrowed by the symbolic bounds and the context of ``params``."""
    box = space.box
    for v, (lo, hi) in symbolic.items():
        var = space.aff(v)
        if lo is not None and not isinstance(lo, int):
            box = _meet(box, space, binary(BinaryOp.GE, v, lo), var)
        if hi is not None and not isinstance(hi, int):
            box = _meet(box, space, binary(BinaryOp.LT, v, hi), var)
    for cond in context(params, positive):
        box = _meet(box, space, cond, None)
    return box


def context(params: Sequence[ShapeVar], positive: Iterable[object] = ()) -> list[Expr]:
    """What every allowed value of ``params`` satisfies, as conditions."""
    conds: list[Expr] = []
    for p in params:
        if p.divisor > 1:
            conds.append(binary(BinaryOp.EQ, binary(BinaryOp.FLOORMOD, p, p.divisor), 0))
    conds += assumptions(params)
    for extent in positive:
        if not isinstance(extent, int):
            conds.append(binary(BinaryOp.GE, to_expr(extent), 1))
    return conds


def _meet(box: isl.Set, space: IndexSpace, cond: Expr, _var) -> isl.Set:
    found = space.condition(cond)
    return box if found is None else box.intersect(found)


def always(cond: Expr, positive: Iterable[object] = ()) -> bool:
    """Whether ``cond`` (over size variables) holds for every value their context allows."""
    from .isl_bridge import IndexSpace

    space = IndexSpace({}, mentions=[cond, *positive], positive=positive)
    failing = space.condition(cond, holds=False)
    if failing is None:
        return False
    return failing.intersect(space.box).is_empty()


def example(space: IndexSpace, where: isl.Set) -> dict[Var, int]:
    """The values of the size variables at the first point of ``where``."""
    point = where.lexmin().sample_point()
    return {v: n for v, n in space.values(point).items() if isinstance(v, ShapeVar)}


def first_out_of_bounds_symbolic(var: Var, accesses, known) -> Expr | None:
    """The least ``v >= 0`` of ``var`` at which an access may leave its dimension, as an affine
    expression of the size variables; None when there is no such single expression.

    See :func:`tensorir.isl_bridge.first_out_of_bounds`; here extents and the ranges of the
    ``known`` indices may be symbolic.
    """
    from .isl_bridge import IndexSpace

    extents = [e for _, e in accesses]
    space = IndexSpace({var: (0, None), **known}, mentions=[*extents, *(a for a, _ in accesses)],
                       positive=extents)
    bad = isl.Set.empty(space.box.get_space())
    for subscript, extent in accesses:
        aff, top = space.aff(subscript), space.aff(to_expr(extent))
        if aff is not None and top is not None:
            bad = bad.union(aff.lt_set(space.constant(0))).union(aff.ge_set(top))
    bad = bad.intersect(space.box)
    sizes = [v for v in space.variables if isinstance(v, ShapeVar)]
    first = 1 + len(known)
    bad = bad.move_dims(isl.dim_type.param, 0, isl.dim_type.set, first, len(sizes))
    bad = bad.project_out(isl.dim_type.set, 1, len(known))
    pieces = bad.dim_min(0).coalesce().get_pieces()
    if len(pieces) != 1:
        return None
    found = readable_aff(pieces[0][1], sizes)
    if found is None:
        return None
    from .symbolic import as_extent

    return as_extent(found, "range inference")


def _int(v: isl.Val) -> int | None:
    return int(v.to_python()) if v.is_int() else None


def readable_aff(aff: isl.Aff, params: Sequence[Var]) -> Expr | None:
    """An isl affine function of ``params`` as an expression written as a person would: terms
    with their coefficients, floor divisions, the constant last (``m - 1``, ``m - m // 2``)."""
    terms: list[tuple[int, Expr]] = []
    for i, var in enumerate(params):
        c = _int(aff.get_coefficient_val(isl.dim_type.param, i))
        if c is None:
            return None
        if c:
            terms.append((c, var))
    for j in range(aff.dim(isl.dim_type.div)):
        c = _int(aff.get_coefficient_val(isl.dim_type.div, j))
        if c is None:
            return None
        if c:
            div = aff.get_div(j)
            den = _int(div.get_denominator_val())
            numerator = readable_aff(div.scale_val(isl.Val(den)), params) if den else None
            if numerator is None:
                return None
            terms.append((c, binary(BinaryOp.FLOORDIV, numerator, den)))
    constant = _int(aff.get_constant_val())
    if constant is None:
        return None
    terms.sort(key=lambda t: t[0] < 0)  # positive terms first
    total: Expr | None = None
    for c, term in terms + ([(constant, None)] if constant else []):
        part = term if term is not None and abs(c) == 1 else (
            binary(BinaryOp.MUL, abs(c), term) if term is not None else abs(c))
        if total is None:
            total = part if c > 0 else binary(BinaryOp.SUB, 0, part)
        else:
            total = binary(BinaryOp.ADD if c > 0 else BinaryOp.SUB, total, part)
    return total if total is not None else to_expr(0)
