"""Bound inference: the region of a producer that one iteration of its attach loop needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tensorir.buffer import Scope
from tensorir.expr import Expr, TensorLoad, const
from tensorir.isl_regions import LoopBox, access_box
from tensorir.stmt import For, ForKind
from tensorir.visitor import substitute, walk

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


def attached_region(schedule: Schedule, child: Stage, consumer: Stage, geo: LoopGeometry,
                    env: list[For], consumer_body: Expr) -> Region:
    """The box of ``child`` that ``consumer`` reads inside the innermost loop of ``env``."""
    tensor = child.op.output
    values = {root.var: geo.values[root] for root in consumer.root_axes}
    accesses = [tuple(substitute(i, values) for i in node.indices)
                for node in walk(consumer_body) if isinstance(node, TensorLoad) and node.tensor is tensor]
    at = consumer.leaves.index(child.attach_axis)
    inner = consumer.leaves[at + 1:]
    boxes = [LoopBox(loop.var, loop.min.value, loop.extent.value) for loop in env]  # type: ignore[attr-defined]
    boxes += [LoopBox(leaf.var, leaf.min if leaf in consumer.op.reduce_axis else 0, geo.extents[leaf])
              for leaf in inner]
    params = [loop.var for loop in env if not _relaxed(loop, child.scope)]
    dims = access_box(boxes, params, accesses)
    bases, shape, low, high = [], [], [], []
    for d, extent in enumerate(tensor.shape):
        dim = dims[d] if d < len(dims) else None
        if dim is None or dim.extent >= extent:
            bases.append(const(0))
            shape.append(extent)
            low.append(False)
            high.append(False)
            continue
        bases.append(dim.base)
        shape.append(dim.extent)
        low.append(dim.lowest < 0)
        high.append(dim.top > extent - 1)
    return Region(tuple(bases), tuple(shape), tuple(low), tuple(high))
