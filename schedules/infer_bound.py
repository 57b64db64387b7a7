"""``infer_bound(s)``: the range of every loop and of every stage's axes, as TVM's
``te.schedule.InferBound`` reports them: the axes of a stage computed inside a loop
(``compute_at``) range over the region that loop needs (its ``min`` an expression of the
enclosing loops), every other loop over its full extent.

The regions are those the lowering computes (exact, with isl), so what this reports is what
``lower`` allocates and loops over.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.expr import Expr, IterVar
from tensorir.symbolic import same_extent
from tensorir.tensor import ComputeOp, PlaceholderOp

from .geometry import loop_geometry
from .lower import Lowering
from .relations import AtRoot
from .scan_lowering import alias_scan_buffers, root_nest


class Constant(int):
    """A constant bound; ``.value`` as TVM's ``IntImm`` has it."""

    @property
    def value(self) -> int:
        return int(self)


class Symbolic:
    """A bound that depends on size variables or enclosing loops; ``==`` compares it
    symbolically with another extent (``bounds[xo].extent == m``)."""

    def __init__(self, expr: Expr):
        self.expr = expr

    def __eq__(self, other: object) -> bool:
        other = other.expr if isinstance(other, Symbolic) else other
        try:
            return same_extent(self.expr, other)
        except Exception:  # noqa: BLE001 - not an extent: simply not equal
            return False

    __hash__ = object.__hash__

    @property
    def value(self):
        raise AttributeError(f"the bound {self.expr} is symbolic and has no constant .value; compare it with == "
                             "or read .expr")

    def __repr__(self) -> str:
        return str(self.expr)


@dataclass(frozen=True)
class Range:
    """``min`` and ``extent`` of one loop or axis."""

    min: Constant | Symbolic
    extent: Constant | Symbolic


def _bound(value) -> Constant | Symbolic:
    from tensorir.passes.simplify import simplify_expr
    from tensorir.symbolic import fold

    value = fold(simplify_expr(value)) if isinstance(value, Expr) else value
    return Constant(value) if isinstance(value, int) else Symbolic(value)


def _regions(schedule) -> dict:
    """Lower ``schedule``'s nest (without passes) and keep the region of every attached stage."""
    args = [s.op.output for s in schedule.stages if isinstance(s.op, PlaceholderOp) and schedule.readers(s)]
    args += list(schedule.output_tensors)
    lowering = Lowering(schedule, args, "infer_bound")
    for a in args:
        lowering.make_buffer(schedule.stage_of(a), a.shape, a.value_index)
    alias_scan_buffers(lowering)
    roots = [s for s in schedule.stages if isinstance(s.op, ComputeOp) and isinstance(s.attach, AtRoot)]
    for stage in roots:
        lowering.make_buffers(stage, stage.op.shape)
    for stage in roots:
        root_nest(lowering, stage)
    return lowering.regions


def infer_bound(schedule) -> dict[IterVar, Range]:
    """The ``Range`` of every axis and loop of every compute stage of ``schedule``, keyed by its
    IterVar (``bounds[s[B].op.axis[0]].extent``, ``bounds[xo].extent``)."""
    regions = _regions(schedule)
    bounds: dict[IterVar, Range] = {}
    for stage in schedule.stages:
        steps = getattr(stage.op, "scan_axis", None)  # a scan: the steps its updates compute
        if steps is not None:
            bounds[steps] = Range(_bound(steps.min), _bound(steps.extent))
        if not isinstance(stage.op, ComputeOp):
            continue
        region = regions.get(stage)
        geo = loop_geometry(stage, region)
        data = list(stage.compute_op.axis)
        for iv, extent in geo.extents.items():
            low = iv.min if iv in stage.root_axes else 0
            if region is not None and iv in data and data.index(iv) < len(region.bases):
                low = region.bases[data.index(iv)]
            bounds[iv] = Range(_bound(low), _bound(extent))
    return bounds
