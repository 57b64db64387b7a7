"""A generic GPU schedule: each root stage's data axes fused into one loop, split into blocks
of threads. A starting point for any operator. A reduction with few outputs and a long
reduction (a row sum, the two reductions of a softmax or a layer norm) gives each output a block
whose threads share the reduction: a cross-thread reduction (warp shuffles, then shared memory
across warps); other reductions run serially inside each thread."""

from __future__ import annotations

from collections.abc import Sequence

from tensorir.errors import ScheduleError
from tensorir.expr import Reduce
from tensorir.tensor import ComputeOp, Tensor

from ..relations import AtRoot
from ..schedule import Schedule, create_schedule

#: a reduction at least this long shares it between the threads of a block ...
CROSS_THREAD_MIN_REDUCTION = 32
#: ... when it has at most this many outputs (more fill the GPU with one thread per output)
CROSS_THREAD_MAX_OUTPUTS = 16384


def schedule_gpu(schedule: Schedule, threads: int = 64, reduce_threads: int = 256) -> Schedule:
    """Bind every root compute stage of ``schedule`` to the GPU, one output element per thread.

    For each stage computed at root (not inlined, not attached), the nest::

        for i in 0..n: for j in 0..m:            # data axes
          for k in 0..r: body                    # reduce axes, if any

    becomes::

        for i.j.fused.outer in 0..ceil(n*m/threads) [blockIdx.x]:
          for i.j.fused.inner in 0..threads [threadIdx.x]:
            if i.j.fused.outer * threads + i.j.fused.inner < n*m:
              for k in 0..r: body

    A reduction of at least ``CROSS_THREAD_MIN_REDUCTION`` elements with at most
    ``CROSS_THREAD_MAX_OUTPUTS`` outputs becomes a cross-thread reduction instead, ``t`` the
    largest power of two up to ``reduce_threads`` and ``r``::

        for i.j.fused in 0..n*m [blockIdx.x]:
          for k.inner in 0..t [threadIdx.x]:      # each thread sums every t-th element
            acc = 0
            for k.outer in 0..ceil(r/t): acc += body
            result = thread_allreduce_sum(acc)   # the block's threads combine their sums
            if k.inner == 0: write result

    Parameters
    ----------
    schedule
        A schedule whose root stages still have their original loops (they are fused here).
    threads
        Threads per block, a positive integer (at most 1024 on current GPUs).
    reduce_threads
        The most threads that share one output of a cross-thread reduction (a power of two, 32
        to 1024).

    Returns
    -------
    Schedule
        The same schedule, modified in place, for chaining.
    """
    if not isinstance(threads, int) or isinstance(threads, bool) or threads <= 0:
        raise ScheduleError(f"schedule_gpu(threads={threads!r}): threads must be a positive integer")
    if reduce_threads not in (32, 64, 128, 256, 512, 1024):
        raise ScheduleError(f"schedule_gpu(reduce_threads={reduce_threads!r}): reduce_threads must be a "
                            "power of two from 32 to 1024")
    for stage in schedule.stages:
        if not isinstance(stage.op, ComputeOp) or not isinstance(stage.attach, AtRoot):
            continue
        axes = [axis for axis in stage.op.axis if axis in stage.leaves]
        if _shares_reduction(stage):  # a rank-0 reduction too: one block
            _cross_thread(stage, axes, reduce_threads)
            continue
        if not axes:
            continue
        fused = stage.fuse(*axes) if len(axes) > 1 else axes[0]
        outer, inner = stage.split(fused, factor=threads)
        stage.bind(outer, "blockIdx.x")
        stage.bind(inner, "threadIdx.x")
    return schedule


def _shares_reduction(stage) -> bool:
    """Whether ``stage`` is a long reduction with few outputs, its loops untouched."""
    op = stage.op
    if not isinstance(op.body, Reduce) or any(r not in stage.leaves for r in op.reduce_axis):
        return False
    if any(axis not in stage.leaves for axis in op.axis) or stage.annotations:
        return False
    outputs = size(axis.extent for axis in op.axis)
    return size(r.extent for r in op.reduce_axis) >= CROSS_THREAD_MIN_REDUCTION \
        and outputs <= CROSS_THREAD_MAX_OUTPUTS


def size(extents) -> int:
    total = 1
    for extent in extents:
        total *= extent
    return total


def _cross_thread(stage, axes, reduce_threads: int) -> None:
    """One block per output; its threads share the reduction (see :func:`schedule_gpu`)."""
    reduce_axes = list(stage.op.reduce_axis)
    length = size(r.extent for r in reduce_axes)
    if axes:
        stage.bind(stage.fuse(*axes) if len(axes) > 1 else axes[0], "blockIdx.x")
    reduction = stage.fuse(*reduce_axes) if len(reduce_axes) > 1 else reduce_axes[0]
    threads = 32
    while threads * 2 <= min(length, reduce_threads):
        threads *= 2
    _, inner = stage.split(reduction, factor=threads)
    stage.bind(inner, "threadIdx.x")


def gpu_generic(outputs: Tensor | Sequence[Tensor], threads: int = 64, reduce_threads: int = 256) -> Schedule:
    """A new schedule of ``outputs`` with :func:`schedule_gpu` applied.

    Parameters
    ----------
    outputs
        The output tensor, or a list of them.
    threads
        Threads per block.
    reduce_threads
        The most threads that share one output of a long reduction.

    Returns
    -------
    Schedule
        The schedule, ready for ``ns.build(s, args, target="cuda")``.
    """
    return schedule_gpu(create_schedule(outputs), threads, reduce_threads)
