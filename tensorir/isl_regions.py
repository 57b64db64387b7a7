"""Bridge to islpy for regions: the box of tensor elements that a set of loop iterations reads.

Callers pass loop variables with constant boxes, the variables to treat as fixed parameters,
and access index expressions; they get back, per dimension, the lowest index as an expression
of the parameters and the largest extent over all parameter values. No isl object leaves here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import islpy as isl

from .expr import Binary, BinaryOp, Const, Expr, Var, binary, const
from .visitor import substitute


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
    top: int


def _isl_text(e: Expr, names: dict[Var, str]) -> str | None:
    """``e`` in isl's syntax, or None where it is not quasi-affine."""
    match e:
        case Var():
            return names.get(e)
        case Const(value=value) if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        case Binary(op=BinaryOp.ADD | BinaryOp.SUB, a=a, b=b):
            ta, tb = _isl_text(a, names), _isl_text(b, names)
            if ta is None or tb is None:
                return None
            return f"({ta} {e.op.value} {tb})"
        case Binary(op=BinaryOp.MUL, a=a, b=b):
            if isinstance(b, Const):
                a, b = b, a
            if not isinstance(a, Const) or not isinstance(a.value, int):
                return None
            tb = _isl_text(b, names)
            return None if tb is None else f"({a.value} * {tb})"
        case Binary(op=BinaryOp.FLOORDIV | BinaryOp.FLOORMOD, a=a, b=Const(value=d)) \
                if isinstance(d, int) and d > 0:
            ta = _isl_text(a, names)
            if ta is None:
                return None
            return f"floor({ta} / {d})" if e.op is BinaryOp.FLOORDIV else f"({ta} mod {d})"
    return None


def _val(v: isl.Val) -> int | None:
    if not v.is_int():
        return None
    return int(v.to_python())


def _aff_expr(aff: isl.Aff, params: list[Var]) -> Expr | None:
    """An isl affine expression of the parameters as an Expr (integer coefficients, floor divs)."""
    dt = isl.dim_type
    total: Expr = const(_val(aff.get_constant_val()) or 0)
    if not aff.get_constant_val().is_int():
        return None
    for i, var in enumerate(params):
        c = _val(aff.get_coefficient_val(dt.param, i))
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
        numerator = _aff_expr(div.scale_val(isl.Val(den)), params) if den else None
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
    ndim = len(accesses[0])
    names = {box.var: f"v{i}" for i, box in enumerate(loops)}
    param_list = [box.var for box in loops if box.var in set(params)]
    inner = [box for box in loops if box.var not in set(params)]
    bounds = " and ".join(f"{box.min} <= {names[box.var]} < {box.min + box.extent}" for box in loops)
    header = f"[{', '.join(names[v] for v in param_list)}] -> "
    texts = []
    for access in accesses:
        texts.append([_isl_text(index, names) for index in access])
    result: list[DimRegion | None] = []
    for d in range(ndim):
        if any(t[d] is None for t in texts):
            result.append(None)
            continue
        pieces = " ; ".join(
            f"[{', '.join(names[b.var] for b in inner)}] -> [{t[d]}]" for t in texts)
        domain = isl.Set(f"{header}{{ [{', '.join(names[b.var] for b in inner)}] : {bounds} }}")
        image = domain.apply(_union_map(header, pieces)).coalesce()
        # the index at the inner loops' first iteration is the readable way to write the lowest
        # index, when it is the lowest one
        starts = {box.var: const(box.min) for box in inner}
        candidates = [substitute(access[d], starts) for access in accesses]
        result.append(_dim_region(image, param_list, candidates, header, names))
    return result


def _union_map(header: str, pieces: str) -> isl.Map:
    union = isl.UnionMap(f"{header}{{ {pieces} }}")
    maps: list[isl.Map] = []
    union.foreach_map(maps.append)
    combined = maps[0]
    for m in maps[1:]:
        combined = combined.union(m)
    return combined


def _readable_base(low: isl.PwAff, candidates, header: str, names) -> Expr | None:
    for candidate in candidates:
        text = _isl_text(candidate, names)
        if text is None:
            continue
        difference = isl.PwAff(f"{header}{{ [({text})] }}").sub(low)
        if _val(difference.min_val()) == 0 and _val(difference.max_val()) == 0:
            return candidate
    return None


def _dim_region(image: isl.Set, params: list[Var], candidates=(), header: str = "", names=None) -> DimRegion | None:
    low, high = image.dim_min(0).coalesce(), image.dim_max(0).coalesce()
    width = high.sub(low).add_constant_val(isl.Val(1))
    extent = _val(width.max_val())
    lowest, highest_low = _val(low.min_val()), _val(low.max_val())
    pieces = low.get_pieces()
    if extent is None or lowest is None or highest_low is None or len(pieces) != 1:
        return None
    base = _readable_base(low, candidates, header, names or {})
    if base is None:
        base = _aff_expr(pieces[0][1], params)
    if base is None:
        return None
    return DimRegion(base, extent, lowest, highest_low + extent - 1)
