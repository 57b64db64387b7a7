"""Regions through islpy: the box of tensor elements that a set of loop iterations reads
(expressions become isl affine forms through :class:`tensorir.isl_bridge.IndexSpace`).

Callers pass loop variables with constant boxes, the variables to treat as fixed parameters,
and access index expressions; they get back, per dimension, the lowest index as an expression
of the parameters and the largest extent over all parameter values. No isl object leaves here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import islpy as isl

from .expr import BinaryOp, Expr, Var, binary, const
from .isl_bridge import IndexSpace
from .symbolic import ShapeVar, shape_vars, to_expr
from .visitor import substitute, walk


@dataclass(frozen=True)
class LoopBox:
    var: Var
    min: int
    extent: int


@dataclass(frozen=True)
class DimRegion:
    """Indices ``base .. base + extent`` (``base`` an expression of the parameters)."""

    base: Expr
    extent: int
    #: the lowest index needed, and the highest index the box reaches, over all parameter values
    lowest: int
    top: int | None


def _val(v: isl.Val) -> int | None:
    if not v.is_int():
        return None
    return int(v.to_python())


def aff_expr(aff: isl.Aff, params: Sequence[Var], dim=isl.dim_type.param) -> Expr | None:
    """An isl affine expression of ``params`` (its ``dim`` dimensions: parameters, or the input
    dimensions of a map's pieces) as an Expr with integer coefficients and floor divisions; None
    where a coefficient is fractional."""
    dt = isl.dim_type
    total: Expr = const(_val(aff.get_constant_val()) or 0)
    if not aff.get_constant_val().is_int():
        return None
    for i, var in enumerate(params):
        c = _val(aff.get_coefficient_val(dim, i))
        if c is None:
            return None
        if c:
            total = binary(BinaryOp.ADD, total, var if c == 1 else binary(BinaryOp.MUL, c, var))
    for j in range(aff.dim(dt.div)):
        c = _val(aff.get_coefficient_val(dt.div, j))
        if c is None:
            return None
        if not c:
            continue
        div = aff.get_div(j)
        den = _val(div.get_denominator_val())
        numerator = aff_expr(div.scale_val(isl.Val(den)), params, dim) if den else None
        if numerator is None:
            return None
        term = binary(BinaryOp.FLOORDIV, numerator, den)
        total = binary(BinaryOp.ADD, total, term if c == 1 else binary(BinaryOp.MUL, c, term))
    return total


def access_box(loops: Sequence[LoopBox], params: Sequence[Var],
               accesses: Sequence[Sequence[Expr]]) -> list[DimRegion | None]:
    """Per dimension, the box of indices that ``accesses`` reach while the loops that are not
    ``params`` run over their boxes (params fixed); None for a dimension that isl cannot bound
    (non-affine subscripts, or a lowest index that is not one affine expression)."""
    if not accesses:
        return []
    fixed = set(params)
    ordered = [box for box in loops if box.var in fixed] + [box for box in loops if box.var not in fixed]
    # size variables are parameters too, before the fixed loops
    sizes = shape_vars([*(b.extent for b in loops), *(b.min for b in loops), *(i for a in accesses for i in a)])
    param_list = [*sizes, *(box.var for box in ordered if box.var in fixed)]
    space = IndexSpace({**{v: (v.lower, None) for v in sizes},
                        **{box.var: (box.min, _end(box)) for box in ordered}})
    # the index at the inner loops' first iteration is the readable way to write the lowest
    # index, when it is the lowest one
    starts = {box.var: to_expr(box.min) for box in ordered if box.var not in fixed}
    result: list[DimRegion | None] = []
    for d in range(len(accesses[0])):
        indices = [access[d] for access in accesses]
        candidates = [substitute(index, starts) for index in indices]
        try:
            image = _image(space, indices, len(param_list))
            result.append(None if image is None else _dim_region(image, param_list, candidates, space))
        except isl.Error:
            # isl bounds quasi-affine pieces (floor and mod of the parameters, as fused and split
            # loops make) only in part; the whole dimension is the safe box then
            result.append(None)
    return result


def _end(box: LoopBox) -> int | Expr:
    if isinstance(box.min, int) and isinstance(box.extent, int):
        return box.min + box.extent
    return to_expr(box.min) + to_expr(box.extent)


def inside(dim: DimRegion, extent: Expr) -> bool:
    """Whether the box ``dim`` always ends inside a dimension of symbolic ``extent``; only a box
    whose base involves no loop is decided (others are clipped by a guard)."""
    if any(isinstance(n, Var) and not isinstance(n, ShapeVar) for n in walk(dim.base)):
        return False
    from .isl_params import always

    return always(binary(BinaryOp.LE, dim.base + dim.extent, extent), [extent])


def _image(space: IndexSpace, indices: Sequence[Expr], nparams: int) -> isl.Set | None:
    """The values ``indices`` take over the box, as a set parametric in the first ``nparams``
    variables."""
    image = None
    for index in indices:
        aff = space.aff(index)
        if aff is None:
            return None
        values = isl.Map.from_aff(aff).intersect_domain(space.box)
        image = values if image is None else image.union(values)
    return image.move_dims(isl.dim_type.param, 0, isl.dim_type.in_, 0, nparams).range().coalesce()


def _readable_base(low: isl.PwAff, candidates, space: IndexSpace, nparams: int) -> Expr | None:
    for candidate in candidates:
        image = _image(space, [candidate], nparams)
        if image is None:
            continue
        difference = image.dim_min(0).sub(low)
        if _val(difference.min_val()) == 0 and _val(difference.max_val()) == 0:
            return candidate
    return None


def _dim_region(image: isl.Set, params: list[Var], candidates, space: IndexSpace) -> DimRegion | None:
    low, high = image.dim_min(0).coalesce(), image.dim_max(0).coalesce()
    width = high.sub(low).add_constant_val(isl.Val(1))
    extent = _val(width.max_val())
    lowest, highest_low = _val(low.min_val()), _val(low.max_val())
    pieces = low.get_pieces()
    if extent is None or lowest is None or len(pieces) != 1:
        return None
    if highest_low is None and not any(isinstance(p, ShapeVar) for p in params):
        return None
    base = _readable_base(low, candidates, space, len(params))
    if base is None:
        base = aff_expr(pieces[0][1], params)
    if base is None:
        return None
    # with size variables the box may reach arbitrarily far: its top is unknown (None)
    top = None if highest_low is None else highest_low + extent - 1
    return DimRegion(base, extent, lowest, top)
