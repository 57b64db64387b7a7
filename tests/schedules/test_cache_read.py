"""cache_read: readers read a copy in faster memory; attached with compute_at, the copy holds
exactly the region one tile reads (the window sum's tile of 32 needs 36 inputs, a 3x3
convolution's 8x8 output tile a 10x10 patch)."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from schedules.templates import conv2d_cpu

from .helpers import check_numpy, check_roundtrip, nest


def window_sum(n: int):
    A = ns.placeholder((n + 4,), name="A")
    r = ns.reduce_axis(5, "r")
    B = ns.compute((n,), lambda i: ns.sum(A[i + r], axis=r), name="B")
    return A, B


def window_reference(n: int):
    return lambda a: sum(a[d:d + n] for d in range(5))


def cached_window_sum(n: int, tile: int = 32):
    A, B = window_sum(n)
    s = ns.create_schedule(B)
    cache = s.cache_read(A, "shared", [B])
    outer, _ = s[B].split(B.op.axis[0], factor=tile)
    s[cache].compute_at(s[B], outer)
    return s, [A, B]


def test_window_sum_tile_copies_exactly_36_elements():
    s, args = cached_window_sum(64)
    assert nest(s, args) == """\
func f(A: float32[68], B: float32[64]) {
  for i.outer in 0..2:
    allocate A.shared: float32[36] in shared
    for ax0 in 0..36:
      A.shared[ax0] = A[i.outer * 32 + ax0]
    for i.inner in 0..32:
      B[i.outer * 32 + i.inner] = 0.0
      for r in 0..5:
        B[i.outer * 32 + i.inner] = B[i.outer * 32 + i.inner] + A.shared[i.inner + r]
}"""
    assert str(s.trace) == """\
A_shared = s.cache_read(A, 'shared', [s[B]])
i_outer, i_inner = s[B].split(i, factor=32)
s[A_shared].compute_at(s[B], i_outer)"""
    check_numpy(s, args, window_reference(64))
    check_roundtrip(s, args)


def test_window_sum_last_tile_is_clipped_to_the_input():
    s, args = cached_window_sum(45)
    assert nest(s, args) == """\
func f(A: float32[49], B: float32[45]) {
  for i.outer in 0..2:
    allocate A.shared: float32[36] in shared
    for ax0 in 0..36:
      if i.outer * 32 + ax0 < 49:
        A.shared[ax0] = A[i.outer * 32 + ax0]
    for i.inner in 0..32:
      if i.outer * 32 + i.inner < 45:
        B[i.outer * 32 + i.inner] = 0.0
      if i.outer * 32 + i.inner < 45:
        for r in 0..5:
          B[i.outer * 32 + i.inner] = B[i.outer * 32 + i.inner] + A.shared[i.inner + r]
}"""
    check_numpy(s, args, window_reference(45))


@pytest.mark.parametrize("n, tile", [(13, 8), (37, 8), (32, 32), (5, 8), (37, 1)])
def test_cached_window_sum_matches_numpy(n, tile):
    s, args = cached_window_sum(n, tile)
    assert f"allocate A.shared: float32[{min(tile + 4, n + 4)}] in shared" in nest(s, args)
    check_numpy(s, args, window_reference(n))
    check_roundtrip(s, args)


def conv3x3(size: int = 16):
    X = ns.placeholder((1, 2, size + 2, size + 2), name="X")
    W = ns.placeholder((3, 2, 3, 3), name="W")
    rc, rr, rs = ns.reduce_axis(2, "rc"), ns.reduce_axis(3, "rr"), ns.reduce_axis(3, "rs")
    Y = ns.compute((1, 3, size, size), lambda b, o, y, x: ns.sum(
        X[b, rc, y + rr, x + rs] * W[o, rc, rr, rs], axis=[rc, rr, rs]), name="Y")
    return X, W, Y


def conv_reference(x, w):
    size = x.shape[2] - 2
    return sum(np.einsum("nchw,fc->nfhw", x[:, :, r:r + size, q:q + size], w[:, :, r, q])
               for r in range(3) for q in range(3))


def test_conv_tile_of_8x8_outputs_reads_a_10x10_patch():
    X, W, Y = conv3x3(16)
    s = ns.create_schedule(Y)
    cache = s.cache_read(X, "local", [Y])
    b, o, y, x = Y.op.axis
    rc, rr, rs = Y.op.reduce_axis
    yo, xo, yi, xi = s[Y].tile(y, x, 8, 8)
    s[Y].reorder(b, yo, xo, o, rc, rr, rs, yi, xi)
    s[cache].compute_at(s[Y], xo)
    assert nest(s, [X, W, Y]) == """\
func f(X: float32[1, 2, 18, 18], W: float32[3, 2, 3, 3], Y: float32[1, 3, 16, 16]) {
  for y.outer in 0..2:
    for x.outer in 0..2:
      allocate X.local: float32[1, 2, 10, 10] in local
      for ax1 in 0..2:
        for ax2 in 0..10:
          for ax3 in 0..10:
            X.local[0, ax1, ax2, ax3] = X[0, ax1, y.outer * 8 + ax2, x.outer * 8 + ax3]
      for o in 0..3:
        for y.inner in 0..8:
          for x.inner in 0..8:
            Y[0, o, y.outer * 8 + y.inner, x.outer * 8 + x.inner] = 0.0
        for rc in 0..2:
          for rr in 0..3:
            for rs in 0..3:
              for y.inner in 0..8:
                for x.inner in 0..8:
                  Y[0, o, y.outer * 8 + y.inner, x.outer * 8 + x.inner] = \
Y[0, o, y.outer * 8 + y.inner, x.outer * 8 + x.inner] + X.local[0, rc, y.inner + rr, x.inner + rs] * W[o, rc, rr, rs]
}"""
    assert str(s.trace) == """\
