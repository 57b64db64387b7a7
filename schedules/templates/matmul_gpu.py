"""GPU matmul: each block computes an ``L x L`` tile of C from ``S``-long chunks of A and B
staged cooperatively in shared memory; each thread keeps a ``V x W`` register tile.

The default (L=128, S=8, V=W=8) is the shape of a cuBLAS-class FP32 SGEMM: A is staged k-major
(transposed) so that a thread reads its column of A as 128-bit words, the fetches from global
memory are 128-bit (``vector=4``), the shared tiles are double-buffered, and the threads of a
warp are laid out 4 x 2 within each 8-lane memory phase so that no shared read meets a bank
conflict (see ``benchmarks/gpu_sass.py``).
"""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule
from .tuned import tunable


def _thread_layout(s, stage, ty, tx, threads_y: int, threads_x: int):
    """One ``threadIdx.x`` over the ``threads_y x threads_x`` thread grid, ordered so that the 8
    lanes of a 128-bit memory phase are 4 along x by 2 along y (where the grid allows)."""
    if threads_x % 4 or threads_y % 2 or threads_x == 4:
        return stage.fuse(ty, tx)
    ty_high, ty_low = stage.split(ty, factor=2)
    tx_high, tx_low = stage.split(tx, factor=4)
    stage.reorder(ty_high, tx_high, ty_low, tx_low)
    return stage.fuse(ty_high, tx_high, ty_low, tx_low)


def _fit_tile(m: int, n: int, L: int, V: int, W: int) -> int:
    """``L``, halved while a block tile would overhang a matrix smaller than it (a single block
    whose threads past the matrix have no rows or columns: lowering narrows their loop, and the
    cooperative fetches could not use all the threads) and the thread tiles still divide it."""
    while min(m, n) < L and (L // 2) % V == 0 and (L // 2) % W == 0 and L // 2 >= max(V, W):
        L //= 2
    return L


def _fetch(s, cache, threads: int, vector: int, along_first: bool = False) -> None:
    """Spread the copy of a shared tile over the block's threads, ``vector`` consecutive elements
    per thread and step (128-bit accesses for 4 float32s where contiguous and aligned).

    The tile's axes are fused, then split into vectors and threads (consecutive threads on
    consecutive vectors: coalesced). With ``along_first`` (a transposing copy, which reads its
    source along the tile's first axis) the vectors run along the first axis instead."""
    stage = s[cache]
    first, second = stage.op.axis
    lanes = None
    if vector > 1 and along_first:
        outer, lanes = stage.split(first, factor=vector)
        stage.reorder(outer, second, lanes)
        fused = stage.fuse(outer, second)
    else:
        fused = stage.fuse(first, second)
        if vector > 1:
            fused, lanes = stage.split(fused, factor=vector)
    _, thread = stage.split(fused, factor=threads)
    stage.bind(thread, "threadIdx.x")
    if lanes is not None:
        stage.vectorize(lanes)


@tunable("matmul_gpu", "cuda", 3, knobs=("L", "S", "V", "W", "double_buffer", "vector", "min_blocks"),
         options=())
def matmul_gpu(m: int, n: int, k: int, *, L: int = 128, S: int = 8, V: int = 8, W: int | None = None,
               double_buffer: bool = True, vector: int = 4, min_blocks: int | None = None,
               dtype: str = "float32"):
    """``C = A @ B`` (A is ``m x k``, B is ``k x n``) for a GPU. The nest::

        for by in 0..ceil(m/L) [blockIdx.y]:
          for bx in 0..ceil(n/L) [blockIdx.x]:
            for t in 0..(L/V)*(L/W) [threadIdx.x]:          # thread (ty, tx) of the block
              C.local[V, W] = 0
              for k.outer in 0..ceil(k/S):
                A.shared[S, L] = A[by*L.., k.outer*S..]^T    # k-major; all threads, `vector` wide
                B.shared[S, L] = B[k.outer*S.., bx*L..]
                barrier()
                unrolled for k.inner in 0..S:
                  unrolled for y in 0..V: unrolled for x in 0..W:
                    C.local[y, x] += A.shared[k.inner, ty*V + y] * B.shared[k.inner, tx*W + x]
              C[..] = C.local                                # V x W per thread

    With ``double_buffer`` the two tiles have two copies, and the next chunk's copy is issued
    before the current chunk's products (one barrier per chunk).

    Parameters
    ----------
    m, n, k
        The sizes.
    L
        The block tile (rows and columns of C per block); halved while the matrix is smaller.
    S
        The k-step: the length of the chunks of A and B staged in shared memory.
    V, W
        Rows and columns of C per thread (``W`` defaults to ``V``).
    double_buffer
        Two copies of each shared tile, the next one fetched while the current one is read.
    vector
        Elements per thread and step of the cooperative fetches (4: 128-bit accesses).
    min_blocks
        Resident blocks per SM the kernel leaves registers for (``__launch_bounds__``); by
        default 2 for blocks of up to 256 threads and k-steps up to 16, else 1.
    dtype
        The element type.
    """
    W = V if W is None else W
    for name, value in (("V", V), ("W", W)):
        if L % value:
            raise ValueError(f"matmul_gpu: L={L} must be a multiple of {name}={value}")
    L = _fit_tile(m, n, L, V, W)
    A = placeholder((m, k), dtype, name="A")
    B = placeholder((k, n), dtype, name="B")
    # A staged k-major (transposed): a thread's column of A is contiguous in shared memory
    AT = compute((k, m), lambda r, i: A[i, r], name="A.shared")
    r = reduce_axis(k, "k")
    C = compute((m, n), lambda i, j: fn.sum(AT[r, i] * B[r, j], axis=r), name="C")
    s = create_schedule(C)
    s[AT].set_scope("shared")
    b_shared = s.cache_read(B, "shared", [C])
    local = s.cache_write(C, "local")
    i, j = C.op.axis
    by, yi = s[C].split(i, factor=L)
    bx, xi = s[C].split(j, factor=L)
    ty, yv = s[C].split(yi, factor=V)
    tx, xv = s[C].split(xi, factor=W)
    s[C].reorder(by, bx, ty, tx, yv, xv)
    thread = _thread_layout(s, s[C], ty, tx, L // V, L // W)
    s[C].bind(by, "blockIdx.y")
    s[C].bind(bx, "blockIdx.x")
    s[C].bind(thread, "threadIdx.x")
    if vector > 1 and W % vector == 0:
        _, lanes = s[C].split(xv, factor=vector)
        s[C].vectorize(lanes)
    s[local].compute_at(s[C], thread)
    li, lj = s[local].op.axis
    ko, ki = s[local].split(s[local].op.reduce_axis[0], factor=S)
    s[local].reorder(ko, ki, li, lj)
    for axis in (ki, li, lj):
        s[local].unroll(axis)
    threads = (L // V) * (L // W)
    if min_blocks is None:  # two resident blocks of 256 threads: 128 registers each, which k-steps
        min_blocks = 2 if threads <= 256 and S <= 16 else 1  # of 32 (unrolled) would spill from
    s[C].launch_bounds(min_blocks)
    usable = vector if vector > 1 and S % vector == 0 and L % vector == 0 else 1
    for cache in (AT, b_shared):
        s[cache].compute_at(s[local], ko)
    # AT is fetched along k (A's rows are contiguous in k), B along its rows
    _fetch(s, AT, threads, usable, along_first=True)
    _fetch(s, b_shared, threads, usable)
    if double_buffer:
        for cache in (AT, b_shared):
            s[cache].double_buffer()
    return s, [A, B, C]
