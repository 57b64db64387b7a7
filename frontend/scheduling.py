"""Generic CPU schedules for the frontend's kernels, and when threads pay.

Elementwise maps: one flat loop of vectors (``fuse`` + ``split`` + ``vectorize``), or, with
broadcast operands, the innermost axis in vectors. Reductions: the innermost data axis in
vectors with the reduction loops outside it where the data is laid out that way. Threads are
started only for large kernels: a parallel loop costs a thread-team start (microseconds), and
most kernels of a small network take less than that.
"""

from __future__ import annotations

from tensorir import config
from tensorir.expr import Reduce

#: SIMD lanes of float32 vector loops (AVX-512: 16)
VECTOR = 16


def worth_parallel(work: int, outer_extent: int) -> bool:
    """Whether a loop nest of ``work`` scalar operations should split its outer loop over threads.

    Below ``config.PARALLEL_MIN`` operations (NESTOR_PARALLEL_MIN; 4M by default) a kernel stays
    on one thread. Parallel loops hand out chunks from a shared counter, so a busy core slows a
    team little; on 2 cores, 4M operations is where a thread team started to pay (CNN step 18.1
    -> 13.4 ms; the MLP step's kernels stay below it).
    """
    return work >= config.PARALLEL_MIN() and outer_extent > 1


def _size(shape) -> int:
    total = 1
    for extent in shape:
        total *= extent
    return total


def flat_vector(s, out, vector: int = VECTOR) -> None:
    """Fuse every axis of ``out`` into one loop of ``vector``-wide vectors (threads if large)."""
    stage = s[out]
    axes = list(stage.op.axis)
    fused = stage.fuse(*axes) if len(axes) > 1 else axes[0]
    if fused.extent < vector:
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
    if last.extent >= vector:
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
