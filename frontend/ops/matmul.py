"""Matrix products, batched over leading axes, with the layouts of their operands chosen at dispatch.

A transposed operand is usually a view (``W.T``, and both gradients ``g @ B.T``, ``A.T @ g``
read transposes). Rather than copy it, the kernel reads the untransposed storage: the CPU
template ``matmul_cpu`` covers ``A @ B`` and ``A @ B.T``; a transposed left operand, and
batches, use the same register- and cache-tiled schedule on this module's own compute.
"""

from __future__ import annotations

import numpy as np

from schedules import create_schedule
from schedules.templates import matmul_cpu
from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.tensor import compute, placeholder, reduce_axis

from .. import dispatch, scheduling
from ..tensor import Tensor
from .base import Op, contiguous

#: products with fewer output columns than this (and more rows) are computed transposed
NARROW = 16


def _layout(array: np.ndarray, device: str) -> tuple[np.ndarray, bool]:
    """``(storage, transposed)``: the array itself, or the contiguous array it is a transpose of."""
    if array.flags.c_contiguous:
        return array, False
    if array.ndim >= 2:
        swapped = np.swapaxes(array, -1, -2)
        if swapped.flags.c_contiguous:
            return swapped, True
    return contiguous(array, device), False


class MatMul(Op):
    """``C[b, i, j] = sum(A[b, i, k] * B[b, k, j], k)``; batch axes broadcast like numpy's."""

    name = "matmul"

    def forward(self, a: np.ndarray, b: np.ndarray, device: str = "cpu") -> np.ndarray:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) if a.ndim > 2 or b.ndim > 2 else ()
        m, n = a.shape[-2], b.shape[-1]
        if batch and b.ndim == 2 and a.flags.c_contiguous:  # a shared right operand: one 2-D product
            return self._product(a.reshape(-1, a.shape[-1]), b, (), device).reshape(batch + (m, n))
        if not batch and n < NARROW and a.flags.c_contiguous:  # few columns: dot products of rows
            self.key = (self.name, "dot")
            return dispatch.run(self, [a, contiguous(b.T, device)], device)[0]
        if not batch and n < NARROW <= m:  # few columns waste vector lanes: C = (B^T A^T)^T
            return self._product(b.T, a.T, batch, device).T
        return self._product(a, b, batch, device).reshape(batch + (m, n))

    def _product(self, a: np.ndarray, b: np.ndarray, batch: tuple[int, ...], device: str) -> np.ndarray:
        if not batch and not a.flags.c_contiguous and not b.flags.c_contiguous \
                and a.T.flags.c_contiguous and b.T.flags.c_contiguous:
            return self._product(b.T, a.T, batch, device).T  # A^T B^T = (B A)^T, both stored plainly
        if not batch and a.flags.c_contiguous and a.shape[0] >= 64 and a.shape[1] >= 256:
            # the register tile reads v1 rows of A at each k: contiguous when A is stored transposed
            a = contiguous(a.T, device).T
        a_store, ta = _layout(_batched(a, batch), device)
        b_store, tb = _layout(_batched(b, batch), device)
        if tb and (ta or batch):  # only the template reads a transposed B well (it packs it)
            b_store, tb = contiguous(np.swapaxes(b_store, -1, -2), device), False
        self.key = (self.name, ta, tb)
        return dispatch.run(self, [a_store, b_store], device)[0]

    def default_config(self, shapes) -> dict:
        if self.key[1] == "dot":
            return {"vector": scheduling.VECTOR}
        m, k, n = _dims(shapes, self.key[1], self.key[2])
        return {"v1": 8, "v2": 32 if n >= 32 else 16, "v3": 4, "b1": 64, "b2": 128, "pack_b": True,
                "parallel": scheduling.worth_parallel(m * n * k, -(-m // 64))}

    def tuning_task(self, shapes) -> tuple | None:
        if self.key[1] or len(shapes[0]) != 2 or len(shapes[1]) != 2:
            return None  # "dot", a transposed A, batches: this module's own compute, not a template
        m, k, n = _dims(shapes, False, self.key[2])
        parallel = self.default_config(shapes)["parallel"]
        return "matmul_cpu", (m, n, k), {"transpose_b": self.key[2], "parallel": parallel}

    def kernel(self, shapes, dtypes, config, target):
        if self.key[1] == "dot":
            return _dot_kernel(shapes, dtypes, config, target)
        _, ta, tb = self.key
        if target == "llvm" and len(shapes[0]) == 2 and len(shapes[1]) == 2 and not ta:
            m, k, n = _dims(shapes, ta, tb)
            return matmul_cpu(m, n, k, transpose_b=tb, dtype=dtypes[0], **config)
        a = placeholder(shapes[0], dtypes[0], name="A")
        b = placeholder(shapes[1], dtypes[1], name="B")
        c = self.compute(a, b)
        s = create_schedule(c)
        if target == "cuda":
            from schedules.templates.gpu_generic import schedule_gpu

            schedule_gpu(s)
        else:
            _tiled(s, c, config)
        return s, [a, b, c]

    def compute(self, a, b):
        _, ta, tb = self.key
        batched = len(a.shape) == 3 or len(b.shape) == 3
        m, k, n = _dims((a.shape, b.shape), ta, tb)
        r = reduce_axis(k, "k")

        def at(t, transposed, batch, row, col):
            index = (row, col) if not transposed else (col, row)
            return t[(batch,) + index] if batched and len(t.shape) == 3 else t[index]

        if batched:
            count = a.shape[0] if len(a.shape) == 3 else b.shape[0]
            return compute((count, m, n), lambda bi, i, j: fn.sum(at(a, ta, bi, i, r) * at(b, tb, bi, r, j), axis=r),
                           name="C")
        return compute((m, n), lambda i, j: fn.sum(at(a, ta, None, i, r) * at(b, tb, None, r, j), axis=r), name="C")

    def gradient(self, g, node):
        from .elementwise import reduce_to_shape
        from .shape import swapaxes

        a, b = node.inputs
        da = reduce_to_shape(matmul(g, swapaxes(b, -1, -2)), a.shape) if a.requires_grad else None
        db = reduce_to_shape(matmul(swapaxes(a, -1, -2), g), b.shape) if b.requires_grad else None
        return da, db


def _batched(array: np.ndarray, batch: tuple[int, ...]) -> np.ndarray:
    """A 2-D operand as is (the kernel reuses it for every batch), else ``(batch, rows, cols)``."""
    if array.ndim == 2 or not batch:
        return array
    if array.shape[:-2] != batch:
        array = np.broadcast_to(array, batch + array.shape[-2:])
    if not array.flags.c_contiguous:
        swapped = np.swapaxes(array, -1, -2)
        if swapped.flags.c_contiguous:
            return np.swapaxes(swapped.reshape((-1,) + swapped.shape[-2:]), -1, -2)
    return contiguous(array).reshape((-1,) + array.shape[-2:])


def _dims(shapes, ta: bool, tb: bool) -> tuple[int, int, int]:
    a, b = shapes
    m, k = (a[-1], a[-2]) if ta else (a[-2], a[-1])
    n = b[-2] if tb else b[-1]
    return m, k, n


def _dot_kernel(shapes, dtypes, config: dict, target: str):
    """``C[i, j] = sum(A[i, k] * Bt[j, k])`` for few columns ``j``: ``vector`` partial sums per
    element along the contiguous ``k`` of both rows, then one horizontal sum (as ``row_sum_cpu``)::

        for i, j:
          C.partial[vector] = 0
          for k.outer: vectorized for l: C.partial[l] += A[i, k.outer*vector + l] * Bt[j, ..]
          C[i, j] = sum(C.partial)
    """
    a = placeholder(shapes[0], dtypes[0], name="A")
    bt = placeholder(shapes[1], dtypes[1], name="Bt")
    (m, k), n = shapes[0], shapes[1][0]
    vector = min(config["vector"], k)
    ko = reduce_axis(-(-k // vector), "k.outer")

    def term(i, j, lane):
        index = ko * vector + lane
        if k % vector == 0:
            return a[i, index] * bt[j, index]
        inside = (index < k).astype(dtypes[0])
        index = fn.minimum(index, k - 1)
        return a[i, index] * bt[j, index] * inside

    partial = compute((m, n, vector), lambda i, j, lane: fn.sum(term(i, j, lane), axis=ko), name="C.partial")
    lanes = reduce_axis(vector, "l")
    c = compute((m, n), lambda i, j: fn.sum(partial[i, j, lanes], axis=lanes), name="C")
    s = create_schedule(c)
    if target == "cuda":
        from schedules.templates.gpu_generic import schedule_gpu

        return schedule_gpu(s), [a, bt, c]
    s[partial].set_scope("local")
    s[partial].compute_at(s[c], c.op.axis[1])
    pi, pj, pl = s[partial].op.axis
    s[partial].reorder(pi, pj, s[partial].op.reduce_axis[0], pl)
    s[partial].vectorize(pl)
    return s, [a, bt, c]


def _tiled(s, c, config: dict) -> None:
    """The schedule of ``matmul_cpu`` on a (batched) product: register tiles in cache tiles."""
    local = s.cache_write(c, "local")
    axes = list(c.op.axis)
    i, j = axes[-2], axes[-1]
    io, jo, ii, ji = s[c].tile(i, j, config["b1"], config["b2"])
    iio, jio, iii, jii = s[c].tile(ii, ji, config["v1"], config["v2"])
    s[local].compute_at(s[c], jio)
    li, lj = s[local].op.axis[-2:]
    ko, ki = s[local].split(s[local].op.reduce_axis[0], factor=config["v3"])
    s[local].reorder(ko, ki, li, lj)
    s[local].unroll(ki)
    s[local].unroll(li)
    s[local].vectorize(lj)
    s[c].vectorize(jii)
    if config.get("parallel"):
        s[c].parallel(axes[0] if len(axes) == 3 else io)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """The matrix product ``a @ b`` over the last two axes, batched over the others.

    Raises
    ------
    DefinitionError
        When an operand has fewer than 2 dimensions, the inner extents differ, the batch axes
        do not broadcast, or the dtypes differ.
    """
    if a.ndim < 2 or b.ndim < 2:
        raise DefinitionError(f"matmul: operands need at least 2 dimensions, got shapes {a.shape} and {b.shape}; "
                              "reshape a vector to (1, n) or (n, 1)")
    if a.shape[-1] != b.shape[-2]:
        raise DefinitionError(f"matmul: shapes {a.shape} and {b.shape} do not align: "
                              f"{a.shape[-1]} != {b.shape[-2]}")
    if a.dtype != b.dtype:
        raise DefinitionError(f"matmul: dtypes {a.dtype} and {b.dtype} differ; convert one with .astype(...)")
    if a.ndim > 2 and b.ndim > 2:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise DefinitionError(f"matmul: batch shapes of {a.shape} and {b.shape} cannot broadcast") from None
    return MatMul()(a, b)
