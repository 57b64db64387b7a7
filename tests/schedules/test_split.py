"""split: the printed nest (guards only where the factor does not divide the extent), agreement
with numpy for perfect and imperfect splits, and the trace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nestor as ns

from .helpers import check_numpy, check_roundtrip, imperfect, nest


def scale(n: int):
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] * 2.0, name="B")
    return A, B


def row_sum(rows: int = 5, cols: int = 13):
    X = ns.placeholder((rows, cols), name="X")
    k = ns.reduce_axis(cols, "k")
    Y = ns.compute((rows,), lambda i: ns.sum(X[i, k], axis=k), name="Y")
    return X, Y


IMPERFECT = """\
func f(A: float32[13], B: float32[13]) {
  for i.outer in 0..2:
    for i.inner in 0..8:
      if i.outer * 8 + i.inner < 13:
        B[i.outer * 8 + i.inner] = A[i.outer * 8 + i.inner] * 2.0
}"""

PERFECT = """\
func f(A: float32[16], B: float32[16]) {
  for i.outer in 0..2:
    for i.inner in 0..8:
      B[i.outer * 8 + i.inner] = A[i.outer * 8 + i.inner] * 2.0
}"""


def test_imperfect_split_is_guarded():
    A, B = scale(13)
    s = ns.create_schedule(B)
    s[B].split(B.op.axis[0], factor=8)
    assert nest(s, [A, B]) == IMPERFECT


def test_perfect_split_has_no_guard():
    A, B = scale(16)
    s = ns.create_schedule(B)
    s[B].split(B.op.axis[0], factor=8)
    assert nest(s, [A, B]) == PERFECT


def test_split_by_nparts():
    A, B = scale(37)
    s = ns.create_schedule(B)
    outer, inner = s[B].split(B.op.axis[0], nparts=4)
    assert (outer.extent, inner.extent) == (4, 10)
    assert nest(s, [A, B]) == """\
func f(A: float32[37], B: float32[37]) {
  for i.outer in 0..4:
    for i.inner in 0..10:
      if i.outer * 10 + i.inner < 37:
        B[i.outer * 10 + i.inner] = A[i.outer * 10 + i.inner] * 2.0
}"""
    assert str(s.trace) == "i_outer, i_inner = s[B].split(i, nparts=4)"
    check_numpy(s, [A, B], lambda a: a * 2)
    check_roundtrip(s, [A, B])


def test_split_of_a_reduction_guards_the_update_only():
    X, Y = row_sum()
    s = ns.create_schedule(Y)
    s[Y].split(Y.op.reduce_axis[0], factor=4)
    assert nest(s, [X, Y]) == """\
func f(X: float32[5, 13], Y: float32[5]) {
  for i in 0..5:
    Y[i] = 0.0
    for k.outer in 0..4:
      for k.inner in 0..4:
        if k.outer * 4 + k.inner < 13:
          Y[i] = Y[i] + X[i, k.outer * 4 + k.inner]
}"""
    check_numpy(s, [X, Y], lambda x: x.sum(axis=1))
    check_roundtrip(s, [X, Y])


def test_nested_imperfect_splits():
    A, B = scale(37)
    s = ns.create_schedule(B)
    outer, inner = s[B].split(B.op.axis[0], factor=8)
    s[B].split(inner, factor=3)
    s[B].split(outer, factor=2)
    assert nest(s, [A, B]) == """\
func f(A: float32[37], B: float32[37]) {
  for i.outer.outer in 0..3:
    for i.outer.inner in 0..2:
      if i.outer.outer * 2 + i.outer.inner < 5:
        for i.inner.outer in 0..3:
          for i.inner.inner in 0..3:
            if i.outer.outer * 16 + i.outer.inner * 8 + i.inner.outer * 3 + i.inner.inner < 37 \
and i.inner.outer * 3 + i.inner.inner < 8:
              B[i.outer.outer * 16 + i.outer.inner * 8 + i.inner.outer * 3 + i.inner.inner] = \
A[i.outer.outer * 16 + i.outer.inner * 8 + i.inner.outer * 3 + i.inner.inner] * 2.0
}"""
    assert str(s.trace) == """\
