"""Generic CPU schedules for kernels without a template of their own, and when threads pay.

Elementwise maps: one flat loop of vectors (``fuse`` + ``split`` + ``vectorize``), or, with
broadcast operands, the innermost axis in vectors. Reductions: the innermost data axis in
vectors with the reduction loops outside it where the data is laid out that way. Register
tiles of chosen axes (:func:`register_tiled`, the frontend's convolutions). Threads are started
only for large kernels: a parallel loop costs a thread-team start (microseconds), and most
kernels of a small network take less than that. The frontend schedules every kernel that is
not a dedicated template with these.
"""

from __future__ import annotations

from schedules.relations import AtRoot
from tensorir import config
from tensorir.expr import Reduce

from .size_hints import hint

#: SIMD lanes of float32 vector loops (AVX-512: 16)
VECTOR = 16


def worth_parallel(work: int, outer_extent: int) -> bool:
    """Whether a loop nest of ``work`` scalar operations should split its outer loop over threads.

    Below ``config.PARALLEL_MIN`` operations (NESTOR_PARALLEL_MIN; 4M by default) a kernel stays
    on one thread. Parallel loops hand out chunks from a shared counter, so a busy core slows a
    team little; on 2 cores, 4M operations is where a thread team started to pay (CNN step 18.1
    -> 13.4 ms; the MLP step's kernels stay below it).
    """
    return hint(work) >= config.PARALLEL_MIN() and hint(outer_extent) > 1


def _size(shape) -> int:
    total = 1
    for extent in shape:
        total *= hint(extent)
    return total


def flat_vector(s, out, vector: int = VECTOR) -> None:
    """Fuse every axis of ``out`` into one loop of ``vector``-wide vectors (threads if large)."""
    stage = s[out]
    axes = list(stage.op.axis)
    fused = stage.fuse(*axes) if len(axes) > 1 else axes[0]
    if hint(fused.extent) < vector:
        return
    outer, inner = stage.split(fused, factor=vector)
    stage.vectorize(inner)
    if worth_parallel(fused.extent, outer.extent):
        stage.parallel(outer)


def innermost_vector(s, out, vector: int = VECTOR) -> None:
    """Vectorize the innermost data axis of ``out`` (reductions stay outside it); threads over the
    outermost data axis if the nest is large."""
    stage = s[out]
    axes = list(stage.op.axis)
    reduce_axes = list(stage.op.reduce_axis)
    last = axes[-1]
    if reduce_axes:
        stage.reorder(*axes[:-1], *reduce_axes, last)
    if hint(last.extent) >= vector:
        _, inner = stage.split(last, factor=vector)
        stage.vectorize(inner)
    work = _size(out.shape) * max(1, _size([r.extent for r in reduce_axes]))
    if len(axes) > 1 and worth_parallel(work, axes[0].extent):
        stage.parallel(axes[0])


def generic(s, out, config: dict) -> None:
    """The default schedule of one output: flat vectors for 1-D maps, the innermost axis in
    vectors for other maps, threads over the outer loop for large reductions."""
    stage = s[out]
    vector = config.get("vector", VECTOR)
    if isinstance(stage.op.body, Reduce):
        axes, reduce_axes = stage.op.axis, stage.op.reduce_axis
        work = _size(out.shape) * _size([r.extent for r in reduce_axes])
        if worth_parallel(work, axes[0].extent):
            stage.parallel(axes[0])
    elif len(out.shape) == 1:
        flat_vector(s, out, vector)
    else:
        innermost_vector(s, out, vector)


def register_tiled(s, out, channel: int, vector: int, config: dict, second: int | None = None) -> None:
    """Keep ``tile_c`` x ``tile_2`` x ``tile_v`` outputs (axes ``channel`` x ``second`` x
    ``vector``, the last vectorized) in registers while the reduction runs, so that each value
    loaded serves several accumulators; the other root stages get :func:`generic`, and threads
    run over the outer axes when the nest is large."""
    local = s.cache_write(out, "local")
    axes = list(out.op.axis)
    tiles = {channel: min(config.get("tile_c", 8), axes[channel].extent),
             vector: min(config.get("tile_v", 16), axes[vector].extent)}
    if second is not None and config.get("tile_2", 1) > 1 and axes[second].extent > 1:
        tiles[second] = min(config["tile_2"], axes[second].extent)
    split = {position: s[out].split(axes[position], factor=factor) for position, factor in tiles.items()}
    outer = [split[p][0] if p in split else a for p, a in enumerate(axes) if p != vector]
    inner = [split[p][1] for p in sorted(split) if p != vector]
    s[out].reorder(*outer, split[vector][0], *inner, split[vector][1])
    s[local].compute_at(s[out], split[vector][0])
    laxes, lreduce = list(s[local].op.axis), list(s[local].op.reduce_axis)
    tiled = [laxes[p] for p in sorted(split) if p != vector]
    s[local].reorder(*[a for p, a in enumerate(laxes) if p not in split], *lreduce, *tiled, laxes[vector])
    for axis in tiled:
        s[local].unroll(axis)
    s[local].vectorize(laxes[vector])
    s[out].vectorize(split[vector][1])
    for stage in list(s.stages):
        if stage not in (s[out], s[local]) and isinstance(stage.attach, AtRoot) and hasattr(stage.op, "body"):
            generic(s, stage.op.output, {})
    work = _size(out.shape) * _size([r.extent for r in out.op.reduce_axis])
    if worth_parallel(work, axes[0].extent):
        s[out].parallel(outer[0])


def reduce_in_lanes(s, out, vector: int = VECTOR) -> bool:
    """Vectorize a reduction over the innermost axis of its data: ``vector`` partial results
    side by side (``rfactor`` of the reduction's inner part, accumulated as one vector while the
    outer part runs), summed once per output. Only where the innermost reduction has a static
    extent that ``vector`` divides, at least 4 vectors long, and it is the only reduction of
    ``out``; False (nothing changed) otherwise."""
    stage = s[out]
    reduce_axes = list(stage.op.reduce_axis)
    extent = reduce_axes[-1].extent if len(reduce_axes) == 1 else None
    if not isinstance(extent, int) or extent % vector or extent < 4 * vector:
        return False
    axes = list(stage.op.axis)
    _, inner = stage.split(reduce_axes[-1], factor=vector)
    lanes = s.rfactor(out, inner, factor_axis=len(axes))
    partial = s[lanes]
    paxes = list(partial.op.axis)
    partial.reorder(*paxes[:-1], *partial.op.reduce_axis, paxes[-1])
    partial.vectorize(paxes[-1])
    partial.compute_at(s[out], axes[-1])
    work = _size(out.shape) * extent
    if len(axes) > 1 and worth_parallel(work, axes[0].extent):
        stage.parallel(axes[0])
    return True
