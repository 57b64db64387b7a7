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
