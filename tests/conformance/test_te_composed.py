"""TVM te programs that compose several primitives (through :mod:`te_shim`): a symbolic stencil
tiled with its producer attached per tile, a chain of three attached stages, rfactor of a
`where` reduction and of an argmax attached per row, a symbolic rfactor with a parallel row loop,
a symbolic register-tiled matmul with read and write caches, and the derived gradients of a
convolution; on LLVM against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def test_symbolic_stencil_tiled_with_its_producer_per_tile(rng):
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n + 2, m + 2), name="A")
    B = te.compute((n + 2, m + 2), lambda i, j: A[i, j] * 2, name="B")
    C = te.compute((n, m), lambda i, j: B[i, j] + B[i + 1, j + 1] + B[i + 2, j + 2], name="C")
    s = te.create_schedule(C.op)
    xo, yo, xi, yi = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 8)
    s[B].compute_at(s[C], yo)
    s[C].vectorize(yi)
    s[C].parallel(xo)
    f = tvm.build(s, [A, C])
    for rows, cols in ((5, 9), (8, 16), (1, 1)):
        a = uniform(rng, (rows + 2, cols + 2))
        c = empty((rows, cols), "float32")
        f(a, c)
        a64 = a.astype(np.float64)
        close(c, 2 * (a64[:-2, :-2] + a64[1:-1, 1:-1] + a64[2:, 2:]))


def test_a_chain_of_three_attached_stages(rng):
    A = te.placeholder((12, 12), name="A")
    B = te.compute((12, 12), lambda i, j: A[i, j] + 1, name="B")
    C = te.compute((12, 12), lambda i, j: B[i, j] * 2, name="C")
    D = te.compute((12, 12), lambda i, j: C[i, j] - 3, name="D")
    s = te.create_schedule(D.op)
    xo, xi = s[D].split(D.op.axis[0], 4)
    s[C].compute_at(s[D], xo)
    s[B].compute_at(s[C], s[C].op.axis[1])
    a = uniform(rng, (12, 12))
    d = empty((12, 12), "float32")
    tvm.build(s, [A, D])(a, d)
    close(d, (a.astype(np.float64) + 1) * 2 - 3)


def test_rfactor_of_a_where_reduction_attached_per_row(rng):
    A = te.placeholder((6, 40), name="A")
    k = te.reduce_axis((0, 40), "k")
    B = te.compute((6,), lambda i: te.sum(A[i, k], axis=k, where=A[i, k] > 0.0), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(k, 8)
    BF = s.rfactor(B, ki)
    s[BF].compute_at(s[B], s[B].op.axis[0])
    a = uniform(rng, (6, 40))
    b = empty((6,), "float32")
    tvm.build(s, [A, B])(a, b)
    close(b, np.where(a > 0, a.astype(np.float64), 0).sum(1))


def test_rfactor_of_an_argmax_attached_per_row(rng):
    def fcombine(x, y):
        return te.if_then_else(x[1] >= y[1], x[0], y[0]), te.if_then_else(x[1] >= y[1], x[1], y[1])

    argmax = te.comm_reducer(fcombine, lambda t0, t1: (te.const(-1, t0), te.min_value(t1)), name="argmax")
    X = te.placeholder((5, 32), name="X")
    k = te.reduce_axis((0, 32), "k")
    idx, val = te.compute((5,), lambda i: argmax((k.var, X[i, k]), axis=k), name="T")
    s = te.create_schedule(idx.op)
    ko, ki = s[idx].split(k, 4)
    partial_idx, partial_val = s.rfactor(idx, ki)
    s[partial_idx].compute_at(s[idx], s[idx].op.axis[0])
    x = uniform(rng, (5, 32))
    i_out, v_out = empty((5,), "int32"), empty((5,), "float32")
    tvm.build(s, [X, idx, val])(x, i_out, v_out)
    close(i_out, x.argmax(1))
    close(v_out, x.max(1))


def test_symbolic_rfactor_with_a_parallel_row_loop(rng):
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n, m), name="A")
    k = te.reduce_axis((0, m), "k")
    B = te.compute((n,), lambda i: te.sum(A[i, k] * A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(k, 16)
    s.rfactor(B, ki)
    xo, xi = s[B].split(s[B].op.axis[0], 4)
    s[B].parallel(xo)
    f = tvm.build(s, [A, B])
    for shape in ((3, 5), (9, 33)):
        a = uniform(rng, shape)
        b = empty((shape[0],), "float32")
        f(a, b)
        close(b, (a.astype(np.float64) ** 2).sum(1))


@pytest.mark.parametrize("rows", [1, 6, 13])
def test_symbolic_register_tiled_matmul_with_caches(rows, rng):
    n = te.var("n")
    A = te.placeholder((n, 16), name="A")
    W = te.placeholder((16, 8), name="W")
    k = te.reduce_axis((0, 16), "k")
    C = te.compute((n, 8), lambda i, j: te.sum(A[i, k] * W[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    CL = s.cache_write(C, "local")
    xo, xi = s[C].split(C.op.axis[0], 4)
    s[CL].compute_at(s[C], xo)
    ko, ki = s[CL].split(s[CL].op.reduce_axis[0], 4)
    s[CL].reorder(ko, ki, *s[CL].op.axis)
    s[CL].vectorize(s[CL].op.axis[1])
    s[CL].unroll(s[CL].op.axis[0])
    AA = s.cache_read(A, "local", [CL])
    s[AA].compute_at(s[CL], ko)
    a, w = uniform(rng, (rows, 16)), uniform(rng, (16, 8))
    c = empty((rows, 8), "float32")
    tvm.build(s, [A, W, C])(a, w, c)
    close(c, a.astype(np.float64) @ w)


def test_gradients_of_a_convolution(rng):
    X = te.placeholder((1, 1, 6, 6), name="X")
    Wt = te.placeholder((2, 1, 3, 3), name="W")
    rc, ry, rx = te.reduce_axis((0, 1), "rc"), te.reduce_axis((0, 3), "ry"), te.reduce_axis((0, 3), "rx")
    Y = te.compute((1, 2, 4, 4), lambda b, f, y, x: te.sum(X[b, rc, y + ry, x + rx] * Wt[f, rc, ry, rx],
                                                           axis=[rc, ry, rx]), name="Y")
    H = te.placeholder((1, 2, 4, 4), name="H")
    dX, dW = te.gradient(Y, [X, Wt], head=H)
    x, w, h = uniform(rng, (1, 1, 6, 6)), uniform(rng, (2, 1, 3, 3)), uniform(rng, (1, 2, 4, 4))
    dx, dw = empty(x.shape, "float32"), empty(w.shape, "float32")
    tvm.build(te.create_schedule([dX.op, dW.op]), [X, Wt, H, dX, dW])(x, w, h, dx, dw)
    want_dx, want_dw = np.zeros(x.shape), np.zeros(w.shape)
    for f in range(2):
        for y in range(4):
            for xx in range(4):
                want_dx[0, 0, y:y + 3, xx:xx + 3] += h[0, f, y, xx] * w[f, 0].astype(np.float64)
                want_dw[f, 0] += h[0, f, y, xx] * x[0, 0, y:y + 3, xx:xx + 3].astype(np.float64)
    close(dx, want_dx)
    close(dw, want_dw)
