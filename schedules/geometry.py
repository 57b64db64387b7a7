"""Loop geometry of a stage: the extent of every loop variable, each root axis as an expression
of the leaf loops, and the guards that imperfect splits and clipped regions need."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tensorir.expr import BinaryOp, Expr, IterVar, binary
from tensorir.symbolic import Extent, divides, mul, to_expr

from .relations import Fuse, Singleton, Split
from .symbolic_split import is_symbolic

if TYPE_CHECKING:
    from .bounds import Region
    from .schedule import Stage


@dataclass
class LoopGeometry:
    extents: dict[IterVar, Extent] = field(default_factory=dict)
    values: dict[IterVar, Expr] = field(default_factory=dict)
    #: (condition, root axes it constrains)
    guards: list[tuple[Expr, frozenset[IterVar]]] = field(default_factory=list)

    def all_guards(self) -> list[Expr]:
        return [g for g, _ in self.guards]

    def guards_without(self, roots: set[IterVar]) -> list[Expr]:
        """Guards that constrain none of ``roots``."""
        return [g for g, constrained in self.guards if not constrained & roots]


def derives(stage: Stage, root: IterVar, iv: IterVar) -> bool:
    """Whether loop ``iv`` is ``root`` or was made from it by splits and fuses."""
    frontier, seen = [root], set()
    while frontier:
        cur = frontier.pop()
        if cur is iv:
            return True
        if cur in seen:
            continue
        seen.add(cur)
        for rel in stage.relations:
            match rel:
                case Split(parent=parent, outer=outer, inner=inner) if parent is cur:
                    frontier += [outer, inner]
                case Fuse(outer=outer, inner=inner, fused=fused) if cur is outer or cur is inner:
                    frontier.append(fused)
    return False


def _extents(stage: Stage, region: Region | None) -> dict[IterVar, Extent]:
    extents: dict[IterVar, Extent] = {}
    for d, root in enumerate(stage.root_axes):
        extents[root] = region.shape[d] if region is not None and d < len(region.shape) else root.extent
    for rel in stage.relations:
        match rel:
            case Split():
                extents[rel.outer], extents[rel.inner] = rel.extents(extents[rel.parent])
            case Fuse():
                extents[rel.fused] = mul(extents[rel.outer], extents[rel.inner])
            case Singleton():
                extents[rel.fused] = 1
    return extents


def _guarded(split: Split, extents: dict[IterVar, Extent]) -> bool:
    """Whether ``split``'s loops run past its parent's extent (nparts of 5 over 12 do, though 3
    divides 12); a symbolic extent where the factor (or nparts) may not divide it."""
    parent = extents[split.parent]
    if is_symbolic(split):  # the amount is bound at run time: the tail guard is kept, exact
        return True
    if isinstance(parent, int):
        return extents[split.outer] * extents[split.inner] > parent
    if split.nparts is not None:  # nparts * ceil(n / nparts) is n exactly where nparts divides n
        return not divides(split.nparts, parent)
    return not divides(extents[split.inner], parent)


def loop_geometry(stage: Stage, region: Region | None = None) -> LoopGeometry:
    """The geometry of ``stage``; with a ``region``, its data axes cover that region only."""
    geo = LoopGeometry(_extents(stage, region))
    split_of = {r.parent: r for r in stage.relations if isinstance(r, Split)}
    fused_into: dict[IterVar, Fuse] = {}
    for r in stage.relations:
        if isinstance(r, Fuse):
            fused_into[r.outer] = fused_into[r.inner] = r
    memo: dict[IterVar, Expr] = {}

    def offset(iv: IterVar) -> Expr:
        """The 0-based position of ``iv`` as an expression of the leaf loop variables."""
        if iv not in memo:
            if iv in split_of:
                split = split_of[iv]
                memo[iv] = binary(BinaryOp.ADD, binary(BinaryOp.MUL, offset(split.outer),
                                                       geo.extents[split.inner]), offset(split.inner))
            elif iv in fused_into:
                fuse = fused_into[iv]
                op = BinaryOp.FLOORDIV if iv is fuse.outer else BinaryOp.FLOORMOD
                memo[iv] = binary(op, offset(fuse.fused), to_expr(geo.extents[fuse.inner]))
            elif iv.min and iv in stage.root_axes:
                memo[iv] = binary(BinaryOp.SUB, iv.var, iv.min)
            else:
                memo[iv] = iv.var
        return memo[iv]

    data_axes = stage.compute_op.axis
    for d, root in enumerate(stage.root_axes):
        if root in stage.leaves:
            value = root.var
        else:
            value = binary(BinaryOp.ADD, offset(root), root.min) if root.min else offset(root)
        if region is not None and d < len(data_axes):
            value = binary(BinaryOp.ADD, region.bases[d], value)
        geo.values[root] = value
    for rel in stage.relations:
        if isinstance(rel, Split) and _guarded(rel, geo.extents):
            cond = binary(BinaryOp.LT, offset(rel.parent), to_expr(geo.extents[rel.parent]))
            geo.guards.append((cond, frozenset(r for r in stage.root_axes if derives(stage, r, rel.parent))))
    if region is not None:
        for d, root in enumerate(data_axes):
            if region.clip_low[d]:
                geo.guards.append((binary(BinaryOp.GE, geo.values[root], 0), frozenset({root})))
            if region.clip_high[d]:
                geo.guards.append((binary(BinaryOp.LT, geo.values[root], to_expr(root.extent)), frozenset({root})))
    return geo
