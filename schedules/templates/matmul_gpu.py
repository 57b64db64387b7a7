"""The seed's GPU matmul: each block computes an ``L x L`` tile of C from ``S``-long chunks of A
and B copied cooperatively into shared memory; each thread keeps a ``V x V`` register tile."""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule
from .tuned import tunable


def _cooperative_fetch(s, cache, threads_y: int, threads_x: int) -> None:
    """Spread the copy of a shared tile over all threads of the block, consecutive threads on
    consecutive elements (coalesced loads)."""
    fused = s[cache].fuse(*s[cache].op.axis)
    outer, inner = s[cache].split(fused, factor=threads_y * threads_x)
    ty, tx = s[cache].split(inner, factor=threads_x)
    s[cache].bind(ty, "threadIdx.y")
    s[cache].bind(tx, "threadIdx.x")


@tunable("matmul_gpu", "cuda", 3, knobs=("L", "S", "V"), options=())
def matmul_gpu(m: int, n: int, k: int, *, L: int = 64, S: int = 8, V: int = 4,
               dtype: str = "float32"):
    """``C = A @ B`` (A is ``m x k``, B is ``k x n``) for a GPU. The nest::

        for by in 0..ceil(m/L) [blockIdx.y]:
          for bx in 0..ceil(n/L) [blockIdx.x]:
            for ty in 0..L/V [threadIdx.y]:
              for tx in 0..L/V [threadIdx.x]:
                C.local[V, V] = 0
                for k.outer in 0..ceil(k/S):
                  A.shared[L, S] = A[by*L.., k.outer*S..]     # all threads cooperate
                  B.shared[S, L] = B[k.outer*S.., bx*L..]
                  barrier()
                  for k.inner in 0..S:
                    for y in 0..V: for x in 0..V:
                      C.local[y, x] += A.shared[..] * B.shared[..]
                  barrier()
                C[..] = C.local                               # V x V per thread
    """
    if L % V:
        raise ValueError(f"matmul_gpu: L={L} must be a multiple of V={V}")
    A = placeholder((m, k), dtype, name="A")
    B = placeholder((k, n), dtype, name="B")
    r = reduce_axis(k, "k")
    C = compute((m, n), lambda i, j: fn.sum(A[i, r] * B[r, j], axis=r), name="C")
    s = create_schedule(C)
    a_shared = s.cache_read(A, "shared", [C])
    b_shared = s.cache_read(B, "shared", [C])
    local = s.cache_write(C, "local")
    i, j = C.op.axis
    by, bx, yi, xi = s[C].tile(i, j, L, L)
    ty, tx, yv, xv = s[C].tile(yi, xi, V, V)
    for axis, tag in ((by, "blockIdx.y"), (bx, "blockIdx.x"), (ty, "threadIdx.y"), (tx, "threadIdx.x")):
        s[C].bind(axis, tag)
    s[local].compute_at(s[C], tx)
    li, lj = s[local].op.axis
    ko, ki = s[local].split(s[local].op.reduce_axis[0], factor=S)
    s[local].reorder(ko, ki, li, lj)
    s[local].unroll(li)
    s[local].unroll(lj)
    for cache in (a_shared, b_shared):
        s[cache].compute_at(s[local], ko)
        _cooperative_fetch(s, cache, L // V, L // V)
    return s, [A, B, C]
