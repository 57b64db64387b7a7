"""unroll, vectorize, parallel: a loop keeps its range and gains a kind; the values computed do
not change."""

from __future__ import annotations

import pytest

import nestor as ns

from .helpers import check_numpy, check_roundtrip, nest

# these marks sit on inner loops on purpose; the warning that says so is tested in
# test_accepted_schedules_lower
pytestmark = pytest.mark.filterwarnings("ignore::schedules.parallel.InnerParallelWarning")


def matmul(m: int = 13, n: int = 11, kk: int = 7):
    A = ns.placeholder((m, kk), name="A")
    B = ns.placeholder((kk, n), name="B")
    k = ns.reduce_axis(kk, "k")
    C = ns.compute((m, n), lambda i, j: ns.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


MARKED = """\
func f(A: float32[13, 7], B: float32[7, 11], C: float32[13, 11]) {
  parallel for i in 0..13:
    for j.outer in 0..3:
      vectorized for j.inner in 0..4:
        if j.outer * 4 + j.inner < 11:
          C[i, j.outer * 4 + j.inner] = 0.0
      unrolled for k in 0..7:
        vectorized for j.inner in 0..4:
          if j.outer * 4 + j.inner < 11:
            C[i, j.outer * 4 + j.inner] = C[i, j.outer * 4 + j.inner] + A[i, k] * B[k, j.outer * 4 + j.inner]
}"""


def marked_matmul():
    A, B, C = matmul()
    s = ns.create_schedule(C)
    i, j = C.op.axis
    k = C.op.reduce_axis[0]
    jo, ji = s[C].split(j, factor=4)
    s[C].reorder(i, jo, k, ji)
    s[C].parallel(i)
    s[C].unroll(k)
    s[C].vectorize(ji)
    return s, [A, B, C]


def test_marked_nest():
    s, args = marked_matmul()
    assert nest(s, args) == MARKED


def test_marks_change_only_the_loop_kinds():
    s, args = marked_matmul()
    plain = MARKED.replace("parallel for", "for").replace("vectorized for", "for").replace("unrolled for", "for")
    for prefix in ("parallel ", "vectorized ", "unrolled "):
        assert prefix + "for" in nest(s, args)
    A, B, C = matmul()
    s = ns.create_schedule(C)
    jo, ji = s[C].split(C.op.axis[1], factor=4)
    s[C].reorder(C.op.axis[0], jo, C.op.reduce_axis[0], ji)
    assert nest(s, [A, B, C]) == plain


def test_marked_matmul_matches_numpy():
    s, args = marked_matmul()
    check_numpy(s, args, lambda a, b: a @ b)


def test_trace_text_and_roundtrip():
    s, args = marked_matmul()
    assert str(s.trace) == """\
j_outer, j_inner = s[C].split(j, factor=4)
s[C].reorder(i, j_outer, k, j_inner)
s[C].parallel(i)
s[C].unroll(k)
s[C].vectorize(j_inner)"""
    check_roundtrip(s, args)


@pytest.mark.parametrize("mark", ["unroll", "vectorize", "parallel"])
def test_the_same_mark_twice_is_accepted(mark):
    A, B, C = matmul(3, 5, 2)
    s = ns.create_schedule(C)
    j = C.op.axis[1]
    getattr(s[C], mark)(j)
    getattr(s[C], mark)(j)
    check_numpy(s, [A, B, C], lambda a, b: a @ b)


@pytest.mark.parametrize("mark", ["unroll", "vectorize", "parallel"])
def test_each_mark_on_an_imperfect_inner_loop_matches_numpy(mark):
    A, B, C = matmul(5, 13, 3)
    s = ns.create_schedule(C)
    jo, ji = s[C].split(C.op.axis[1], factor=8)
    getattr(s[C], mark)(ji)
    kind = {"unroll": "unrolled", "vectorize": "vectorized", "parallel": "parallel"}[mark]
    assert f"{kind} for j.inner in 0..8:" in nest(s, [A, B, C])
    check_numpy(s, [A, B, C], lambda a, b: a @ b)
    check_roundtrip(s, [A, B, C])


def test_unroll_of_a_reduction_loop():
    A, B, C = matmul(3, 4, 5)
    s = ns.create_schedule(C)
    ko, ki = s[C].split(C.op.reduce_axis[0], factor=2)
    s[C].unroll(ki)
    assert "unrolled for k.inner in 0..2:" in nest(s, [A, B, C])
    check_numpy(s, [A, B, C], lambda a, b: a @ b)
