"""fuse: adjacent loops become one loop over their product (``i = f // m``, ``j = f % m``); a
split of a fused loop is guarded on the fused extent."""

from __future__ import annotations

import pytest

import nestor as ns

from .helpers import check_numpy, check_roundtrip, nest


def triple(*shape: int):
    X = ns.placeholder(shape, name="X")
    if len(shape) == 2:
        Y = ns.compute(shape, lambda i, j: X[i, j] * 3.0, name="Y")
    else:
        Y = ns.compute(shape, lambda i, j, k: X[i, j, k] * 3.0, name="Y")
    return X, Y


def sum_two_axes():
    X = ns.placeholder((5, 7, 6), name="X")
    k1, k2 = ns.reduce_axis(7, "k1"), ns.reduce_axis(6, "k2")
    Y = ns.compute((5,), lambda i: ns.sum(X[i, k1, k2], axis=[k1, k2]), name="Y")
    return X, Y


def test_fuse_then_split_is_guarded_on_the_product():
    X, Y = triple(5, 13)
    s = ns.create_schedule(Y)
    fused = s[Y].fuse(*Y.op.axis)
    assert (fused.name, fused.extent) == ("i.j.fused", 65)
    s[Y].split(fused, factor=8)
    assert nest(s, [X, Y]) == """\
func f(X: float32[5, 13], Y: float32[5, 13]) {
  for i.j.fused.outer in 0..9:
    for i.j.fused.inner in 0..8:
      if i.j.fused.outer * 8 + i.j.fused.inner < 65:
        Y[(i.j.fused.outer * 8 + i.j.fused.inner) // 13, (i.j.fused.outer * 8 + i.j.fused.inner) % 13] = \
X[(i.j.fused.outer * 8 + i.j.fused.inner) // 13, (i.j.fused.outer * 8 + i.j.fused.inner) % 13] * 3.0
}"""
    assert str(s.trace) == """\
i_j_fused = s[Y].fuse(i, j)
i_j_fused_outer, i_j_fused_inner = s[Y].split(i_j_fused, factor=8)"""
    check_numpy(s, [X, Y], lambda x: x * 3)
    check_roundtrip(s, [X, Y])


def test_fuse_three_loops_at_once_and_in_two_steps_give_the_same_nest():
    X, Y = triple(2, 3, 4)
    s = ns.create_schedule(Y)
    s[Y].fuse(*Y.op.axis)
    expected = """\
func f(X: float32[2, 3, 4], Y: float32[2, 3, 4]) {
  for i.j.k.fused in 0..24:
    Y[i.j.k.fused // 4 // 3, i.j.k.fused // 4 % 3, i.j.k.fused % 4] = \
X[i.j.k.fused // 4 // 3, i.j.k.fused // 4 % 3, i.j.k.fused % 4] * 3.0
}"""
    assert nest(s, [X, Y]) == expected
    assert str(s.trace) == "i_j_k_fused = s[Y].fuse(i, j, k)"
    check_numpy(s, [X, Y], lambda x: x * 3)
    check_roundtrip(s, [X, Y])

    X, Y = triple(2, 3, 4)
    s = ns.create_schedule(Y)
    i, j, k = Y.op.axis
    s[Y].fuse(s[Y].fuse(i, j), k)
    assert nest(s, [X, Y]) == expected
    assert str(s.trace) == "i_j_fused = s[Y].fuse(i, j)\ni_j_k_fused = s[Y].fuse(i_j_fused, k)"
    check_roundtrip(s, [X, Y])


def test_fuse_reduction_loops():
    X, Y = sum_two_axes()
    s = ns.create_schedule(Y)
    s[Y].fuse(*Y.op.reduce_axis)
    assert nest(s, [X, Y]) == """\
func f(X: float32[5, 7, 6], Y: float32[5]) {
  for i in 0..5:
    Y[i] = 0.0
    for k1.k2.fused in 0..42:
      Y[i] = Y[i] + X[i, k1.k2.fused // 6, k1.k2.fused % 6]
}"""
    check_numpy(s, [X, Y], lambda x: x.sum(axis=(1, 2)))
    check_roundtrip(s, [X, Y])


@pytest.mark.parametrize("factor", [1, 4, 5, 7, 35, 40])
def test_split_fused_reduction_matches_numpy(factor):
    X, Y = sum_two_axes()
    s = ns.create_schedule(Y)
    fused = s[Y].fuse(*Y.op.reduce_axis)
    fo, fi = s[Y].split(fused, factor=factor)
    s[Y].reorder(fo, Y.op.axis[0], fi)
    check_numpy(s, [X, Y], lambda x: x.sum(axis=(1, 2)))
    check_roundtrip(s, [X, Y])


def test_fuse_across_tiles():
    X, Y = triple(13, 11)
    s = ns.create_schedule(Y)
    io, jo, ii, ji = s[Y].tile(*Y.op.axis, 4, 3)
    s[Y].fuse(jo, ii)
    s[Y].fuse(io, s[Y].leaves[1])
    assert [iv.name for iv in s[Y].leaves] == ["i.outer.j.outer.i.inner.fused.fused", "j.inner"]
    check_numpy(s, [X, Y], lambda x: x * 3)
    check_roundtrip(s, [X, Y])


@pytest.mark.parametrize("shape", [(1, 7), (7, 1), (3, 5, 2)])
def test_fuse_matches_numpy(shape):
    X, Y = triple(*shape)
    s = ns.create_schedule(Y)
    s[Y].split(s[Y].fuse(*Y.op.axis), factor=4)
    check_numpy(s, [X, Y], lambda x: x * 3)
