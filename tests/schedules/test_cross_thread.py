"""Cross-thread reductions: a reduction loop bound to threadIdx.x, alone or after rfactor, as
a loop nest, through the interpreter against numpy, in traces, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from nestor import CodegenError, LoweringError
from schedules.templates.gpu_generic import gpu_generic
from tests.schedules.errors_common import rejects
from tests.schedules.helpers import check_numpy, check_roundtrip, nest


def _rows(n=3, m=100, reducer=ns.sum, dtype="float32"):
    A = ns.placeholder((n, m), dtype, name="A")
    k = ns.reduce_axis(m, name="k")
    B = ns.compute((n,), lambda i: reducer(A[i, k], axis=k), name="B")
    return A, k, B


def _bound(n=3, m=100, factor=64, reducer=ns.sum, dtype="float32"):
    A, k, B = _rows(n, m, reducer, dtype)
    s = ns.create_schedule(B)
    _, ki = s[B].split(k, factor=factor)
    s[B].bind(B.op.axis[0], "blockIdx.x")
    s[B].bind(ki, "threadIdx.x")
    return s, A, B


def test_bound_reduction_loop_golden_values_and_trace():
    s, A, B = _bound()
    assert nest(s, [A, B]) == """\
func f(A: float32[3, 100], B: float32[3]) {
  for i in 0..3 [blockIdx.x]:
    allocate B.acc: float32[1] in local
    allocate B.red: float32[1] in local
    for k.inner in 0..64 [threadIdx.x]:
      B.acc[0] = 0.0
      for k.outer in 0..2:
        if k.outer * 64 + k.inner < 100:
          B.acc[0] = B.acc[0] + A[i, k.outer * 64 + k.inner]
      B.red[0] = thread_allreduce_sum(B.acc[0], threadIdx.x < 64)
      if k.inner == 0:
        B[i] = B.red[0]
}"""
    check_numpy(s, [A, B], lambda a: a.sum(axis=1))
    check_roundtrip(s, [A, B])


@pytest.mark.parametrize("reducer, reference, dtype", [(ns.max, np.max, "float32"),
                                                       (ns.min, np.min, "int32"),
                                                       (ns.sum, np.sum, "int64")])
def test_other_reducers_and_types(reducer, reference, dtype):
    s, A, B = _bound(4, 50, 16, reducer, dtype)
    check_numpy(s, [A, B], lambda a: reference(a, axis=1))


def test_rfactor_then_bind_as_in_tvm():
    """TVM's cross-thread reduction example: the factored stage computed per thread."""
    A, k, B = _rows(6, 70)
    s = ns.create_schedule(B)
    _, ki = s[B].split(k, factor=16)
    BF = s.rfactor(B, ki)
    xo, xi = s[B].split(s[B].op.axis[0], factor=2)
    s[B].bind(xo, "blockIdx.x")
    s[B].bind(xi, "threadIdx.y")
    s[B].bind(s[B].op.reduce_axis[0], "threadIdx.x")
    s[BF].compute_at(s[B], s[B].op.reduce_axis[0])
    s[BF].set_scope("local")
    text = nest(s, [A, B])
    assert "allocate B.rf: float32[1, 1] in local" in text
    assert "B.red[0] = thread_allreduce_sum(B.acc[0], threadIdx.x < 16)" in text
    check_numpy(s, [A, B], lambda a: a.sum(axis=1))
    check_roundtrip(s, [A, B])


def test_gpu_template_shares_long_reductions():
    X = ns.placeholder((4, 300), name="X")
    k1, k2 = ns.reduce_axis(300, "k"), ns.reduce_axis(300, "k")
    M = ns.compute((4,), lambda i: ns.max(X[i, k1], axis=k1), name="rowmax")
    S = ns.compute((4,), lambda i: ns.sum(ns.exp(X[i, k2] - M[i]), axis=k2), name="expsum")
    Y = ns.compute((4, 300), lambda i, j: ns.exp(X[i, j] - M[i]) / S[i], name="Y")
    s = gpu_generic(Y)
    text = nest(s, [X, Y])
    assert "for k.inner in 0..256 [threadIdx.x]:" in text
    assert text.count("thread_allreduce_") == 2

    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    check_numpy(s, [X, Y], softmax)
    # a short reduction, or one with many outputs, keeps one thread per output
    A, k, B = _rows(3, 20)
    assert "thread_allreduce" not in nest(gpu_generic(B), [A, B])
    A, k, B = _rows(20000, 40)
    assert "thread_allreduce" not in nest(gpu_generic(B), [A, B])


def test_refusals():
    A, k, B = _rows()
    s = ns.create_schedule(B)
    ko, ki = s[B].split(k, factor=8)
    s[B].bind(ki, "threadIdx.x")
    rejects(s, lambda: s[B].bind(ko, "threadIdx.x"), "s[B].bind(k.outer, 'threadIdx.x')",
            "threadIdx.x is already bound to loop k.inner")
    with pytest.raises(ns.ScheduleError, match="reduce_threads must be a power of two from 32 to 1024"):
        gpu_generic(B, reduce_threads=48)


def test_data_loop_inside_the_reduction_is_refused_at_lowering():
    A, k, B = _rows()
    s = ns.create_schedule(B)
    s[B].reorder(k, B.op.axis[0])
    s[B].bind(k, "threadIdx.x")
    with pytest.raises(LoweringError, match=r"lower: stage B reduces across threads \(loop k is bound to "
                       r"threadIdx.x\) but its data-parallel loops \['i'\] run inside its reduction "
                       "loops; reorder them outside the reduction loops"):
        ns.lower(s, [A, B])


def test_cpu_refuses_thread_loops():
    s, A, B = _bound()
    with pytest.raises(CodegenError, match="llvm: loop i is bound to blockIdx.x"):
        ns.build(s, [A, B], target="llvm")


def test_where_and_init_join_a_cross_thread_reduction():
    A = ns.placeholder((3, 100), name="A")
    C = ns.placeholder((3,), name="C")
    k = ns.reduce_axis(100, name="k")
    B = ns.compute((3,), lambda i: ns.sum(A[i, k], axis=k, where=A[i, k] > 0.5, init=C[i]), name="B")
    s = ns.create_schedule(B)
    _, ki = s[B].split(k, factor=32)
    s[B].bind(B.op.axis[0], "blockIdx.x")
    s[B].bind(ki, "threadIdx.x")
    check_numpy(s, [A, C, B], lambda a, c: c + np.where(a > 0.5, a, 0).sum(axis=1))


def test_user_reducer_across_threads_combines_the_threads_values():
    """TVM's allreduce with any commutative reducer (refused before; the programs of
    tests/conformance/test_te_allreduce.py run it on the CUDA host emulation as well)."""
    product = ns.comm_reducer(lambda x, y: x * y, lambda t: ns.const(1, t), name="product")
    s, A, B = _bound(reducer=product)
    assert "B.red[0] = thread_allreduce_product((B.acc[0]), threadIdx.x < 64)[0]" in nest(s, [A, B])
    a = np.random.default_rng(3).uniform(0.9, 1.1, size=(3, 100)).astype("float32")
    out = np.full(3, np.nan, "float32")
    ns.build(s, [A, B], target="interp")(a, out)
    np.testing.assert_allclose(out, a.astype(np.float64).prod(axis=1), rtol=1e-5)
