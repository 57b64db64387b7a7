"""rfactor: the factored stage's loop nest, values against numpy on interp and llvm, traces,
and every refusal."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from tests.schedules.errors_common import rejects
from tests.schedules.helpers import check_numpy, check_roundtrip, nest


def _row_sum(n=5, m=37):
    A = ns.placeholder((n, m), name="A")
    k = ns.reduce_axis(m, name="k")
    B = ns.compute((n,), lambda i: ns.sum(A[i, k], axis=k), name="B")
    return A, k, B


def test_rfactor_of_an_inner_split_golden_values_and_trace():
    A, k, B = _row_sum()
    s = ns.create_schedule(B)
    _, ki = s[B].split(k, factor=8)
    BF = s.rfactor(B, ki, factor_axis=1)
    assert BF.shape == (5, 8) and BF.name == "B.rf"
    assert [iv.name for iv in s[B].op.reduce_axis] == ["k.inner"]
    assert nest(s, [A, B]) == """\
func f(A: float32[5, 37], B: float32[5]) {
  allocate B.rf: float32[5, 8] in global
  for i in 0..5:
    for k.inner in 0..8:
      B.rf[i, k.inner] = 0.0
      for k.outer in 0..5:
        B.rf[i, k.inner] = B.rf[i, k.inner] + if_then_else(k.outer * 8 + k.inner < 37, A[i, k.outer * 8 + k.inner], 0.0)
  for i in 0..5:
    B[i] = 0.0
    for k.inner in 0..8:
      B[i] = B[i] + B.rf[i, k.inner]
}"""
    check_numpy(s, [A, B], lambda a: a.sum(axis=1))
    check_roundtrip(s, [A, B])
    assert str(s.trace).splitlines()[-1] == "B_rf = s.rfactor(B, k_inner, factor_axis=1)"


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_rfactor_stage_vectorized_and_parallel(target):
    m = 100
    A = ns.placeholder((m,), name="A")
    k = ns.reduce_axis(m, name="k")
    B = ns.compute((1,), lambda i: ns.sum(A[k], axis=k), name="B")
    s = ns.create_schedule(B)
    ko, ki = s[B].split(k, factor=8)
    BF = s.rfactor(B, ki)
    s[BF].vectorize(s[BF].op.axis[0])
    a = np.random.default_rng(0).random(m, dtype=np.float32)
    out = np.zeros(1, np.float32)
    ns.build(s, [A, B], target=target)(a, out)
    np.testing.assert_allclose(out, [a.astype(np.float64).sum()], rtol=1e-5)
    # the other way round: the outer part factored and run on threads
    s = ns.create_schedule(B)
    ko, ki = s[B].split(k, nparts=4)
    BF = s.rfactor(B, ko)
    s[BF].parallel(s[BF].op.axis[0])
    out = np.zeros(1, np.float32)
    ns.build(s, [A, B], target=target)(a, out)
    np.testing.assert_allclose(out, [a.astype(np.float64).sum()], rtol=1e-5)


def test_rfactor_of_fused_axes_with_an_offset_max_reduction():
    A = ns.placeholder((4, 6, 10), name="A")
    r1, r2 = ns.reduce_axis((1, 6), name="r1"), ns.reduce_axis(10, name="r2")
    C = ns.compute((4,), lambda i: ns.max(A[i, r1, r2], axis=[r1, r2]), name="C")
    s = ns.create_schedule(C)
    fo, _ = s[C].split(s[C].fuse(r1, r2), nparts=4)
    s.rfactor(C, fo)
    check_numpy(s, [A, C], lambda a: a[:, 1:, :].max(axis=(1, 2)))
    check_roundtrip(s, [A, C])
    s = ns.create_schedule(C)
    CF = s.rfactor(C, r1)  # a root axis with a nonzero start: no reduction is left in C.rf but r2
    assert CF.shape == (5, 4)
    check_numpy(s, [A, C], lambda a: a[:, 1:, :].max(axis=(1, 2)))


def test_rfactor_of_the_only_reduction_loop_is_elementwise():
    A, k, B = _row_sum(3, 6)
    s = ns.create_schedule(B)
    BF = s.rfactor(B, k)
    assert BF.shape == (6, 3)
    assert "B.rf[k, i] = A[i, k]" in nest(s, [A, B])
    check_numpy(s, [A, B], lambda a: a.sum(axis=1))


def test_rfactor_then_the_final_stage_is_scheduled():
    A, k, B = _row_sum(6, 40)
    s = ns.create_schedule(B)
    _, ki = s[B].split(k, factor=4)
    BF = s.rfactor(B, ki)
    s[BF].compute_at(s[B], s[B].op.axis[0])
    check_numpy(s, [A, B], lambda a: a.sum(axis=1))
    check_roundtrip(s, [A, B])


def test_rfactor_after_splitting_the_data_axis_restarts_the_final_stage():
    """As in TVM, splits of the data axes made before rfactor are dropped: the final stage's
    loops are its axes again, and the partial results take the data axes whole."""
    A, k, B = _row_sum(6, 40)
    s = ns.create_schedule(B)
    s[B].split(B.op.axis[0], factor=4)
    ko, ki = s[B].split(k, factor=8)
    BF = s.rfactor(B, ki, factor_axis=1)
    assert BF.shape == (6, 8)
    assert [iv.name for iv in s[B].leaf_iter_vars] == ["i", "k.inner"]
    assert [iv.name for iv in s[BF].leaf_iter_vars] == ["i", "k.inner", "k.outer"]
    assert BF.op.body.axis[0].var is ko.var
    check_numpy(s, [A, B], lambda a: a.sum(axis=1))
    check_roundtrip(s, [A, B])


def test_rfactor_lists_the_whole_reduction_axes_before_the_split_ones():
    A = ns.placeholder((5, 6, 7), name="A")
    k1, k2 = ns.reduce_axis((0, 6), name="k1"), ns.reduce_axis((0, 7), name="k2")
    B = ns.compute((5,), lambda i: ns.sum(A[i, k1, k2], axis=[k1, k2]), name="B")
    s = ns.create_schedule(B)
    ko, ki = s[B].split(k1, factor=4)
    BF = s.rfactor(B, ki)
    assert [iv.name for iv in BF.op.body.axis] == ["k2", "k1.outer"]
    assert BF.op.body.axis[0] is k2
    check_numpy(s, [A, B], lambda a: a.sum(axis=(1, 2)))


# refusals ---------------------------------------------------------------------------------------
def test_rfactor_refusals():
    A, k, B = _row_sum()
    E = ns.compute((5,), lambda i: B[i] * 2, name="E")
    s = ns.create_schedule(E)
    rejects(s, lambda: s.rfactor(E, E.op.axis[0]), "s.rfactor(E, i, factor_axis=0): E is not a reduction",
            "rfactor factors the reduction")
    rejects(s, lambda: s.rfactor(B, B.op.axis[0]), "i is a data-parallel loop of B",
            "pass one of its reduction loops ['k']")
    rejects(s, lambda: s.rfactor(B, "nope"), "stage B has no loop named 'nope'")
    rejects(s, lambda: s.rfactor(B, k, factor_axis=2), "factor_axis=2 is not a position among the 1 "
            "data axes", "pass an int in 0..1")
    rejects(s, lambda: s.rfactor(B, k, factor_axis="0"), "factor_axis='0' is not a position")
    s[B].unroll(k)
    rejects(s, lambda: s.rfactor(B, k), "the reduction loops ['k'] of B are already marked",
            "mark the loops of the stages rfactor returns")
    s = ns.create_schedule(E)
    _, ii = s[B].split(B.op.axis[0], factor=2)
    s[B].vectorize(ii)
    rejects(s, lambda: s.rfactor(B, k), "the data loops ['i.inner'] of B are already marked",
            "call rfactor before marking the data loops")
    s = ns.create_schedule(E)
    s[B].fuse(B.op.axis[0], k)
    rejects(s, lambda: s.rfactor(B, "i.k.fused"), "the loops ['i.k.fused'] of B fuse data axes with reduction axes",
            "call rfactor before fusing them")
    s = ns.create_schedule(E)
    s[B].compute_at(s[E], E.op.axis[0])
    rejects(s, lambda: s.rfactor(B, k), "B is attached", "call rfactor before compute_at")
    other = ns.placeholder((3,), name="other")
    rejects(s, lambda: s.rfactor(other, k), "other is not part of this schedule")


def _argmax():
    return ns.comm_reducer(
        lambda x, y: (ns.if_then_else(x[1] >= y[1], x[0], y[0]), ns.if_then_else(x[1] >= y[1], x[1], y[1])),
        lambda t0, t1: (ns.const(-1, t0), ns.min_value(t1)), name="argmax")


@pytest.mark.parametrize("inner", [True, False])
def test_rfactor_of_a_tuple_reducer_gives_one_partial_per_value(inner):
    X = ns.placeholder((5, 37), name="X")
    k = ns.reduce_axis(37, "k")
    idx, best = ns.compute((5,), lambda i: _argmax()((k, X[i, k]), axis=k), name="T")
    s = ns.create_schedule(idx.op)
    ko, ki = s[idx].split(k, factor=8)
    parts = s.rfactor(idx, ki if inner else ko)
    assert isinstance(parts, list) and len(parts) == 2 and s[parts[0]] is s[parts[1]]
    s[parts[0]].vectorize(s[parts[0]].op.axis[1]) if inner else None

    def reference(x):
        return x.argmax(axis=1).astype("int32"), x.max(axis=1)

    check_numpy(s, [X, idx, best], reference)
    check_roundtrip(s, [X, idx, best])


def test_rfactor_keeps_where_and_init():
    A = ns.placeholder((4, 50), name="A")
    C = ns.placeholder((4,), name="C")
    k = ns.reduce_axis(50, "k")
    B = ns.compute((4,), lambda i: ns.max(A[i, k], axis=k, where=A[i, k] < 0.5, init=C[i]), name="B")
    s = ns.create_schedule(B.op)
    _, ki = s[B].split(k, factor=16)
    BF = s.rfactor(B, ki, factor_axis=1)
    s[BF].parallel(s[BF].op.axis[0])
    check_numpy(s, [A, C, B], lambda a, c: np.maximum(c, np.where(a < 0.5, a, -np.inf).max(axis=1)))
