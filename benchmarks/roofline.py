"""This machine's roofline, measured: the FMA peak and the memory bandwidth that Nestor's own
kernels reach (:mod:`schedules.templates.peak`), and the bound they put on a workload.

A benchmark reports ``roofline = bound / time`` for Nestor and for the peer: the share of what
the machine allows for that workload's FLOPs and compulsory bytes (each input read once, each
output written once), ``max(flops / peak, bytes / bandwidth)``.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass

import numpy as np

#: calls of each measuring kernel; the best round counts (a peak, not a typical figure)
ROUNDS = int(os.environ.get("NESTOR_BENCH_PEAK_ROUNDS", "7"))


@dataclass(frozen=True)
class Machine:
    """Peak float32 FLOP/s and bytes/s measured on the host."""

    flops: float
    bandwidth: float

    def bound(self, flops: float, nbytes: float) -> float:
        """Seconds that ``flops`` FLOPs and ``nbytes`` bytes of memory traffic take at least."""
        return max(flops / self.flops, nbytes / self.bandwidth)

    def fraction(self, seconds: float, flops: float, nbytes: float) -> float:
        """The share of the roofline bound reached by a run of ``seconds``."""
        return self.bound(flops, nbytes) / seconds


def _best(run, rounds: int) -> float:
    run()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def fma_kernel(threads: int, steps: int):
    """The compiled FMA-chain kernel, its arguments and its FLOPs per call."""
    import nestor as ns
    from schedules.templates.peak import fma_peak_cpu

    s, tensors = fma_peak_cpu(threads, steps)
    module = ns.build(s, tensors, target="llvm", name="fma_peak")
    a_shape, w_shape, y_shape = (t.shape for t in tensors)
    arrays = (np.full(a_shape, 0.5, np.float32), np.full(w_shape, 1e-6, np.float32), np.empty(y_shape, np.float32))
    return module, arrays, 2 * float(np.prod(y_shape)) * steps


def triad_kernel(size: int):
    """The compiled STREAM triad, its arguments and its bytes per call."""
    import nestor as ns
    from schedules.templates.peak import triad_cpu

    s, tensors = triad_cpu(size)
    module = ns.build(s, tensors, target="llvm", name="triad")
    rng = np.random.default_rng(0)
    arrays = (rng.standard_normal(size, dtype=np.float32), rng.standard_normal(size, dtype=np.float32),
              np.empty(size, np.float32))
    return module, arrays, 3.0 * 4 * size


def threads() -> int:
    from backends.llvm.target import thread_count

    return thread_count()


@functools.cache
def machine(steps: int = 2_000_000, size: int = 1 << 25) -> Machine:
    """Measure the host once per process (best of ``ROUNDS`` calls of each kernel)."""
    fma, fma_args, flops = fma_kernel(threads(), steps)
    triad, triad_args, nbytes = triad_kernel(size)
    return Machine(flops / _best(lambda: fma(*fma_args), ROUNDS), nbytes / _best(lambda: triad(*triad_args), ROUNDS))


def fields(seconds: float, peer_seconds: float, flops: float, nbytes: float) -> dict[str, float]:
    """The roofline shares of Nestor and the peer, for a benchmark row."""
    host = machine()
    return {"roofline": host.fraction(seconds, flops, nbytes),
            "peer_roofline": host.fraction(peer_seconds, flops, nbytes)}
