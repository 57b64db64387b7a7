"""compute_at: a producer is computed inside a loop of its consumer over exactly the region
that one iteration of the loop reads (inferred with islpy), clipped to the producer's extent."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns

from .helpers import check_numpy, check_roundtrip, nest


def stencil(n: int):
    """``C[i] = B[i] + B[i+1] + B[i+2]`` with ``B = 2 * A``."""
    A = ns.placeholder((n + 2,), name="A")
    B = ns.compute((n + 2,), lambda i: A[i] * 2.0, name="B")
    C = ns.compute((n,), lambda i: B[i] + B[i + 1] + B[i + 2], name="C")
    return A, B, C


def stencil_reference(a):
    return 2 * (a[:-2] + a[1:-1] + a[2:])


def test_attach_at_a_tile_loop_computes_the_tile_and_its_halo():
    A, B, C = stencil(13)
    s = ns.create_schedule(C)
    outer, _ = s[C].split(C.op.axis[0], factor=8)
    s[B].compute_at(s[C], outer)
    # 8 outputs need 10 inputs; the last tile starts at 8 and stops at B's extent, 15
    assert nest(s, [A, C]) == """\
func f(A: float32[15], C: float32[13]) {
  for i.outer in 0..2:
    allocate B: float32[10] in global
    for i in 0..10:
      if i.outer * 8 + i < 15:
        B[i] = A[i.outer * 8 + i] * 2.0
    for i.inner in 0..8:
      if i.outer * 8 + i.inner < 13:
        C[i.outer * 8 + i.inner] = B[i.inner] + B[i.inner + 1] + B[i.inner + 2]
}"""
    assert str(s.trace) == "i_outer, i_inner = s[C].split(i, factor=8)\ns[B].compute_at(s[C], i_outer)"
    check_numpy(s, [A, C], stencil_reference)
    check_roundtrip(s, [A, C])


def test_attach_at_a_perfect_tile_needs_no_clipping():
    A, B, C = stencil(16)
    s = ns.create_schedule(C)
    outer, _ = s[C].split(C.op.axis[0], factor=8)
    s[B].compute_at(s[C], outer)
    assert "if " not in nest(s, [A, C])
    assert "allocate B: float32[10] in global" in nest(s, [A, C])
    check_numpy(s, [A, C], stencil_reference)


@pytest.mark.parametrize("n, factor", [(13, 8), (37, 8), (37, 5), (3, 8), (16, 1)])
def test_attached_stencil_matches_numpy(n, factor):
    A, B, C = stencil(n)
    s = ns.create_schedule(C)
    outer, inner = s[C].split(C.op.axis[0], factor=factor)
    s[B].compute_at(s[C], outer)
    check_numpy(s, [A, C], stencil_reference)
    check_roundtrip(s, [A, C])


def test_region_clipped_below_zero():
    A = ns.placeholder((13,), name="A")
    B = ns.compute((13,), lambda i: A[i] * 2.0, name="B")
    C = ns.compute((13,), lambda i: ns.if_then_else(i >= 1, B[i - 1], 0.0) + B[i], name="C")
    s = ns.create_schedule(C)
    outer, _ = s[C].split(C.op.axis[0], factor=4)
    s[B].compute_at(s[C], outer)
    # the first tile's window starts at B[-1], which does not exist: it is skipped, not read
    assert nest(s, [A, C]) == """\
func f(A: float32[13], C: float32[13]) {
  for i.outer in 0..4:
    allocate B: float32[5] in global
    for i in 0..5:
      if i.outer * 4 + i - 1 >= 0 and i.outer * 4 + i - 1 < 13:
        B[i] = A[i.outer * 4 + i - 1] * 2.0
    for i.inner in 0..4:
      if i.outer * 4 + i.inner < 13:
        C[i.outer * 4 + i.inner] = if_then_else(i.outer * 4 + i.inner >= 1, B[i.inner], 0.0) + B[i.inner + 1]
}"""

    def reference(a):
        out = 2 * a
        out[1:] += 2 * a[:-1]
        return out

    check_numpy(s, [A, C], reference)
    check_roundtrip(s, [A, C])


def test_attach_at_the_innermost_loop():
    A, B, C = stencil(13)
    s = ns.create_schedule(C)
    s[B].compute_at(s[C], C.op.axis[0])
    assert nest(s, [A, C]) == """\
