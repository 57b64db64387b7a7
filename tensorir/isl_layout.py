"""The islpy side of a layout transformation (TVM's ``transform_layout``): whether an index
mapping of a box is a bijection onto a box starting at 0, that box's shape, and the inverse
mapping as index expressions.

The mapping ``(i, j, ...) -> (e0, e1, ...)`` is given as quasi-affine index expressions of the
box's variables (sums, constant multiples, ``//`` and ``%`` by positive constants). isl builds the
map over the box, checks it is injective and that its image is exactly a box ``[0, n0) x [0, n1)
...``, and inverts it; the inverse comes back as expressions of the new index variables (with
floor divisions), so no isl object leaves this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import islpy as isl

from .expr import BinaryOp, Expr, Var, binary
from .isl_bridge import IndexSpace, _box_set
from .isl_regions import aff_expr


@dataclass(frozen=True)
class LayoutMap:
    """A bijection onto a box: the box's ``shape`` and the old indices as expressions of the new
    variables (``inverse``, one per old index)."""

    shape: tuple[int, ...]
    inverse: tuple[Expr, ...]


class LayoutRefused(ValueError):
    """Why a mapping is not a layout Nestor can store (the caller words the error)."""


def invert_layout(box: Sequence[tuple[Var, int]], indices: Sequence[Expr], new_vars: Sequence[Var]) -> LayoutMap:
    """The layout that ``indices`` (expressions of the ``box`` variables, each ranging over
    ``[0, extent)``) describe; raises :class:`LayoutRefused` where it is not a bijection onto a box."""
    space = IndexSpace({var: (0, extent) for var, extent in box})
    affs = []
    for n, index in enumerate(indices):
        aff = space.aff(index)
        if aff is None:
            raise LayoutRefused(f"new index {n} ({index}) is not quasi-affine in the axes")
        affs.append(aff)
    if not affs:
        raise LayoutRefused("the mapping returns no index")
    mapping = isl.Map.from_aff(affs[0])
    for aff in affs[1:]:
        mapping = mapping.flat_range_product(isl.Map.from_aff(aff))
    mapping = mapping.intersect_domain(space.box)
    if not mapping.is_injective():
        raise LayoutRefused("two elements would be stored at the same place (the mapping is not one-to-one)")
    shape = _range_box(mapping.range())
    inverse = isl.PwMultiAff.from_map(mapping.reverse())
    target = IndexSpace({var: (0, n) for var, n in zip(new_vars, shape)})
    return LayoutMap(shape, tuple(_inverse_index(inverse.get_pw_aff(d), target, shape, extent)
                                  for d, (_var, extent) in enumerate(box)))


def _range_box(image: isl.Set) -> tuple[int, ...]:
    """The shape of the box that ``image`` is, counted from 0."""
    shape = []
    for d in range(image.dim(isl.dim_type.set)):
        low, high = _constant(image.dim_min(d)), _constant(image.dim_max(d))
        if low != 0:
            raise LayoutRefused(f"new index {d} starts at {low}, not 0 (subtract {low} in the mapping)")
        shape.append(high + 1)
    if not image.is_equal(_box_set(tuple((0, n) for n in shape))):
        raise LayoutRefused(f"the mapped indices do not fill the box of shape {tuple(shape)}; the "
                            "mapping must be a bijection onto a box")
    return tuple(shape)


def _constant(value: isl.PwAff) -> int:
    pieces = value.get_pieces()
    if len(pieces) != 1 or not pieces[0][1].is_cst():
        raise LayoutRefused("the range of a new index is not a constant interval")
    return int(pieces[0][1].get_constant_val().to_python())


def _inverse_index(value: isl.PwAff, target: IndexSpace, shape: tuple[int, ...], extent: int) -> Expr:
    found = _readable(value, target, shape, extent)
    return _pw_expr(value, target.variables) if found is None else found


def _readable(value: isl.PwAff, target: IndexSpace, shape: tuple[int, ...], extent: int) -> Expr | None:
    """The inverse index as a person writes it (``p``, ``p // c``, ``p % n``, ``p // c % n``) where
    one such form equals isl's over the whole new box; None if none does."""
    for var, size in zip(target.variables, shape):
        for c in _divisors(size):
            candidate: Expr = var if c == 1 else binary(BinaryOp.FLOORDIV, var, c)
            if size // c != extent:
                candidate = binary(BinaryOp.FLOORMOD, candidate, extent)
            aff = target.aff(candidate)
            if aff is not None and isl.PwAff.from_aff(aff).intersect_domain(target.box).is_equal(value):
                return candidate
    return None


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(n ** 0.5) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def _pw_expr(value: isl.PwAff, new_vars: Sequence[Var]) -> Expr:
    pieces = value.get_pieces()
    if len(pieces) != 1:
        raise LayoutRefused("the inverse mapping is piecewise; use a mapping whose inverse is one formula")
    expr = aff_expr(pieces[0][1], new_vars, isl.dim_type.in_)
    if expr is None:
        raise LayoutRefused("the inverse mapping has a fractional coefficient")
    return expr
