"""bind: a loop becomes a GPU block or thread index; the interpreter runs the threads of a
block and the guards of imperfect splits keep surplus threads idle."""

from __future__ import annotations

import pytest

import nestor as ns

from .helpers import check_numpy, check_roundtrip, imperfect, nest


def add_one(n: int):
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] + 1.0, name="B")
    return A, B


def scale_2d(rows: int, cols: int):
    X = ns.placeholder((rows, cols), name="X")
    Y = ns.compute((rows, cols), lambda i, j: X[i, j] * 2.0, name="Y")
    return X, Y


def test_bind_blocks_and_threads():
    A, B = add_one(37)
    s = ns.create_schedule(B)
    outer, inner = s[B].split(B.op.axis[0], factor=8)
    s[B].bind(outer, "blockIdx.x")
    s[B].bind(inner, "threadIdx.x")
    assert nest(s, [A, B]) == """\
func f(A: float32[37], B: float32[37]) {
  for i.outer in 0..5 [blockIdx.x]:
    for i.inner in 0..8 [threadIdx.x]:
      if i.outer * 8 + i.inner < 37:
        B[i.outer * 8 + i.inner] = A[i.outer * 8 + i.inner] + 1.0
}"""
    assert str(s.trace) == """\
i_outer, i_inner = s[B].split(i, factor=8)
s[B].bind(i_outer, 'blockIdx.x')
s[B].bind(i_inner, 'threadIdx.x')"""
    check_numpy(s, [A, B], lambda a: a + 1)
    check_roundtrip(s, [A, B])


def test_two_dimensional_blocks_and_threads():
    X, Y = scale_2d(6, 10)
    s = ns.create_schedule(Y)
    io, jo, ii, ji = s[Y].tile(*Y.op.axis, 4, 4)
    for axis, tag in ((io, "blockIdx.y"), (jo, "blockIdx.x"), (ii, "threadIdx.y"), (ji, "threadIdx.x")):
        s[Y].bind(axis, tag)
    assert nest(s, [X, Y]) == """\
func f(X: float32[6, 10], Y: float32[6, 10]) {
  for i.outer in 0..2 [blockIdx.y]:
    for j.outer in 0..3 [blockIdx.x]:
      for i.inner in 0..4 [threadIdx.y]:
        for j.inner in 0..4 [threadIdx.x]:
          if i.outer * 4 + i.inner < 6 and j.outer * 4 + j.inner < 10:
            Y[i.outer * 4 + i.inner, j.outer * 4 + j.inner] = X[i.outer * 4 + i.inner, j.outer * 4 + j.inner] * 2.0
}"""
    check_numpy(s, [X, Y], lambda x: x * 2)
    check_roundtrip(s, [X, Y])


@pytest.mark.parametrize("n, threads", [(13, 8), (37, 8), (32, 8), (5, 16)])
def test_bound_elementwise_matches_numpy(n, threads):
    A, B = add_one(n)
    s = ns.create_schedule(B)
    outer, inner = s[B].split(B.op.axis[0], factor=threads)
    s[B].bind(outer, "blockIdx.x")
    s[B].bind(inner, "threadIdx.x")
    check_numpy(s, [A, B], lambda a: a + 1)
    assert ("if " in nest(s, [A, B])) == imperfect(n, threads)


def test_threads_only_one_block():
    X, Y = scale_2d(3, 5)
    s = ns.create_schedule(Y)
    s[Y].bind(Y.op.axis[0], "threadIdx.y")
    s[Y].bind(Y.op.axis[1], "threadIdx.x")
    check_numpy(s, [X, Y], lambda x: x * 2)
    check_roundtrip(s, [X, Y])


def test_a_serial_loop_inside_a_thread_loop():
    X, Y = scale_2d(6, 10)
    s = ns.create_schedule(Y)
    s[Y].bind(Y.op.axis[0], "blockIdx.x")
    jo, ji = s[Y].split(Y.op.axis[1], nparts=4)
    s[Y].bind(jo, "threadIdx.x")
    check_numpy(s, [X, Y], lambda x: x * 2)


def test_binding_the_same_loop_to_the_same_tag_again_is_accepted():
    A, B = add_one(8)
    s = ns.create_schedule(B)
    s[B].bind(B.op.axis[0], "threadIdx.x")
    s[B].bind(B.op.axis[0], "threadIdx.x")
    check_numpy(s, [A, B], lambda a: a + 1)