i_outer, i_inner = s[B].split(i, factor=8)
i_inner_outer, i_inner_inner = s[B].split(i_inner, factor=3)
i_outer_outer, i_outer_inner = s[B].split(i_outer, factor=2)"""
    check_numpy(s, [A, B], lambda a: a * 2)
    check_roundtrip(s, [A, B])


@pytest.mark.parametrize("n, factor", [(13, 8), (37, 8), (16, 8), (37, 1), (37, 37), (5, 9)])
def test_split_matches_numpy(n, factor):
    A, B = scale(n)
    s = ns.create_schedule(B)
    s[B].split(B.op.axis[0], factor=factor)
    check_numpy(s, [A, B], lambda a: a * 2)
    assert ("if " in nest(s, [A, B])) == imperfect(n, factor)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 23), st.data())
def test_split_of_a_reduction_matches_numpy(cols, data):
    factor = data.draw(st.integers(1, cols + 3), label="factor")
    X, Y = row_sum(3, cols)
    s = ns.create_schedule(Y)
    ko, ki = s[Y].split(Y.op.reduce_axis[0], factor=factor)
    if data.draw(st.booleans(), label="reduction outside"):
        s[Y].reorder(ko, Y.op.axis[0], ki)
    check_numpy(s, [X, Y], lambda x: x.sum(axis=1))
    assert ("if " in nest(s, [X, Y])) == imperfect(cols, factor)


def test_split_loops_can_be_named_by_string():
    A, B = scale(13)
    s = ns.create_schedule(B)
    s[B].split("i", factor=4)
    s[B].split("i.inner", factor=2)
    assert [iv.name for iv in s[B].leaves] == ["i.outer", "i.inner.outer", "i.inner.inner"]


def test_trace_text_and_roundtrip():
    A, B = scale(13)
    s = ns.create_schedule(B)
    s[B].split(B.op.axis[0], factor=8)
    assert str(s.trace) == "i_outer, i_inner = s[B].split(i, factor=8)"
    step = s.trace[0]
    assert (step.primitive, step.stage, dict(step.args), step.results) == (
        "split", "B", {"axis": "i", "factor": 8, "nparts": None}, ("i.outer", "i.inner"))
    check_roundtrip(s, [A, B])


def test_module_output_is_exact():
    A, B = scale(13)
    s = ns.create_schedule(B)
    s[B].split(B.op.axis[0], factor=8)
    a = np.arange(13, dtype=np.float32)
    b = np.full(13, np.nan, dtype=np.float32)
    ns.build(s, [A, B])(a, b)
    np.testing.assert_array_equal(b, a * 2)


def test_deeply_split_nest_runs_in_the_interpreter():
    X = ns.placeholder((2, 3, 7, 7), name="X")
    W = ns.placeholder((4, 3, 3, 3), name="W")
    rc, rr, rs = ns.reduce_axis(3, "rc"), ns.reduce_axis(3, "rr"), ns.reduce_axis(3, "rs")
    Y = ns.compute((2, 4, 5, 5), lambda b, o, y, x: ns.sum(
        X[b, rc, y + rr, x + rs] * W[o, rc, rr, rs], axis=[rc, rr, rs]), name="Y")
    s = ns.create_schedule(Y)
    for _ in range(14):  # every loop halved until each is 2 or 1 long: more than 20 nested blocks
        leaf = max(s[Y].leaves, key=lambda iv: iv.extent)
        s[Y].split(leaf, factor=leaf.extent // 2 + 1)
    assert len(s[Y].leaves) == 21

    def reference(x, w):
        return sum(np.einsum("nchw,fc->nfhw", x[:, :, r:r + 5, q:q + 5], w[:, :, r, q])
                   for r in range(3) for q in range(3))

    check_numpy(s, [X, W, Y], reference)
