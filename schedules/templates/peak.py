"""Kernels that measure the machine rather than a workload: a chain of independent vector FMAs
(the arithmetic peak) and the STREAM triad (the memory bandwidth). The benchmarks' roofline
bound is built from what these two achieve on the host."""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule


def fma_peak_cpu(threads: int, steps: int, *, rows: int = 3, lanes: int = 64, dtype: str = "float32"):
    """``Y[t, i, j] = sum(A[t, i] * W[j] * k for k in 0..steps)``: ``rows * lanes / vector width``
    independent accumulators per thread, each updated by one FMA per step (``A[t, i] * W[j]``
    is hoisted and stays in a register, the step ``k`` is converted and broadcast once per
    step), nothing loaded in the step loop::

        parallel for t in 0..threads:
          Y.local[rows, lanes] = 0                    # registers: rows x lanes/16 vectors
          for k in 0..steps:
            unrolled for i in 0..rows:
              vectorized for j in 0..lanes:
                Y.local[i, j] += A[t, i] * W[j] * float(k)
          Y[t] = Y.local

    With the defaults (3 x 4 AVX-512 vectors) the 12 accumulators cover the FMA latency of
    both pipes, and accumulators plus products fit the 32 vector registers; ``lanes`` up to 64
    keeps the loop explicit vector code. FLOPs per call
    (the hoisted products aside): ``2 * threads * rows * lanes * steps``.
    """
    A = placeholder((threads, rows), dtype, name="A")
    W = placeholder((lanes,), dtype, name="W")
    k = reduce_axis(steps, "k")
    # the step enters as a float factor, so the product cannot be hoisted out of the step loop
    # (LLVM hoists A * W, leaving one FMA per accumulator and step)
    Y = compute((threads, rows, lanes), lambda t, i, j: fn.sum(A[t, i] * W[j] * k.var.astype(dtype), axis=k),
                name="Y")
    s = create_schedule(Y)
    local = s.cache_write(Y, "local")
    t, i, j = Y.op.axis
    s[local].compute_at(s[Y], t)
    _, li, lj = s[local].op.axis
    (lk,) = s[local].op.reduce_axis
    s[local].reorder(lk, li, lj)
    s[local].unroll(li)
    s[local].vectorize(lj)
    s[Y].vectorize(j)
    s[Y].parallel(t)
    return s, [A, W, Y]


def triad_cpu(size: int, *, scalar: float = 3.0, vector: int = 16, parallel: bool = True,
              dtype: str = "float32"):
    """The STREAM triad ``C[i] = A[i] + scalar * B[i]``: ``vector``-wide vectors, chunks in
    parallel. Bytes per call (STREAM's count, write-allocate traffic aside): ``3 * size * 4``."""
    A = placeholder((size,), dtype, name="A")
    B = placeholder((size,), dtype, name="B")
    C = compute((size,), lambda i: A[i] + scalar * B[i], name="C")
    s = create_schedule(C)
    outer, inner = s[C].split(C.op.axis[0], factor=vector)
    s[C].vectorize(inner)
    if parallel:
        s[C].parallel(outer)
    return s, [A, B, C]
