"""compute_inline: a producer's expression replaces its reads; nothing is stored for it."""

from __future__ import annotations

import nestor as ns

from .helpers import check_numpy, check_roundtrip, nest


def two_maps():
    A = ns.placeholder((13,), name="A")
    B = ns.compute((13,), lambda i: A[i] * 2.0, name="B")
    B2 = ns.compute((13,), lambda i: B[i] - 1.0, name="B2")
    C = ns.compute((11,), lambda i: B2[i] + B2[i + 2], name="C")
    return A, B, B2, C


def two_maps_reference(a):
    b = 2 * a - 1
    return b[:-2] + b[2:]


def test_inline_a_chain():
    A, B, B2, C = two_maps()
    s = ns.create_schedule(C)
    s[B].compute_inline()
    s[B2].compute_inline()
    assert nest(s, [A, C]) == """\
func f(A: float32[13], C: float32[11]) {
  for i in 0..11:
    C[i] = A[i] * 2.0 - 1.0 + (A[i + 2] * 2.0 - 1.0)
}"""
    assert str(s.trace) == "s[B].compute_inline()\ns[B2].compute_inline()"
    check_numpy(s, [A, C], two_maps_reference)
    check_roundtrip(s, [A, C])


def test_inline_in_either_order_gives_the_same_nest():
    A, B, B2, C = two_maps()
    s = ns.create_schedule(C)
    s[B2].compute_inline()
    s[B].compute_inline()
    first = nest(s, [A, C])
    s = ns.create_schedule(C)
    s[B].compute_inline()
    s[B2].compute_inline()
    assert nest(s, [A, C]) == first


def test_attach_a_producer_through_an_inlined_stage():
    A, B, B2, C = two_maps()
    s = ns.create_schedule(C)
    s[B2].compute_inline()
    s[B].compute_at(s[C], C.op.axis[0])
    assert nest(s, [A, C]) == """\
func f(A: float32[13], C: float32[11]) {
  for i in 0..11:
    allocate B: float32[3] in global
    for i_1 in 0..3:
      B[i_1] = A[i + i_1] * 2.0
    C[i] = B[0] - 1.0 + (B[2] - 1.0)
}"""
    check_numpy(s, [A, C], two_maps_reference)
    check_roundtrip(s, [A, C])


def test_inline_padding_into_a_convolution():
    X = ns.placeholder((1, 1, 4, 4), name="X")
    W = ns.placeholder((1, 1, 3, 3), name="W")
    Xp = ns.compute((1, 1, 6, 6), lambda b, c, y, x: ns.if_then_else(
        (y >= 1) & (y < 5) & (x >= 1) & (x < 5), X[b, c, y - 1, x - 1], 0.0), name="Xpad")
    rc, rr, rs = ns.reduce_axis(1, "rc"), ns.reduce_axis(3, "rr"), ns.reduce_axis(3, "rs")
    Y = ns.compute((1, 1, 4, 4), lambda b, o, y, x: ns.sum(
        Xp[b, rc, y + rr, x + rs] * W[o, rc, rr, rs], axis=[rc, rr, rs]), name="Y")
    s = ns.create_schedule(Y)
    s[Xp].compute_inline()
    assert nest(s, [X, W, Y]) == """\
func f(X: float32[1, 1, 4, 4], W: float32[1, 1, 3, 3], Y: float32[1, 1, 4, 4]) {
  for y in 0..4:
    for x in 0..4:
      Y[0, 0, y, x] = 0.0
      for rr in 0..3:
        for rs in 0..3:
          Y[0, 0, y, x] = Y[0, 0, y, x] + if_then_else(y + rr >= 1 and y + rr < 5 and x + rs >= 1 \
and x + rs < 5, X[0, 0, y + rr - 1, x + rs - 1], 0.0) * W[0, 0, rr, rs]
}"""

    def reference(x, w):
        padded = ns_pad(x)
        return sum(padded[:, :, r:r + 4, q:q + 4] * w[0, 0, r, q] for r in range(3) for q in range(3))

    check_numpy(s, [X, W, Y], reference)
    check_roundtrip(s, [X, W, Y])


def ns_pad(x):
    import numpy as np

    return np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))


def test_inline_into_a_split_consumer():
    A, B, B2, C = two_maps()
    s = ns.create_schedule(C)
    s[C].split(C.op.axis[0], factor=4)
    s[B].compute_inline()
    check_numpy(s, [A, C], two_maps_reference)
    check_roundtrip(s, [A, C])


def test_inline_a_producer_read_by_two_stages():
    A = ns.placeholder((6,), name="A")
    B = ns.compute((6,), lambda i: A[i] + 1.0, name="B")
    C = ns.compute((6,), lambda i: B[i] * 2.0, name="C")
    D = ns.compute((6,), lambda i: B[i] * C[i], name="D")
    s = ns.create_schedule(D)
    s[B].compute_inline()
    assert nest(s, [A, D]) == """\
func f(A: float32[6], D: float32[6]) {
  allocate C: float32[6] in global
  for i in 0..6:
    C[i] = (A[i] + 1.0) * 2.0
  for i in 0..6:
    D[i] = (A[i] + 1.0) * C[i]
}"""
    check_numpy(s, [A, D], lambda a: (a + 1) * (a + 1) * 2)


def test_inline_a_reader_whose_producer_is_attached_where_the_reader_runs():
    A = ns.placeholder((13,), name="A")
    B = ns.compute((13,), lambda i: A[i] * 2.0, name="B")
    B2 = ns.compute((13,), lambda i: B[i] - 1.0, name="B2")
    C = ns.compute((11,), lambda i: B2[i] + B2[i + 2], name="C")
    s = ns.create_schedule(C)
    outer, _ = s[C].split(C.op.axis[0], factor=4)
    s[B2].compute_at(s[C], outer)
    s[B].compute_at(s[C], outer)
    s[B2].compute_inline()  # C then reads B itself, in the loop where B is computed
    assert "allocate B: float32[6] in global" in nest(s, [A, C])
    check_numpy(s, [A, C], two_maps_reference)
    check_roundtrip(s, [A, C])
