"""reorder: the listed loops take the positions they occupy, in the given order; a reduction
loop moved outside data loops gets its initialisation in a nest of its own."""

from __future__ import annotations

import itertools

import pytest

import nestor as ns

from .helpers import check_numpy, check_roundtrip, nest


def transpose():
    X = ns.placeholder((5, 13), name="X")
    Y = ns.compute((13, 5), lambda i, j: X[j, i], name="Y")
    return X, Y


def sum_two_axes():
    X = ns.placeholder((5, 7, 6), name="X")
    k1, k2 = ns.reduce_axis(7, "k1"), ns.reduce_axis(6, "k2")
    Y = ns.compute((5,), lambda i: ns.sum(X[i, k1, k2], axis=[k1, k2]), name="Y")
    return X, Y


def test_reorder_swaps_loops():
    X, Y = transpose()
    s = ns.create_schedule(Y)
    i, j = Y.op.axis
    s[Y].reorder(j, i)
    assert nest(s, [X, Y]) == """\
func f(X: float32[5, 13], Y: float32[13, 5]) {
  for j in 0..5:
    for i in 0..13:
      Y[i, j] = X[j, i]
}"""
    assert str(s.trace) == "s[Y].reorder(j, i)"
    check_numpy(s, [X, Y], lambda x: x.T)
    check_roundtrip(s, [X, Y])


def test_reduction_loop_outside_a_data_loop():
    X, Y = sum_two_axes()
    s = ns.create_schedule(Y)
    k1, k2 = Y.op.reduce_axis
    s[Y].reorder(k2, Y.op.axis[0], k1)
    assert nest(s, [X, Y]) == """\
func f(X: float32[5, 7, 6], Y: float32[5]) {
  for i in 0..5:
    Y[i] = 0.0
  for k2 in 0..6:
    for i in 0..5:
      for k1 in 0..7:
        Y[i] = Y[i] + X[i, k1, k2]
}"""
    assert str(s.trace) == "s[Y].reorder(k2, i, k1)"
    check_numpy(s, [X, Y], lambda x: x.sum(axis=(1, 2)))
    check_roundtrip(s, [X, Y])


def test_reorder_of_a_subset_keeps_the_other_positions():
    X, Y = sum_two_axes()
    s = ns.create_schedule(Y)
    i = Y.op.axis[0]
    k1, k2 = Y.op.reduce_axis
    io, ii = s[Y].split(i, factor=2)
    s[Y].reorder(k2, io)  # io at position 0, k2 at position 3
    assert s[Y].leaves == [k2, ii, k1, io]
    check_numpy(s, [X, Y], lambda x: x.sum(axis=(1, 2)))
    check_roundtrip(s, [X, Y])


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_every_order_of_split_loops_matches_numpy(order):
    X, Y = sum_two_axes()
    s = ns.create_schedule(Y)
    k1 = Y.op.reduce_axis[0]
    io, ii = s[Y].split(Y.op.axis[0], factor=3)
    leaves = [io, ii, k1, Y.op.reduce_axis[1]]
    s[Y].reorder(*[leaves[p] for p in order])
    check_numpy(s, [X, Y], lambda x: x.sum(axis=(1, 2)))


def test_reorder_by_loop_names():
    X, Y = transpose()
    s = ns.create_schedule(Y)
    s[Y].reorder("j", "i")
    assert [iv.name for iv in s[Y].leaves] == ["j", "i"]
    assert str(s.trace) == "s[Y].reorder(j, i)"
    check_roundtrip(s, [X, Y])
