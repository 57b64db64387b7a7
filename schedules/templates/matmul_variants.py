"""Variants of the CPU matmul template for the layouts that views produce: a transposed left
operand, batches over a leading axis, and narrow products (few output columns) as dot products.

The frontend reads a transposed operand in its untransposed storage rather than copying it
(``W.T`` and both gradients of a product read transposes), so its kernels need these layouts.
The register- and cache-tiled schedule is the one of :func:`matmul_cpu` (``b3=None``):
:func:`schedules.templates.matmul_cpu.register_cache_tile`. On target ``cuda`` each variant's
compute gets the generic GPU schedule.
"""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.intmath import ceil_div
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule
from .gpu_generic import schedule_gpu
from .matmul_cpu import register_cache_tile


def product_dims(a_shape, b_shape, transpose_a: bool, transpose_b: bool) -> tuple[int, int, int]:
    """``(m, k, n)`` of ``op(A) @ op(B)`` given the stored shapes of A and B."""
    m, k = (a_shape[-1], a_shape[-2]) if transpose_a else (a_shape[-2], a_shape[-1])
    n = b_shape[-2] if transpose_b else b_shape[-1]
    return m, k, n


def product(a, b, transpose_a: bool = False, transpose_b: bool = False):
    """``C[(b,) i, j] = sum(op(A)[(b,) i, k] * op(B)[(b,) k, j], k)``; a 3-D operand adds a batch
    axis (the other one is shared by every batch)."""
    batched = len(a.shape) == 3 or len(b.shape) == 3
    m, k, n = product_dims(a.shape, b.shape, transpose_a, transpose_b)
    r = reduce_axis(k, "k")

    def at(t, transposed, batch, row, col):
        index = (row, col) if not transposed else (col, row)
        return t[(batch,) + index] if batched and len(t.shape) == 3 else t[index]

    if batched:
        count = a.shape[0] if len(a.shape) == 3 else b.shape[0]
        return compute((count, m, n), lambda bi, i, j: fn.sum(
            at(a, transpose_a, bi, i, r) * at(b, transpose_b, bi, r, j), axis=r), name="C")
    return compute((m, n), lambda i, j: fn.sum(
        at(a, transpose_a, None, i, r) * at(b, transpose_b, None, r, j), axis=r), name="C")


def matmul_layout(a_shape: tuple[int, ...], b_shape: tuple[int, ...], *, transpose_a: bool = False,
                  transpose_b: bool = False, dtype: str = "float32", target: str = "llvm", v1: int = 8,
                  v2: int = 32, v3: int = 4, b1: int = 64, b2: int = 128, parallel: bool = False):
    """``C = op(A) @ op(B)`` on the stored shapes ``a_shape`` (``(k, m)`` with ``transpose_a``) and
    ``b_shape`` (``(n, k)`` with ``transpose_b``), either of them with a leading batch axis, in
    ``v1 x v2`` register tiles inside ``b1 x b2`` cache tiles::

        parallel for b (or i.outer), i.outer, j.outer, i.inner.outer, j.inner.outer:
          C.local[v1, v2] = 0
          for k.outer: unrolled for k.inner in 0..v3: unrolled for i in 0..v1:
            vectorized for j in 0..v2: C.local[i, j] += A[..] * B[..]
          vectorized copy C.local -> C
    """
    a = placeholder(a_shape, dtype, name="A")
    b = placeholder(b_shape, dtype, name="B")
    c = product(a, b, transpose_a, transpose_b)
    s = create_schedule(c)
    if target == "cuda":
        schedule_gpu(s)
    else:
        register_cache_tile(s, c, v1, v2, v3, b1, b2, parallel)
    return s, [a, b, c]


def matmul_layout_2d(m: int, n: int, k: int, *, transpose_a: bool = True, transpose_b: bool = False,
                     dtype: str = "float32", target: str = "llvm", v1: int = 8, v2: int = 32, v3: int = 4,
                     b1: int = 64, b2: int = 128, parallel: bool = False):
    """:func:`matmul_layout` of two 2-D operands named by the sizes of the product ``(m, n, k)``, the
    form the tuner searches (A is stored ``(k, m)`` with ``transpose_a``, B ``(n, k)`` with
    ``transpose_b``)."""
    a_shape = (k, m) if transpose_a else (m, k)
    b_shape = (n, k) if transpose_b else (k, n)
    return matmul_layout(a_shape, b_shape, transpose_a=transpose_a, transpose_b=transpose_b, dtype=dtype,
                         target=target, v1=v1, v2=v2, v3=v3, b1=b1, b2=b2, parallel=parallel)


def matmul_dot(m: int, n: int, k: int, *, vector: int = 16, dtype: str = "float32", target: str = "llvm"):
    """``C[i, j] = sum(A[i, k] * Bt[j, k])`` for few columns ``j``: ``vector`` partial sums per
    element along the contiguous ``k`` of both rows, then one horizontal sum (as ``row_sum_cpu``)::

        for i, j:
          C.partial[vector] = 0
          for k.outer: vectorized for l: C.partial[l] += A[i, k.outer*vector + l] * Bt[j, ..]
          C[i, j] = sum(C.partial)
    """
    a = placeholder((m, k), dtype, name="A")
    bt = placeholder((n, k), dtype, name="Bt")
    vector = min(vector, k)
    ko = reduce_axis(ceil_div(k, vector), "k.outer")

    def term(i, j, lane):
        index = ko * vector + lane
        if k % vector == 0:
            return a[i, index] * bt[j, index]
        inside = (index < k).astype(dtype)
        index = fn.minimum(index, k - 1)
        return a[i, index] * bt[j, index] * inside

    partial = compute((m, n, vector), lambda i, j, lane: fn.sum(term(i, j, lane), axis=ko), name="C.partial")
    lanes = reduce_axis(vector, "l")
    c = compute((m, n), lambda i, j: fn.sum(partial[i, j, lanes], axis=lanes), name="C")
    s = create_schedule(c)
    if target == "cuda":
        return schedule_gpu(s), [a, bt, c]
    s[partial].set_scope("local")
    s[partial].compute_at(s[c], c.op.axis[1])
    pi, pj, pl = s[partial].op.axis
    s[partial].reorder(pi, pj, s[partial].op.reduce_axis[0], pl)
    s[partial].vectorize(pl)
    return s, [a, bt, c]