X_local = s.cache_read(X, 'local', [s[Y]])
y_outer, x_outer, y_inner, x_inner = s[Y].tile(y, x, x_factor=8, y_factor=8)
s[Y].reorder(b, y_outer, x_outer, o, rc, rr, rs, y_inner, x_inner)
s[X_local].compute_at(s[Y], x_outer)"""
    check_numpy(s, [X, W, Y], conv_reference)
    check_roundtrip(s, [X, W, Y])


def test_conv_template_caches_a_10x10_padded_patch():
    s, args = conv2d_cpu(1, 2, 16, 16, 2, tile_y=8, tile_x=8, cache_input=True)
    assert "allocate X.pad: float32[1, 2, 10, 10] in local" in nest(s, args)


def test_imperfect_conv_tile_matches_numpy():
    X, W, Y = conv3x3(11)
    s = ns.create_schedule(Y)
    cache = s.cache_read(X, "local", [Y])
    yo, xo, yi, xi = s[Y].tile(*Y.op.axis[2:], 8, 8)
    s[cache].compute_at(s[Y], xo)
    assert "allocate X.local: float32[1, 2, 10, 10] in local" in nest(s, [X, W, Y])
    check_numpy(s, [X, W, Y], conv_reference)


def test_cache_shared_by_two_readers():
    A = ns.placeholder((6,), name="A")
    B = ns.compute((6,), lambda i: A[i] + 1.0, name="B")
    C = ns.compute((6,), lambda i: A[i] * B[i], name="C")
    s = ns.create_schedule(C)
    s.cache_read(A, "global", [B, C])
    assert nest(s, [A, C]) == """\
func f(A: float32[6], C: float32[6]) {
  allocate A.global: float32[6] in global
  allocate B: float32[6] in global
  for ax0 in 0..6:
    A.global[ax0] = A[ax0]
  for i in 0..6:
    B[i] = A.global[i] + 1.0
  for i in 0..6:
    C[i] = A.global[i] * B[i]
}"""
    assert str(s.trace) == "A_global = s.cache_read(A, 'global', [s[B], s[C]])"
    check_numpy(s, [A, C], lambda a: a * (a + 1))
    check_roundtrip(s, [A, C])


def test_cache_for_one_reader_leaves_the_other_on_the_original():
    A = ns.placeholder((6,), name="A")
    B = ns.compute((6,), lambda i: A[i] + 1.0, name="B")
    C = ns.compute((6,), lambda i: A[i] * B[i], name="C")
    s = ns.create_schedule(C)
    cache = s.cache_read(A, "local", [C])
    s[cache].compute_at(s[C], C.op.axis[0])
    text = nest(s, [A, C])
    assert "B[i] = A[i] + 1.0" in text
    assert "C[i] = A.local[0] * B[i]" in text
    check_numpy(s, [A, C], lambda a: a * (a + 1))
    check_roundtrip(s, [A, C])


def test_cache_of_an_intermediate_in_a_matmul_tile():
    A = ns.placeholder((7, 5), name="A")
    B = ns.placeholder((5, 9), name="B")
    k = ns.reduce_axis(5, "k")
    C = ns.compute((7, 9), lambda i, j: ns.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = ns.create_schedule(C)
    a_local = s.cache_read(A, "local", [C])
    b_local = s.cache_read(B, "local", [C])
    io, jo, ii, ji = s[C].tile(*C.op.axis, 4, 4)
    ko, ki = s[C].split(k, factor=2)
    s[C].reorder(io, jo, ko, ii, ji, ki)
    s[a_local].compute_at(s[C], ko)
    s[b_local].compute_at(s[C], ko)
    text = nest(s, [A, B, C])
    assert "allocate A.local: float32[4, 2] in local" in text
    assert "allocate B.local: float32[2, 4] in local" in text
    check_numpy(s, [A, B, C], lambda a, b: a @ b)
    check_roundtrip(s, [A, B, C])


def test_cache_of_a_cache():
    X = ns.placeholder((6, 4), name="X")
    k = ns.reduce_axis(4, "k")
    S = ns.compute((6,), lambda i: ns.sum(X[i, k], axis=k), name="S")
    s = ns.create_schedule(S)
    shared = s.cache_read(X, "shared", [S])
    local = s.cache_read(shared, "local", [S])
    s[local].compute_at(s[S], S.op.axis[0])
    text = nest(s, [X, S])
    assert "allocate X.shared.local: float32[1, 4] in local" in text
    assert "S[i] = S[i] + X.shared.local[0, k]" in text
    assert str(s.trace) == """\
X_shared = s.cache_read(X, 'shared', [s[S]])
X_shared_local = s.cache_read(X_shared, 'local', [s[S]])
s[X_shared_local].compute_at(s[S], i)"""
    check_numpy(s, [X, S], lambda x: x.sum(axis=1))
    check_roundtrip(s, [X, S])
