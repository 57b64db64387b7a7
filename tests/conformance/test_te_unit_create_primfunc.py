"""TVM's ``te.create_prim_func`` unit tests (tests/python/te/test_te_create_primfunc.py) whose
programs are te (the TVMScript they compare with is not): two stages of one name, the index type
made int64, a padded convolution with ``tir.all``, outputs of a tuple compute over symbolic
sizes, arguments in the order given (the output first), a rank-0 constant stage, a data-dependent
access, and compute attributes; each built from the function and run against numpy. Nestor also
builds the scan TVM's create_prim_func refuses."""

from __future__ import annotations

import numpy as np

from .helpers import close, empty, uniform
from .te_shim import te, tvm

_RNG = np.random.default_rng(31)


def _built(tensors, index_dtype=None):
    func = te.create_prim_func(tensors) if index_dtype is None else te.create_prim_func(tensors, index_dtype)
    return tvm.build(func, target="llvm")


def test_stages_of_one_name_are_told_apart():
    A = te.placeholder((16, 16), name="A")
    B = te.compute((16, 16), lambda x, y: A[x, y] * 2, name="main")
    C = te.compute((16, 16), lambda x, y: B[x, y] + 1, name="main")
    a, c = uniform(_RNG, (16, 16)), empty((16, 16), "float32")
    _built([A, C])(a, c)
    close(c, 2.0 * a + 1)
    k1, k2 = te.reduce_axis((0, 16), "k1"), te.reduce_axis((0, 16), "k2")
    rows = te.compute((16,), lambda i: te.sum(A[i, k1], axis=k1), name="sum")
    total = te.compute((), lambda: te.sum(rows[k2], axis=k2), name="sum")
    out = empty((), "float32")
    _built([A, total])(a, out)
    close(out, a.astype(np.float64).sum(), rtol=1e-5, atol=1e-5)


def test_a_matmul_with_int64_indices():
    k = te.reduce_axis((0, 64), "k")
    A, B = te.placeholder((64, 64), name="A"), te.placeholder((64, 64), name="B")
    C = te.compute((64, 64), lambda x, y: te.sum(A[x, k] * B[y, k], axis=k), name="C")
    a, b, c = uniform(_RNG, (64, 64)), uniform(_RNG, (64, 64)), empty((64, 64), "float32")
    _built([A, B, C], "int64")(a, b, c)
    close(c, a.astype(np.float64) @ b.T, rtol=1e-5, atol=1e-5)


def test_a_convolution_padded_with_tir_all():
    A, W = te.placeholder((2, 3, 6, 6), name="A"), te.placeholder((3, 3, 3, 4), name="W")
    padded = te.compute((2, 3, 8, 8), lambda n, c, y, x: tvm.tir.if_then_else(
        tvm.tir.all(y >= 1, y - 1 < 6, x >= 1, x - 1 < 6), A[n, c, y - 1, x - 1], 0.0), name="Apad")
    rc, ry, rx = te.reduce_axis((0, 3), "rc"), te.reduce_axis((0, 3), "ry"), te.reduce_axis((0, 3), "rx")
    B = te.compute((2, 4, 6, 6), lambda n, f, y, x: te.sum(
        padded[n, rc, y + ry, x + rx] * W[rc, ry, rx, f], axis=[rc, ry, rx]), name="B")
    a, w, b = uniform(_RNG, (2, 3, 6, 6)), uniform(_RNG, (3, 3, 3, 4)), empty((2, 4, 6, 6), "float32")
    _built([A, W, B])(a, w, b)
    p = np.pad(a.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = sum(np.einsum("nchw,cf->nfhw", p[:, :, ry:ry + 6, rx:rx + 6], w[:, ry, rx, :])
               for ry in range(3) for rx in range(3))
    close(b, want, rtol=1e-5, atol=1e-5)


def test_both_outputs_of_a_tuple_compute_over_symbolic_sizes():
    n, m = te.var("n"), te.var("m")
    A0, A1 = te.placeholder((m, n), name="A0"), te.placeholder((m, n), name="A1")
    B0, B1 = te.compute((m, n), lambda i, j: (A0[i, j] + 2, A1[i, j] * 3), name="B")
    a0, a1 = uniform(_RNG, (3, 5)), uniform(_RNG, (3, 5))
    b0, b1 = empty((3, 5), "float32"), empty((3, 5), "float32")
    _built([A0, A1, B0, B1])(a0, a1, b0, b1)
    close(b0, a0 + 2.0)
    close(b1, a1 * 3.0)


def test_the_arguments_keep_the_order_given():
    k = te.reduce_axis((0, 16), "k")
    A, B = te.placeholder((16, 16), name="A"), te.placeholder((16, 8), name="B")
    C = te.compute((16, 8), lambda x, y: te.sum(A[x, k] * B[k, y], axis=k), name="C")
    a, b, c = uniform(_RNG, (16, 16)), uniform(_RNG, (16, 8)), empty((16, 8), "float32")
    _built([C, A, B])(c, a, b)
    close(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


def test_a_rank_zero_constant_stage_and_a_data_dependent_access():
    A = te.placeholder((11,), name="A")
    two = te.compute((), lambda: 2, name="B")
    C = te.compute((11,), lambda x: A[x] + two(), name="C", tag="broadcast")
    assert (two.dtype, C.dtype) == ("int32", "float32")
    a, c = uniform(_RNG, (11,)), empty((11,), "float32")
    _built([C, A])(c, a)
    close(c, a + 2.0)
    index = te.placeholder((11,), name="I", dtype="int32")
    D = te.compute((11,), lambda i: A[index[i]], name="D")
    rows, d = _RNG.permutation(11).astype(np.int32), empty((11,), "float32")
    _built([D, A, index])(d, a, rows)
    close(d, a[rows])


def test_compute_attributes_and_a_scan_function():
    k = te.reduce_axis((0, 16), "k")
    A, B = te.placeholder((16, 16), name="A"), te.placeholder((16, 16), name="B")
    C = te.compute((16, 16), lambda x, y: te.sum(A[x, k] * B[y, k], axis=k), name="C",
                   attrs={"layout_free_placeholders": [B]})
    D = te.compute((16, 16), lambda x, y: C[x, y] + 1, name="D", attrs={"layout_free_placeholders": [C]})
    assert list(D.op.attrs["layout_free_placeholders"]) == [C]
    a, b, d = uniform(_RNG, (16, 16)), uniform(_RNG, (16, 16)), empty((16, 16), "float32")
    _built([A, B, D])(a, b, d)
    close(d, a.astype(np.float64) @ b.T + 1, rtol=1e-5, atol=1e-5)
    m, n = te.var("m"), te.var("n")
    X, state = te.placeholder((m, n), name="X"), te.placeholder((m, n), name="state")
    init = te.compute((1, n), lambda _, i: X[0, i], name="init")
    update = te.compute((m, n), lambda t, i: state[t - 1, i] + X[t, i], name="update")
    scan = te.scan(init, update, state, inputs=[X])  # TVM: "Unsupported Operation: ScanOp"
    x, out = uniform(_RNG, (5, 3)), empty((5, 3), "float32")
    _built([X, scan])(x, out)
    close(out, np.cumsum(x.astype(np.float64), axis=0), rtol=1e-5, atol=1e-5)