func f(A: float32[15], C: float32[13]) {
  for i in 0..13:
    allocate B: float32[3] in global
    for i_1 in 0..3:
      B[i_1] = A[i + i_1] * 2.0
    C[i] = B[0] + B[1] + B[2]
}"""
    check_numpy(s, [A, C], stencil_reference)
    check_roundtrip(s, [A, C])


def test_reduction_producer_per_row():
    X = ns.placeholder((5, 13), name="X")
    k = ns.reduce_axis(13, "k")
    M = ns.compute((5,), lambda i: ns.max(X[i, k], axis=k), name="M")
    Y = ns.compute((5, 13), lambda i, j: X[i, j] - M[i], name="Y")
    s = ns.create_schedule(Y)
    s[M].compute_at(s[Y], Y.op.axis[0])
    assert nest(s, [X, Y]) == """\
func f(X: float32[5, 13], Y: float32[5, 13]) {
  for i in 0..5:
    allocate M: float32[1] in global
    M[0] = -3.4028235e+38
    for k in 0..13:
      M[0] = max(M[0], X[i, k])
    for j in 0..13:
      Y[i, j] = X[i, j] - M[0]
}"""
    assert str(s.trace) == "s[M].compute_at(s[Y], i)"
    check_numpy(s, [X, Y], lambda x: x - x.max(axis=1, keepdims=True))
    check_roundtrip(s, [X, Y])


def test_attach_inside_a_reduction_loop():
    A = ns.placeholder((4, 6), name="A")
    B = ns.placeholder((6, 3), name="B")
    A2 = ns.compute((4, 6), lambda i, k: A[i, k] * 2.0, name="A2")
    k = ns.reduce_axis(6, "k")
    C = ns.compute((4, 3), lambda i, j: ns.sum(A2[i, k] * B[k, j], axis=k), name="C")
    s = ns.create_schedule(C)
    ko, _ = s[C].split(k, factor=4)
    s[A2].compute_at(s[C], ko)
    assert nest(s, [A, B, C]) == """\
func f(A: float32[4, 6], B: float32[6, 3], C: float32[4, 3]) {
  for i in 0..4:
    for j in 0..3:
      C[i, j] = 0.0
      for k.outer in 0..2:
        allocate A2: float32[1, 4] in global
        for k in 0..4:
          if k.outer * 4 + k < 6:
            A2[0, k] = A[i, k.outer * 4 + k] * 2.0
        for k.inner in 0..4:
          if k.outer * 4 + k.inner < 6:
            C[i, j] = C[i, j] + A2[0, k.inner] * B[k.outer * 4 + k.inner, j]
}"""
    check_numpy(s, [A, B, C], lambda a, b: 2 * a @ b)
    check_roundtrip(s, [A, B, C])


def chain():
    A = ns.placeholder((20,), name="A")
    P1 = ns.compute((19,), lambda i: A[i] + A[i + 1], name="P1")
    P2 = ns.compute((18,), lambda i: P1[i] * P1[i + 1], name="P2")
    C = ns.compute((17,), lambda i: P2[i] - P2[i + 1], name="C")
    return A, P1, P2, C


def chain_reference(a):
    p1 = a[:-1] + a[1:]
    p2 = p1[:-1] * p1[1:]
    return p2[:-1] - p2[1:]


def test_producer_attached_inside_an_attached_producer():
    A, P1, P2, C = chain()
    s = ns.create_schedule(C)
    outer, _ = s[C].split(C.op.axis[0], factor=4)
    s[P2].compute_at(s[C], outer)
    s[P1].compute_at(s[P2], P2.op.axis[0])
    assert nest(s, [A, C]) == """\
func f(A: float32[20], C: float32[17]) {
  for i.outer in 0..5:
    allocate P2: float32[5] in global
    for i in 0..5:
      allocate P1: float32[2] in global
      for i_1 in 0..2:
        if i.outer * 4 + i + i_1 < 19:
          P1[i_1] = A[i.outer * 4 + i + i_1] + A[i.outer * 4 + i + i_1 + 1]
      if i.outer * 4 + i < 18:
        P2[i] = P1[0] * P1[1]
    for i.inner in 0..4:
      if i.outer * 4 + i.inner < 17:
        C[i.outer * 4 + i.inner] = P2[i.inner] - P2[i.inner + 1]
}"""
    assert str(s.trace) == """\
i_outer, i_inner = s[C].split(i, factor=4)
s[P2].compute_at(s[C], i_outer)
s[P1].compute_at(s[P2], i)"""
    check_numpy(s, [A, C], chain_reference)
    check_roundtrip(s, [A, C])


def test_producer_at_the_loop_where_its_reader_is_computed():
    A, P1, P2, C = chain()
    s = ns.create_schedule(C)
    outer, _ = s[C].split(C.op.axis[0], factor=4)
    s[P2].compute_at(s[C], outer)
    s[P1].compute_at(s[C], outer)  # C does not read P1, but P2, its only reader, runs there
    assert nest(s, [A, C]) == """\
