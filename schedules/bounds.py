"""Bound inference: the region of a producer that one iteration of its attach loop needs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from tensorir.buffer import Scope
from tensorir.errors import LoweringError
from tensorir.expr import Const, Expr, TensorLoad, Var, const
from tensorir.isl_regions import LoopBox, access_box, inside
from tensorir.stmt import For, ForKind
from tensorir.symbolic import ShapeVar
from tensorir.visitor import substitute, walk

from .opaque_products import name_products
from .relations import At

if TYPE_CHECKING:
    from .geometry import LoopGeometry
    from .schedule import Schedule, Stage


@dataclass(frozen=True)
class Region:
    """The box ``bases[d] .. bases[d] + shape[d]`` of a producer's indices, per data axis."""

    bases: tuple[Expr, ...]
    shape: tuple[int, ...]
    clip_low: tuple[bool, ...]
    clip_high: tuple[bool, ...]


def _relaxed(loop: For, scope: Scope) -> bool:
    """Whether a producer stored in ``scope`` serves every iteration of ``loop`` at once."""
    if loop.kind is not ForKind.THREAD_BINDING:
        return False
    if scope is Scope.SHARED:
        return loop.thread_tag.startswith("threadIdx")
    return scope is Scope.GLOBAL


def storage_scope(stage: Stage, env: list[For]) -> Scope:
    """Where ``stage``'s buffer lives when computed inside the loops ``env``: the scope it was
    given, else TVM's default for its attach point: ``local`` inside a threadIdx loop (one
    thread's data), ``shared`` inside blockIdx loops only (the block's), ``global`` elsewhere."""
    tags = [loop.thread_tag for loop in env if loop.kind is ForKind.THREAD_BINDING]
    if stage.scope_given or not tags:
        return stage.scope
    return Scope.LOCAL if any(tag.startswith("threadIdx") for tag in tags) else Scope.SHARED


def _reads(producer: Stage, stage: Stage, geo: LoopGeometry, body: Expr) -> list[tuple[Expr, ...]]:
    """The indices of ``producer`` that ``stage`` reads in ``body`` (its body with reads resolved
    to their producers' tensors, see :func:`schedules.lower.stage_body`), as expressions of its
    loop variables."""
    values = {root.var: geo.values[root] for root in stage.root_axes}
    schedule = stage.schedule
    bodies = body if isinstance(body, tuple) else (body,)  # a compute with several outputs
    return [tuple(substitute(i, values) for i in node.indices) for one in bodies for node in walk(one)
            if isinstance(node, TensorLoad) and schedule.stage_of(node.tensor) is producer]


def _boxes(stage: Stage, leaves, geo: LoopGeometry, same: dict | None = None) -> list[LoopBox]:
    reduce_axes = stage.compute_op.reduce_axis
    return [LoopBox(leaf.var, leaf.min if leaf in reduce_axes else 0, geo.extents[leaf]) for leaf in leaves
            if leaf.var not in (same or {})]


def _same_threads(env: list[For], stage: Stage, leaves) -> dict:
    """The loops of ``stage`` bound to a GPU index that an enclosing loop binds already: they
    run as that loop (one thread runs one iteration of both), so each is that loop's variable,
    not a range of its own (TVM's nested binding of one thread axis)."""
    bound = {loop.thread_tag: loop.var for loop in env if loop.kind is ForKind.THREAD_BINDING}
    return {leaf.var: bound[tag] for leaf in leaves if (tag := stage.annotation(leaf).thread_tag) in bound}


def _reads_in(producer: Stage, stage: Stage, geo: LoopGeometry, body: Expr, same: dict):
    return [tuple(substitute(i, same) for i in access) for access in _reads(producer, stage, geo, body)]


def _constant(value: Expr) -> int | Expr:
    match value:
        case Const(value=int() as number):
            return number
    if all(isinstance(n, ShapeVar) or not isinstance(n, Var) for n in walk(value)):
        return value  # a bound of size variables: the region is parametric in them
    raise LoweringError(f"lower: loop bound {value!r} is not a constant integer")


def _env_boxes(env: list[For]) -> list[LoopBox]:
    """The boxes of the loops around the attach point (their bounds are constants here)."""
    return [LoopBox(loop.var, _constant(loop.min), _constant(loop.extent)) for loop in env]


def attached_region(schedule: Schedule, child: Stage, consumer: Stage, geo: LoopGeometry,
                    env: list[For], consumer_body: Expr, siblings=(), deeper=()) -> Region:
    """The box of ``child`` that ``consumer`` reads inside the innermost loop of ``env``, together
    with what ``siblings`` (``(stage, geometry, body)`` of other stages attached at the same
    loop) read of it over their whole nests, and ``deeper`` stages (the same triples, of stages
    computed inside loops within that loop, whose regions are expressions of those loops)."""
    tensor = child.op.output
    match child.attach:
        case At(axis=axis):
            at = consumer.leaves.index(axis)
        case other:
            raise LoweringError(f"lower: stage {child.name} is not attached at a loop ({other})")
    same = _same_threads(env, consumer, consumer.leaves[at + 1:])
    accesses = _reads_in(child, consumer, geo, consumer_body, same)
    boxes = _env_boxes(env) + _boxes(consumer, consumer.leaves[at + 1:], geo, same)
    for sibling, sibling_geo, sibling_body in siblings:
        same = _same_threads(env, sibling, sibling.leaves)
        found = _reads_in(child, sibling, sibling_geo, sibling_body, same)
        if found:
            accesses += found
            boxes += _boxes(sibling, sibling.leaves, sibling_geo, same)
    for inner, inner_geo, inner_body in deeper:  # their loops bound the regions of stages inside
        accesses += _reads(child, inner, inner_geo, inner_body)
        boxes += _boxes(inner, inner.leaves, inner_geo)
    if deeper:  # a sibling may be listed again there, as the stage that holds a deeper reader
        boxes = list({box.var: box for box in boxes}.values())
    scope = storage_scope(child, env)
    params = [loop.var for loop in env if not _relaxed(loop, scope)]
    lowest = {loop.var: loop.min.value for loop in env if isinstance(loop.min, Const) and loop.var in params}
    accesses, products = name_products(accesses, lowest, [loop.extent for loop in env])
    dims = [None if dim is None else replace(dim, base=substitute(dim.base, products))
            for dim in access_box(boxes, params, accesses)]
    bases, shape, low, high = [], [], [], []
    for d, extent in enumerate(tensor.shape):
        dim = dims[d] if d < len(dims) else None
        if not isinstance(extent, int) and dim is not None:
            # a symbolic dimension: the box may pass its end (clipped by a guard) unless proved inside
            bases.append(dim.base)
            shape.append(dim.extent)
            low.append(dim.lowest < 0)
            high.append(not inside(dim, extent))
            continue
        if dim is None or dim.extent >= extent:
            bases.append(const(0))
            shape.append(extent)
            low.append(False)
            high.append(False)
            continue
        bases.append(dim.base)
        shape.append(dim.extent)
        low.append(dim.lowest < 0)
        high.append(dim.top is None or dim.top > extent - 1)
    return Region(tuple(bases), tuple(shape), tuple(low), tuple(high))
