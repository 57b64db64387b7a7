"""tile: two splits and a reorder recorded as one step; guards only on the axis whose factor
does not divide it; register-style tiles of a matmul agree with numpy."""

from __future__ import annotations

import pytest

import nestor as ns

from .helpers import check_numpy, check_roundtrip, imperfect, nest


def add_one(rows: int, cols: int):
    X = ns.placeholder((rows, cols), name="X")
    Y = ns.compute((rows, cols), lambda i, j: X[i, j] + 1.0, name="Y")
    return X, Y


def matmul(m: int, n: int, kk: int):
    A = ns.placeholder((m, kk), name="A")
    B = ns.placeholder((kk, n), name="B")
    k = ns.reduce_axis(kk, "k")
    C = ns.compute((m, n), lambda i, j: ns.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


def test_tile_nest_guards_the_imperfect_axis_only():
    X, Y = add_one(13, 16)
    s = ns.create_schedule(Y)
    handles = s[Y].tile(*Y.op.axis, 8, 4)
    assert [iv.name for iv in handles] == ["i.outer", "j.outer", "i.inner", "j.inner"]
    assert s[Y].leaves == list(handles)
    assert nest(s, [X, Y]) == """\
func f(X: float32[13, 16], Y: float32[13, 16]) {
  for i.outer in 0..2:
    for j.outer in 0..4:
      for i.inner in 0..8:
        if i.outer * 8 + i.inner < 13:
          for j.inner in 0..4:
            Y[i.outer * 8 + i.inner, j.outer * 4 + j.inner] = \
X[i.outer * 8 + i.inner, j.outer * 4 + j.inner] + 1.0
}"""
    check_numpy(s, [X, Y], lambda x: x + 1)


def test_tile_is_one_step_in_the_trace():
    X, Y = add_one(13, 16)
    s = ns.create_schedule(Y)
    s[Y].tile(*Y.op.axis, x_factor=8, y_factor=4)
    assert len(s.trace) == 1
    assert str(s.trace) == "i_outer, j_outer, i_inner, j_inner = s[Y].tile(i, j, x_factor=8, y_factor=4)"
    check_roundtrip(s, [X, Y])


def test_tiled_matmul_with_a_split_reduction():
    A, B, C = matmul(37, 45, 23)
    s = ns.create_schedule(C)
    io, jo, ii, ji = s[C].tile(*C.op.axis, 16, 8)
    ko, ki = s[C].split(C.op.reduce_axis[0], factor=4)
    s[C].reorder(io, jo, ko, ii, ki, ji)
    assert nest(s, [A, B, C]) == """\
func f(A: float32[37, 23], B: float32[23, 45], C: float32[37, 45]) {
  for i.outer in 0..3:
    for j.outer in 0..6:
      for i.inner in 0..16:
        if i.outer * 16 + i.inner < 37:
          for j.inner in 0..8:
            if j.outer * 8 + j.inner < 45:
              C[i.outer * 16 + i.inner, j.outer * 8 + j.inner] = 0.0
      for k.outer in 0..6:
        for i.inner in 0..16:
          if i.outer * 16 + i.inner < 37:
            for k.inner in 0..4:
              if k.outer * 4 + k.inner < 23:
                for j.inner in 0..8:
                  if j.outer * 8 + j.inner < 45:
                    C[i.outer * 16 + i.inner, j.outer * 8 + j.inner] = \
C[i.outer * 16 + i.inner, j.outer * 8 + j.inner] + \
A[i.outer * 16 + i.inner, k.outer * 4 + k.inner] * B[k.outer * 4 + k.inner, j.outer * 8 + j.inner]
}"""
    assert str(s.trace) == """\
i_outer, j_outer, i_inner, j_inner = s[C].tile(i, j, x_factor=16, y_factor=8)
k_outer, k_inner = s[C].split(k, factor=4)
s[C].reorder(i_outer, j_outer, k_outer, i_inner, k_inner, j_inner)"""
    check_numpy(s, [A, B, C], lambda a, b: a @ b)
    check_roundtrip(s, [A, B, C])


@pytest.mark.parametrize("rows, cols, fx, fy", [(13, 16, 8, 4), (37, 13, 8, 8), (16, 16, 4, 8),
                                                (5, 3, 8, 8), (7, 9, 1, 9)])
def test_tile_matches_numpy(rows, cols, fx, fy):
    X, Y = add_one(rows, cols)
    s = ns.create_schedule(Y)
    s[Y].tile(*Y.op.axis, fx, fy)
    check_numpy(s, [X, Y], lambda x: x + 1)
    assert ("if " in nest(s, [X, Y])) == (imperfect(rows, fx) or imperfect(cols, fy))


def test_tile_of_swapped_axes_orders_the_given_x_first():
    X, Y = add_one(6, 4)
    s = ns.create_schedule(Y)
    i, j = Y.op.axis
    s[Y].tile(j, i, 2, 3)
    assert [iv.name for iv in s[Y].leaves] == ["j.outer", "i.outer", "j.inner", "i.inner"]
    check_numpy(s, [X, Y], lambda x: x + 1)
    check_roundtrip(s, [X, Y])


def test_tiles_of_tiles():
    A, B, C = matmul(13, 11, 5)
    s = ns.create_schedule(C)
    io, jo, ii, ji = s[C].tile(*C.op.axis, 8, 8)
    s[C].tile(ii, ji, 3, 2)
    check_numpy(s, [A, B, C], lambda a, b: a @ b)
    check_roundtrip(s, [A, B, C])