func f(A: float32[20], C: float32[17]) {
  for i.outer in 0..5:
    allocate P1: float32[6] in global
    allocate P2: float32[5] in global
    for i in 0..6:
      if i.outer * 4 + i < 19:
        P1[i] = A[i.outer * 4 + i] + A[i.outer * 4 + i + 1]
    for i in 0..5:
      if i.outer * 4 + i < 18:
        P2[i] = P1[i] * P1[i + 1]
    for i.inner in 0..4:
      if i.outer * 4 + i.inner < 17:
        C[i.outer * 4 + i.inner] = P2[i.inner] - P2[i.inner + 1]
}"""
    check_numpy(s, [A, C], chain_reference)
    check_roundtrip(s, [A, C])


def test_a_producer_and_its_reader_at_one_loop_cover_both_reads():
    X = ns.placeholder((10,), name="X")
    P = ns.compute((10,), lambda i: X[i] * 2.0, name="P")
    Q = ns.compute((9,), lambda i: P[i] + P[i + 1], name="Q")
    C = ns.compute((8,), lambda i: Q[i] * P[i + 2] + Q[i + 1], name="C")
    s = ns.create_schedule(C)
    outer, _ = s[C].split(C.op.axis[0], factor=3)
    s[Q].compute_at(s[C], outer)
    s[P].compute_at(s[C], outer)
    # Q reads P[o*3 .. o*3+4] and C reads P[o*3+2 .. o*3+4]: P covers 5 elements
    assert nest(s, [X, C]) == """\
func f(X: float32[10], C: float32[8]) {
  for i.outer in 0..3:
    allocate P: float32[5] in global
    allocate Q: float32[4] in global
    for i in 0..5:
      if i.outer * 3 + i < 10:
        P[i] = X[i.outer * 3 + i] * 2.0
    for i in 0..4:
      if i.outer * 3 + i < 9:
        Q[i] = P[i] + P[i + 1]
    for i.inner in 0..3:
      if i.outer * 3 + i.inner < 8:
        C[i.outer * 3 + i.inner] = Q[i.inner] * P[i.inner + 2] + Q[i.inner + 1]
}"""

    def reference(x):
        p = 2 * x
        q = p[:-1] + p[1:]
        return q[:8] * p[2:10] + q[1:9]

    check_numpy(s, [X, C], reference)
    check_roundtrip(s, [X, C])


def test_attach_in_a_tiled_two_dimensional_consumer():
    X = ns.placeholder((9, 11), name="X")
    P = ns.compute((9, 11), lambda i, j: X[i, j] + 1.0, name="P")
    Y = ns.compute((8, 10), lambda i, j: P[i, j] * P[i + 1, j + 1], name="Y")
    s = ns.create_schedule(Y)
    io, jo, ii, ji = s[Y].tile(*Y.op.axis, 3, 4)
    s[P].compute_at(s[Y], jo)
    assert "allocate P: float32[4, 5] in global" in nest(s, [X, Y])
    check_numpy(s, [X, Y], lambda x: (x[:-1, :-1] + 1) * (x[1:, 1:] + 1))
    check_roundtrip(s, [X, Y])


def test_attach_in_a_fused_loop():
    X = ns.placeholder((4, 6), name="X")
    P = ns.compute((4, 6), lambda i, j: X[i, j] * 3.0, name="P")
    Y = ns.compute((4, 6), lambda i, j: P[i, j] + 1.0, name="Y")
    s = ns.create_schedule(Y)
    fused = s[Y].fuse(*Y.op.axis)
    outer, _ = s[Y].split(fused, factor=5)
    s[P].compute_at(s[Y], outer)
    check_numpy(s, [X, Y], lambda x: 3 * x + 1)
    check_roundtrip(s, [X, Y])


def test_compute_root_undoes_compute_at():
    A, B, C = stencil(13)
    s = ns.create_schedule(C)
    s[B].compute_at(s[C], C.op.axis[0])
    s[B].compute_root()
    assert nest(s, [A, C]) == nest(ns.create_schedule(C), [A, C])
    assert str(s.trace) == "s[B].compute_at(s[C], i)\ns[B].compute_root()"
    check_roundtrip(s, [A, C])


def test_compute_at_by_tensor_and_loop_name():
    A, B, C = stencil(13)
    s = ns.create_schedule(C)
    s[C].split("i", factor=4)
    s[B].compute_at(C, "i.outer")
    assert "allocate B: float32[6] in global" in nest(s, [A, C])
    out = np.full(13, np.nan, dtype=np.float32)
    a = np.arange(15, dtype=np.float32)
    ns.build(s, [A, C])(a, out)
    np.testing.assert_allclose(out, stencil_reference(a))
