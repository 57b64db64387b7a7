"""The seed's window sum (radius 2) on a GPU, its input tile staged in shared memory."""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule


def window_sum_gpu(n: int, *, radius: int = 2, threads: int = 32, dtype: str = "float32"):
    """``B[i] = sum(A[i + r] for r in 0..2*radius]`` with A of ``n + 2*radius`` elements. Each
    block of ``threads`` threads copies the ``threads + 2*radius`` inputs it needs into shared
    memory (cooperatively), waits at a barrier, then sums from shared memory::

        for i.outer in 0..ceil(n/threads) [blockIdx.x]:
          allocate A.shared[threads + 2*radius] in shared
          for ax0.outer in ..: for ax0.inner in 0..threads [threadIdx.x]:
            A.shared[..] = A[i.outer*threads + ..]
          barrier()
          for i.inner in 0..threads [threadIdx.x]:
            B[..] = sum(A.shared[i.inner + r])
    """
    A = placeholder((n + 2 * radius,), dtype, name="A")
    r = reduce_axis(2 * radius + 1, "r")
    B = compute((n,), lambda i: fn.sum(A[i + r], axis=r), name="B")
    s = create_schedule(B)
    cache = s.cache_read(A, "shared", [B])
    io, ii = s[B].split(B.op.axis[0], factor=threads)
    s[B].bind(io, "blockIdx.x")
    s[B].bind(ii, "threadIdx.x")
    s[cache].compute_at(s[B], io)
    _, inner = s[cache].split(s[cache].op.axis[0], factor=threads)
    s[cache].bind(inner, "threadIdx.x")
    return s, [A, B]
