"""TVM's reduction tutorial and te reduction tests as TVM programs (through :mod:`te_shim`):
row sums with symbolic shapes, split reductions, rfactor (factor_axis, rank 0, attached),
a 2-D convolution as a reduction over two axes, `where=` and `init=`, max/min reducers and
`comm_reducer` (a product, and argmax over tuple values), on LLVM against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def row_sum(n, m):
    A = te.placeholder((n, m), name="A")
    k = te.reduce_axis((0, m), "k")
    B = te.compute((n,), lambda i: te.sum(A[i, k], axis=k), name="B")
    return A, B


def check_rows(s, A, B, rng, sizes=((5, 7), (33, 70))):
    f = tvm.build(s, [A, B])
    for n, m in sizes:
        a = uniform(rng, (n, m))
        b = empty((n,), B.dtype)
        f(a, b)
        close(b, a.astype(np.float64).sum(axis=1))


def test_row_sum_symbolic(rng):
    n, m = te.var("n"), te.var("m")
    A, B = row_sum(n, m)
    s = te.create_schedule(B.op)
    assert str(tvm.lower(s, [A, B], simple_mode=True)) == """\
func main(A: float32[n, m], B: float32[n]) {
  for i in 0..n:
    B[i] = 0.0
    for k in 0..m:
      B[i] = B[i] + A[i, k]
}"""
    check_rows(s, A, B, rng)


def test_split_reduce_and_spatial_axes(rng):
    n, m = te.var("n"), te.var("m")
    A, B = row_sum(n, m)
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=16)
    xo, xi = s[B].split(B.op.axis[0], factor=32)
    check_rows(s, A, B, rng)


def test_rfactor_makes_a_stage_of_partial_sums(rng):
    n, m = te.var("n"), te.var("m")
    A, B = row_sum(n, m)
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=16)
    BF = s.rfactor(B, ki)
    assert BF.shape[0] == 16 and BF.shape[1] is n
    assert [iv.name for iv in s[B].op.reduce_axis] == ["k.inner"]
    check_rows(s, A, B, rng)


def test_rfactor_factor_axis_and_attached(rng):
    A, B = row_sum(8, 32)
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=4)
    BF = s.rfactor(B, ki, factor_axis=1)
    assert BF.shape == (8, 4)
    s[BF].compute_at(s[B], s[B].op.axis[0])
    assert "allocate B.rf: float32[1, 4] in global" in str(tvm.lower(s, [A, B]))
    check_rows(s, A, B, rng, sizes=((8, 32),))


def test_rfactor_of_a_rank0_sum_parallel(rng):
    n = 64
    A = te.placeholder((n,), name="A")
    k = te.reduce_axis((0, n), "k")
    B = te.compute((), lambda: te.sum(A[k], axis=k), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(k, factor=8)
    BF = s.rfactor(B, ki)
    s[BF].parallel(BF.op.axis[0])
    a = uniform(rng, n)
    b = np.array(np.nan, np.float32)
    tvm.build(s, [A, B])(a, b)
    close(b, a.astype(np.float64).sum())


def test_two_axis_reduction_convolution(rng):
    n = te.var("n")
    Input = te.placeholder((n, n), name="Input")
    Filter = te.placeholder((3, 3), name="Filter")
    di = te.reduce_axis((0, 3), name="di")
    dj = te.reduce_axis((0, 3), name="dj")
    Output = te.compute((n - 2, n - 2),
                        lambda i, j: te.sum(Input[i + di, j + dj] * Filter[di, dj], axis=[di, dj]),
                        name="Output")
    s = te.create_schedule(Output.op)
    f = tvm.build(s, [Input, Filter, Output])
    for size in (3, 11):
        x, w = uniform(rng, (size, size)), uniform(rng, (3, 3))
        o = empty((size - 2, size - 2), "float32")
        f(x, w, o)
        want = [[(x[i:i + 3, j:j + 3].astype(np.float64) * w).sum() for j in range(size - 2)]
                for i in range(size - 2)]
        close(o, want)


def test_where_and_init(rng):
    A = te.placeholder((6, 10), name="A")
    Init = te.placeholder((6,), name="Init")
    k = te.reduce_axis((0, 10), "k")
    B = te.compute((6,), lambda i: te.sum(A[i, k], axis=k, where=A[i, k] > 0.0), name="B")
    C = te.compute((6,), lambda i: te.sum(A[i, k], axis=k, init=Init[i]), name="C")
    D = te.compute((6,), lambda i: te.max(A[i, k], axis=k, where=k < i + 3), name="D")
    E = te.compute((6,), lambda i: te.min(A[i, k] * 2.0, axis=k), name="E")
    s = te.create_schedule([B.op, C.op, D.op, E.op])
    a, init = uniform(rng, (6, 10)), uniform(rng, 6)
    b, c, d, e = (empty((6,), "float32") for _ in range(4))
    tvm.build(s, [A, Init, B, C, D, E])(a, init, b, c, d, e)
    a64 = a.astype(np.float64)
    close(b, np.where(a64 > 0, a64, 0).sum(1))
    close(c, a64.sum(1) + init)
    close(d, [a[i, :i + 3].max() for i in range(6)])
    close(e, 2 * a64.min(1))


def test_comm_reducer_product(rng):
    n, m = te.var("n"), te.var("m")
    product = te.comm_reducer(lambda x, y: x * y, lambda t: te.const(1, dtype=t), name="product")
    A = te.placeholder((n, m), name="A")
    k = te.reduce_axis((0, m), name="k")
    B = te.compute((n,), lambda i: product(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    a = uniform(rng, (3, 5), low=0.5, high=1.5)
    b = empty((3,), "float32")
    tvm.build(s, [A, B])(a, b)
    close(b, a.astype(np.float64).prod(1))


def argmax_reducer():
    def fcombine(x, y):
        lhs = te.if_then_else((x[1] >= y[1]), x[0], y[0])
        rhs = te.if_then_else((x[1] >= y[1]), x[1], y[1])
        return lhs, rhs

    def fidentity(t0, t1):
        return te.const(-1, t0), te.min_value(t1)

    return te.comm_reducer(fcombine, fidentity, name="argmax")


def test_argmax_over_tuple_values(rng):
    argmax = argmax_reducer()
    m, n = te.var("m"), te.var("n")
    idx = te.placeholder((m, n), name="idx", dtype="int32")
    val = te.placeholder((m, n), name="val", dtype="int32")
    k = te.reduce_axis((0, n), "k")
    T0, T1 = te.compute((m,), lambda i: argmax((idx[i, k], val[i, k]), axis=k), name="T")
    s = te.create_schedule(T0.op)
    assert s[T0] is s[T1]
    f = tvm.build(s, [idx, val, T0, T1])
    iv = np.tile(np.arange(9, dtype="int32"), (4, 1))
    vv = rng.integers(0, 4, (4, 9)).astype("int32")  # ties: the first maximum wins (x is kept on >=)
    t0, t1 = empty((4,), "int32"), empty((4,), "int32")
    f(iv, vv, t0, t1)
    close(t0, vv.argmax(1))
    close(t1, vv.max(1))


def test_argmax_of_a_float_row_with_a_split_rfactor(rng):
    argmax = argmax_reducer()
    X = te.placeholder((5, 24), name="X")
    k = te.reduce_axis((0, 24), "k")
    idx, best = te.compute((5,), lambda i: argmax((k.var.astype("int32"), X[i, k]), axis=k), name="T")
    s = te.create_schedule(idx.op)
    ko, ki = s[idx].split(k, factor=8)
    s.rfactor(idx, ki)
    x = uniform(rng, (5, 24))
    i_out, v_out = empty((5,), "int32"), empty((5,), "float32")
    tvm.build(s, [X, idx, best])(x, i_out, v_out)
    close(i_out, x.argmax(1))
    close(v_out, x.max(1))


@pytest.mark.parametrize("dtype", ["int8", "float16", "float64"])
def test_min_value_is_the_identity_of_max(dtype, rng):
    A = te.placeholder((3, 4), name="A", dtype=dtype)
    k = te.reduce_axis((0, 4), "k")
    B = te.compute((3,), lambda i: te.max(A[i, k], axis=k), name="B")
    C = te.compute((3,), lambda i: te.min(A[i, k], axis=k), name="C")
    s = te.create_schedule([B.op, C.op])
    a = uniform(rng, (3, 4), dtype)
    b, c = empty((3,), dtype), empty((3,), dtype)
    tvm.build(s, [A, B, C])(a, b, c)
    close(b, a.max(1))
    close(c, a.min(1))
    assert float(te.min_value(dtype).value) == float(np.finfo(dtype).min if a.dtype.kind == "f"
                                                    else np.iinfo(dtype).min)
