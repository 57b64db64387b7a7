"""Programs in the style of TVM's te unit tests (tests/python/te: schedule, schedule_ops, bound
inference, tensor, verify_compute, autodiff) through :mod:`te_shim`, on LLVM against numpy; the
programs TVM refuses are refused here too, at the call, with a message naming the fix."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def run(s, args, arrays, target="llvm"):
    outs = [empty(t.shape, t.dtype) for t in args[len(arrays):]]
    tvm.build(s, args, target=target)(*arrays, *outs)
    return outs


def test_tensor_call_syntax_varargs_and_chained_indexing(rng):
    A = te.placeholder((4, 5), name="A")
    B = te.compute(A.shape, lambda *i: A(*i) + 1, name="B")
    C = te.compute(A.shape, lambda i, j: A[i][j] * 2 + B[i][j], name="C")
    a = uniform(rng, (4, 5))
    b, c = run(te.create_schedule([B.op, C.op]), [A, B, C], [a])
    close(b, a + 1)
    close(c, 3 * a.astype(np.float64) + 1)


def test_a_partly_indexed_tensor_in_an_expression_names_the_access():
    A = te.placeholder((4, 5), name="A")
    message = r"access A\[i\]: A has rank 2 \(shape \[4, 5\]\) but 1 indices were given; give one index per dimension"
    with pytest.raises(te.DefinitionError, match=message):
        te.compute((4,), lambda i: A[i] + 1)
    with pytest.raises(te.DefinitionError, match=message):
        te.compute((4,), lambda i: A[i])


def test_constant_bodies_list_shapes_and_default_names():
    n = te.var("n")
    P = te.placeholder([n, 3])
    assert P.name.startswith("placeholder")
    assert te.compute((4,), lambda i: 1).dtype == "int32"
    assert te.compute((4,), lambda i: 1.5).dtype == "float32"
    D = te.compute((P.shape[0] // 2,), lambda i: P[2 * i, 0], name="D")
    f = tvm.build(te.create_schedule(D.op), [P, D])
    p = np.arange(21, dtype="float32").reshape(7, 3)
    d = empty((3,), "float32")
    f(p, d)
    close(d, p[0:6:2, 0])


def test_create_schedule_takes_ops_tensors_and_lists_and_stages_index_by_op():
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] + 1, name="B")
    C = te.compute((8,), lambda i: A[i] * 2, name="C")
    for outputs in (B.op, B, [B.op, C.op], [B, C]):
        s = te.create_schedule(outputs)
        assert s[B] is s[B.op]
    assert s.normalize() is s


def test_fuse_split_reorder_on_a_3d_compute(rng):
    A = te.placeholder((6, 5, 4), name="A")
    B = te.compute((6, 5, 4), lambda i, j, k: A[i, j, k] * 3.0 + i, name="B")
    s = te.create_schedule(B.op)
    i, j, k = B.op.axis
    fused = s[B].fuse(j, k)
    xo, xi = s[B].split(fused, factor=7)
    assert s[B].leaf_iter_vars == (i, xo, xi)
    s[B].reorder(xo, i, xi)
    assert s[B].leaf_iter_vars == (xo, i, xi)
    s[B].vectorize(xi)
    a = uniform(rng, (6, 5, 4))
    (b,) = run(s, [A, B], [a])
    close(b, a.astype(np.float64) * 3 + np.arange(6)[:, None, None])


def test_fusing_two_reduce_axes_then_splitting(rng):
    A = te.placeholder((4, 5), name="A")
    k1, k2 = te.reduce_axis((0, 4), "k1"), te.reduce_axis((0, 5), "k2")
    B = te.compute((1,), lambda i: te.sum(A[k1, k2], axis=[k1, k2]), name="B")
    s = te.create_schedule(B.op)
    s[B].split(s[B].fuse(k1, k2), 3)
    a = uniform(rng, (4, 5))
    (b,) = run(s, [A, B], [a])
    close(b, [a.astype(np.float64).sum()])


def test_refusals_tvm_shares():
    A = te.placeholder((4, 5), name="A")
    k = te.reduce_axis((0, 5), "k")
    B = te.compute((4, 5, 6), lambda i, j, m: A[i, j] * m, name="B")
    R = te.compute((4,), lambda i: te.sum(A[i, k], axis=k), name="R")
    C = te.compute((4,), lambda i: R[i] * 2, name="C")
    s = te.create_schedule([B.op, C.op])
    i, j, m = B.op.axis
    with pytest.raises(te.ScheduleError, match=r"s\[B\].fuse\(i, m\): the loops \['i', 'm'\] are not adjacent"):
        s[B].fuse(i, m)
    with pytest.raises(te.ScheduleError, match=r"s\[R\].compute_inline\(\): R is a reduction; its value needs "
                       "a loop"):
        s[R].compute_inline()
    with pytest.raises(te.DefinitionError, match="a reducer \\(sum\\) must be the whole body"):
        te.compute((4,), lambda i: te.sum(A[i, k], axis=k) + 1)


def test_two_stages_attached_in_one_reader(rng):
    A = te.placeholder((4, 5), name="A")
    B = te.compute((4, 5), lambda i, j: A[i, j] + 1, name="B")
    C = te.compute((4, 5), lambda i, j: B[i, j] * 2, name="C")
    D = te.compute((4, 5), lambda i, j: B[i, j] + C[i, j], name="D")
    s = te.create_schedule(D.op)
    s[B].compute_at(s[D], D.op.axis[0])
    s[C].compute_at(s[D], D.op.axis[0])
    text = str(tvm.lower(s, [A, D]))
    assert "allocate B: float32[1, 5] in global" in text and "allocate C: float32[1, 5] in global" in text
    a = uniform(rng, (4, 5))
    (d,) = run(s, [A, D], [a])
    close(d, 3 * (a.astype(np.float64) + 1))


def test_bound_inference_of_a_shifted_window(rng):
    # TVM's test_bound_inference: a reader of A1[i, j] and A1[i, j + 1] needs one more column
    A = te.placeholder((16, 17), name="A")
    A1 = te.compute((16, 17), lambda i, j: A[i, j] * 2.0, name="A1")
    A2 = te.compute((16, 16), lambda i, j: A1[i, j] + A1[i, j + 1], name="A2")
    s = te.create_schedule(A2.op)
    xo, xi = s[A2].split(A2.op.axis[1], 8)
    s[A1].compute_at(s[A2], xo)
    assert "allocate A1: float32[1, 9] in global" in str(tvm.lower(s, [A, A2]))
    a = uniform(rng, (16, 17))
    (r,) = run(s, [A, A2], [a])
    close(r, 2 * (a[:, :-1].astype(np.float64) + a[:, 1:]))


def test_cache_read_shared_by_two_readers(rng):
    A = te.placeholder((4, 5), name="A")
    B = te.compute((4, 5), lambda i, j: A[i, j] + 1, name="B")
    C = te.compute((4, 5), lambda i, j: A[i, j] * 2, name="C")
    s = te.create_schedule([B.op, C.op])
    AA = s.cache_read(A, "global", [B, C])
    assert AA.name == "A.global"
    assert str(tvm.lower(s, [A, B, C])) == """\
