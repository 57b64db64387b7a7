"""The cache of ``cache_write`` on a stage whose loops were already split, fused or reordered.

As in TVM, the loop structure is carried to the cache: the cache tensor has one axis per
data-parallel loop of the stage, in loop order (``i.outer.c``, ``i.inner.c``: a relayout whose
extents are the loops'), computing the original body at the loops' values, and the stage
becomes a plain copy out of the cache (its loops reset to its output axes). Where a split
does not divide its extent, the cache's extra elements combine nothing (a reduction's start
value) or hold 0, and are never read. A split or fused reduction loop is refused: the reduction moves to the
cache, so its loops are scheduled there.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from tensorir.conditions import conjunction
from tensorir.errors import ScheduleError
from tensorir.expr import BinaryOp, Const, Expr, IterKind, IterVar, Reduce, Select, Var, binary
from tensorir.visitor import substitute

from .geometry import loop_geometry
from .relations import Fuse, Singleton, Split

if TYPE_CHECKING:
    from .schedule import Stage


def reshaped(stage: Stage) -> bool:
    """Whether the stage's loops are no longer its output axes in their order."""
    return bool(stage.relations) or list(stage.leaves) != list(stage.root_axes)


def relayout(stage: Stage, call: str) -> tuple[tuple[IterVar, ...], tuple[Expr, ...], tuple[Expr, ...]]:
    """The cache's axes, its bodies (one per output), and where the copy reads it (as
    expressions of the stage's output axes)."""
    _check_reduce_loops(stage, call)
    op = stage.compute_op
    geo = loop_geometry(stage)
    loops = [leaf for leaf in stage.leaves if leaf.kind is IterKind.DATA_PAR]
    axes = tuple(IterVar(Var(f"{leaf.name}.c"), 0, geo.extents[leaf], IterKind.DATA_PAR) for leaf in loops)
    to_axes = {leaf.var: axis.var for leaf, axis in zip(loops, axes)}
    values = {root.var: substitute(geo.values[root], to_axes) for root in op.axis}
    guards = [substitute(guard, to_axes) for guard in geo.all_guards()]
    bodies = tuple(_guarded(substitute(body, values), guards) for body in op.bodies)
    read = _loop_values(stage, geo.extents)
    return axes, bodies, tuple(read[leaf] for leaf in loops)


def _check_reduce_loops(stage: Stage, call: str) -> None:
    touched = [loop for loop in map(_reduce_loop_of, stage.relations) if loop is not None]
    if touched:
        loop = touched[0]
        raise ScheduleError(
            f"s.{call}: reduce loop {loop.name} of {stage.name} is already split or fused, but the "
            f"reduction moves to the cache stage; call cache_write first and split {loop.name} "
            "on the cache stage")


def _reduce_loop_of(rel) -> IterVar | None:
    """The reduce loop that ``rel`` splits or fuses (a data loop fused with one included)."""
    match rel:
        case Split(parent=parent) if parent.kind is IterKind.REDUCE:
            return parent
        case Fuse(outer=outer, inner=inner):
            return next((iv for iv in (outer, inner) if iv.kind is IterKind.REDUCE), None)
    return None


def _guarded(body: Expr, guards: list[Expr]) -> Expr:
    """``body`` computed only where the loops are inside the extents (a reduction combines
    nothing elsewhere, as TVM's predicate on the cache does, and its init= reads nothing there)."""
    if not guards:
        return body
    cond = conjunction(guards)
    if isinstance(body, Reduce):
        where = cond if body.condition is None else binary(BinaryOp.AND, body.condition, cond)
        init = None if body.init is None else _selected(cond, body.init)
        return replace(body, condition=where, init=init)
    return _selected(cond, body)


def _selected(cond: Expr, value: Expr) -> Expr:
    """``value`` where ``cond`` holds, else zero (only the chosen side is evaluated)."""
    return Select(cond, value, Const(0.0 if value.dtype.is_float else 0, value.dtype), value.dtype)


def _loop_values(stage: Stage, extents: dict[IterVar, int]) -> dict[IterVar, Expr]:
    """Every loop of ``stage`` as an expression of its output axes (TVM's PassDownIndex)."""
    values: dict[IterVar, Expr] = {root: root.var for root in stage.compute_op.axis}
    for rel in stage.relations:
        match rel:
            case Split(parent=parent, outer=outer, inner=inner) if parent in values:
                values[outer] = binary(BinaryOp.FLOORDIV, values[parent], extents[inner])
                values[inner] = binary(BinaryOp.FLOORMOD, values[parent], extents[inner])
            case Fuse(outer=outer, inner=inner, fused=fused) if outer in values:
                values[fused] = binary(BinaryOp.ADD, binary(BinaryOp.MUL, values[outer], extents[inner]),
                                       values[inner])
            case Singleton(fused=fused):
                values[fused] = Const(0, fused.var.dtype)
    return values
