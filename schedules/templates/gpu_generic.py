"""A generic GPU schedule: each root stage's data axes fused into one loop, split into blocks
of threads. A starting point for any operator; reductions run serially inside each thread."""

from __future__ import annotations

from collections.abc import Sequence

from tensorir.errors import ScheduleError
from tensorir.tensor import ComputeOp, Tensor

from ..relations import AtRoot
from ..schedule import Schedule, create_schedule


def schedule_gpu(schedule: Schedule, threads: int = 64) -> Schedule:
    """Bind every root compute stage of ``schedule`` to the GPU, one output element per thread.

    For each stage computed at root (not inlined, not attached), the nest::

        for i in 0..n: for j in 0..m:            # data axes
          for k in 0..r: body                    # reduce axes, if any

    becomes::

        for i.j.fused.outer in 0..ceil(n*m/threads) [blockIdx.x]:
          for i.j.fused.inner in 0..threads [threadIdx.x]:
            if i.j.fused.outer * threads + i.j.fused.inner < n*m:
              for k in 0..r: body

    Parameters
    ----------
    schedule
        A schedule whose root stages still have their original loops (they are fused here).
    threads
        Threads per block, a positive integer (at most 1024 on current GPUs).

    Returns
    -------
    Schedule
        The same schedule, modified in place, for chaining.
    """
    if not isinstance(threads, int) or isinstance(threads, bool) or threads <= 0:
        raise ScheduleError(f"schedule_gpu(threads={threads!r}): threads must be a positive integer")
    for stage in schedule.stages:
        if not isinstance(stage.op, ComputeOp) or not isinstance(stage.attach, AtRoot):
            continue
        axes = [axis for axis in stage.op.axis if axis in stage.leaves]
        if not axes:
            continue
        fused = stage.fuse(*axes) if len(axes) > 1 else axes[0]
        outer, inner = stage.split(fused, factor=threads)
        stage.bind(outer, "blockIdx.x")
        stage.bind(inner, "threadIdx.x")
    return schedule


def gpu_generic(outputs: Tensor | Sequence[Tensor], threads: int = 64) -> Schedule:
    """A new schedule of ``outputs`` with :func:`schedule_gpu` applied.

    Parameters
    ----------
    outputs
        The output tensor, or a list of them.
    threads
        Threads per block.

    Returns
    -------
    Schedule
        The schedule, ready for ``ns.build(s, args, target="cuda")``.
    """
    return schedule_gpu(create_schedule(outputs), threads)
