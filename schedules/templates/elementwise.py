"""Bandwidth-bound templates: elementwise maps, broadcasting, and row reductions (softmax)."""

from __future__ import annotations

from collections.abc import Callable

from tensorir import functions as fn
from tensorir.intmath import ceil_div
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule


def _flat_vector_loop(s, tensor, vector: int, parallel: bool) -> None:
    """Fuse all axes of ``tensor``'s stage, vectorize ``vector`` lanes, run chunks in parallel."""
    stage = s[tensor]
    axes = list(stage.op.axis)
    fused = stage.fuse(*axes) if len(axes) > 1 else axes[0]
    outer, inner = stage.split(fused, factor=vector)
    stage.vectorize(inner)
    if parallel:
        stage.parallel(outer)


def elementwise_cpu(shape: tuple[int, ...], fcompute: Callable | None = None, *, inputs: int = 2,
                    vector: int = 16, parallel: bool = True, dtype: str = "float32"):
    """``C[idx] = fcompute(A0[idx], A1[idx], ...)`` (default: the sum of the inputs), one flat
    loop of ``vector``-wide vectors, chunks in parallel."""
    args = [placeholder(shape, dtype, name=f"A{n}") for n in range(inputs)]
    fcompute = fcompute or (lambda *values: _sum_values(values))
    C = compute(shape, lambda *idx: fcompute(*(a[idx] for a in args)), name="C")
    s = create_schedule(C)
    _flat_vector_loop(s, C, vector, parallel)
    return s, [*args, C]


def _sum_values(values):
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total


def bias_add(rows: int, cols: int, *, vector: int = 16, parallel: bool = True, dtype: str = "float32"):
    """``C[i, j] = A[i, j] + bias[j]`` (bias broadcast over rows); rows in parallel, columns vectorized."""
    A = placeholder((rows, cols), dtype, name="A")
    bias = placeholder((cols,), dtype, name="bias")
    C = compute((rows, cols), lambda i, j: A[i, j] + bias[j], name="C")
    s = create_schedule(C)
    i, j = C.op.axis
    jo, ji = s[C].split(j, factor=vector)
    s[C].vectorize(ji)
    if parallel:
        s[C].parallel(i)
    return s, [A, bias, C]


def row_sum_cpu(rows: int, cols: int, *, vector: int = 16, parallel: bool = True, dtype: str = "float32"):
    """``B[i] = sum(A[i, :])``: ``vector`` partial sums per row in a register (``B.partial``), then
    one horizontal sum; rows in parallel::

        parallel for i in 0..rows:
          B.partial[vector] = 0
          for k.outer: vectorized for k.inner in 0..vector: B.partial[k.inner] += A[i, k.outer*vector + k.inner]
          B[i] = sum(B.partial)
    """
    A = placeholder((rows, cols), dtype, name="A")
    chunks = ceil_div(cols, vector)
    ko = reduce_axis(chunks, "k.outer")
    partial = compute((rows, vector), lambda i, ki: fn.sum(fn.if_then_else(
        ko * vector + ki < cols, A[i, fn.minimum(ko * vector + ki, cols - 1)], 0.0), axis=ko), name="B.partial")
    kk = reduce_axis(vector, "k.inner")
    B = compute((rows,), lambda i: fn.sum(partial[i, kk], axis=kk), name="B")
    s = create_schedule(B)
    s[partial].set_scope("local")
    s[partial].compute_at(s[B], B.op.axis[0])
    pi, pk = s[partial].op.axis
    s[partial].reorder(pi, s[partial].op.reduce_axis[0], pk)
    s[partial].vectorize(pk)
    if parallel:
        s[B].parallel(B.op.axis[0])
    return s, [A, B]


def softmax_cpu(rows: int, cols: int, *, vector: int = 16, parallel: bool = True, dtype: str = "float32"):
    """Row softmax in three stages (row max, sum of exponentials, divide), the two reductions
    computed per row inside the output's row loop, each with ``vector`` partial results in
    vector registers (``rfactor`` of its reduction's inner part), then one horizontal step::

        parallel for i in 0..rows:
          row_max.rf[vector] = max over the chunks of A[i, :]      (vectorized)
          row_max = max(row_max.rf)
          row_sum.rf[vector] = sum over the chunks of exp(A[i, :] - row_max)   (vectorized)
          row_sum = sum(row_sum.rf)
          vectorized chunks: B[i, j] = exp(A[i, j] - row_max) / row_sum
    """
    A = placeholder((rows, cols), dtype, name="A")
    k1 = reduce_axis(cols, "k")
    row_max = compute((rows,), lambda i: fn.max(A[i, k1], axis=k1), name="row_max")
    k2 = reduce_axis(cols, "k")
    row_sum = compute((rows,), lambda i: fn.sum(fn.exp(A[i, k2] - row_max[i]), axis=k2), name="row_sum")
    B = compute((rows, cols), lambda i, j: fn.exp(A[i, j] - row_max[i]) / row_sum[i], name="B")
    s = create_schedule(B)
    i, j = B.op.axis
    jo, ji = s[B].split(j, factor=vector)
    s[B].vectorize(ji)
    for reduction in (row_sum, row_max):  # row_max last: its readers are attached by then
        _, inner = s[reduction].split(reduction.op.reduce_axis[0], factor=vector)
        partial = s.rfactor(reduction, inner, factor_axis=1)
        s[partial].set_scope("local")
        row, lane = s[partial].op.axis
        s[partial].reorder(row, s[partial].op.reduce_axis[0], lane)
        s[partial].vectorize(lane)
        s[reduction].compute_at(s[B], i)
        s[partial].compute_at(s[B], i)
    if parallel:
        s[B].parallel(i)
    return s, [A, B]