func main(A: float32[4, 5], B: float32[4, 5], C: float32[4, 5]) {
  allocate A.global: float32[4, 5] in global
  for ax0 in 0..4:
    for ax1 in 0..5:
      A.global[ax0, ax1] = A[ax0, ax1]
  for i in 0..4:
    for j in 0..5:
      B[i, j] = A.global[i, j] + 1.0
  for i in 0..4:
    for j in 0..5:
      C[i, j] = A.global[i, j] * 2.0
}"""
    a = uniform(rng, (4, 5))
    b, c = run(s, [A, B, C], [a])
    close(b, a + 1)
    close(c, 2 * a)


def test_gradient_of_a_dense_layer(rng):
    X = te.placeholder((4, 5), name="X")
    W = te.placeholder((3, 5), name="W")
    k = te.reduce_axis((0, 5), "k")
    Y = te.compute((4, 3), lambda i, j: te.sum(X[i, k] * W[j, k], axis=k), name="Y")
    H = te.placeholder((4, 3), name="H")
    dX, dW = te.gradient(Y, [X, W], head=H)
    x, w, h = uniform(rng, (4, 5)), uniform(rng, (3, 5)), uniform(rng, (4, 3))
    dx, dw = run(te.create_schedule([dX.op, dW.op]), [X, W, H, dX, dW], [x, w, h])
    close(dx, h.astype(np.float64) @ w)
    close(dw, h.T.astype(np.float64) @ x)


def test_llvm_target_strings_with_cpu_flags(rng):
    A = te.placeholder((8,), name="A")
    C = te.compute((8,), lambda i: A[i] * 2.0, name="C")
    s = te.create_schedule(C.op)
    a = uniform(rng, 8)
    c = empty((8,), "float32")
    tvm.build(s, [A, C], "llvm -mcpu=skylake-avx512 -mattr=+avx2")(a, c)
    close(c, 2 * a)
    with pytest.raises(te.LoweringError, match="build: unknown target 'llvm -mtriple=aarch64-linux-gnu'; "
                       "available targets: llvm, cuda, interp; an llvm target string may carry only -mcpu= "
                       "and -mattr="):
        tvm.build(s, [A, C], "llvm -mtriple=aarch64-linux-gnu")


def test_tvm_primitives_nestor_refuses_name_what_to_do_instead():
    A = te.placeholder((16,), name="A")
    A1 = te.compute((16,), lambda i: A[i] + 1, name="A1")
    s = te.create_schedule(A1.op)
    xo, xi = s[A1].split(A1.op.axis[0], 8)
    # pragmas are hints, recorded as TVM records them (tests/conformance/test_te_schedule_unit.py)
    s[A1].pragma(xo, "auto_unroll_max_step", 10)
    s[A1].pragma(xo, "parallel_launch_point")
    assert [k.value for k in s[A1].iter_var_attrs[xo].pragma_keys] == ["auto_unroll_max_step", "parallel_launch_point"]
    with pytest.raises(te.ScheduleError, match=r"s\[A1\].tensorize\(i.inner, None\): None is not a tensor "
                       "intrinsic"):
        s[A1].tensorize(xi, None)  # a real primitive now (tests/conformance/test_te_tensorize.py)
    s[A1].prefetch(A, xo, 1)  # a real prefetch now (tests/conformance/test_te_prefetch.py); values unchanged
    # transform_layout is taken now (tests/conformance/test_te_transform_layout.py)
    with pytest.raises(te.ScheduleError, match=r"thread_axis\('vthreads'\): unknown thread tag; use one of "
                       r"blockIdx.x, .*threadIdx.z, vthread, cthread"):
        te.thread_axis("vthreads")  # vthread itself is taken (tests/conformance/test_te_vthread.py)
    f = tvm.build(s, [A, A1])  # the refusals left the schedule as it was
    a = np.arange(16, dtype="float32")
    out = empty((16,), "float32")
    f(a, out)
    close(out, a + 1)
