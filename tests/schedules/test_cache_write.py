"""cache_write: the computation moves to a cache stage (a register tile when attached), and
the original stage copies the cache out."""

from __future__ import annotations

import pytest

import nestor as ns

from .helpers import check_numpy, check_roundtrip, nest


def matmul(m: int, n: int, kk: int):
    A = ns.placeholder((m, kk), name="A")
    B = ns.placeholder((kk, n), name="B")
    k = ns.reduce_axis(kk, "k")
    C = ns.compute((m, n), lambda i, j: ns.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


def register_tiled(m: int, n: int, kk: int, tile: int = 4):
    A, B, C = matmul(m, n, kk)
    s = ns.create_schedule(C)
    local = s.cache_write(C, "local")
    io, jo, ii, ji = s[C].tile(*C.op.axis, tile, tile)
    s[local].compute_at(s[C], jo)
    return s, [A, B, C]


def test_register_tile():
    s, args = register_tiled(10, 6, 3)
    assert nest(s, args) == """\
func f(A: float32[10, 3], B: float32[3, 6], C: float32[10, 6]) {
  for i.outer in 0..3:
    for j.outer in 0..2:
      allocate C.local: float32[4, 4] in local
      for i in 0..4:
        for j in 0..4:
          if i.outer * 4 + i < 10 and j.outer * 4 + j < 6:
            C.local[i, j] = 0.0
          if i.outer * 4 + i < 10 and j.outer * 4 + j < 6:
            for k in 0..3:
              C.local[i, j] = C.local[i, j] + A[i.outer * 4 + i, k] * B[k, j.outer * 4 + j]
      for i.inner in 0..4:
        if i.outer * 4 + i.inner < 10:
          for j.inner in 0..4:
            if j.outer * 4 + j.inner < 6:
              C[i.outer * 4 + i.inner, j.outer * 4 + j.inner] = C.local[i.inner, j.inner]
}"""
    assert str(s.trace) == """\
C_local = s.cache_write(C, 'local')
i_outer, j_outer, i_inner, j_inner = s[C].tile(i, j, x_factor=4, y_factor=4)
s[C_local].compute_at(s[C], j_outer)"""
    check_numpy(s, args, lambda a, b: a @ b)
    check_roundtrip(s, args)


@pytest.mark.parametrize("m, n, kk, tile", [(10, 6, 3, 4), (13, 11, 7, 8), (8, 8, 4, 4), (3, 5, 2, 8)])
def test_register_tile_matches_numpy(m, n, kk, tile):
    s, args = register_tiled(m, n, kk, tile)
    check_numpy(s, args, lambda a, b: a @ b)


def test_cache_write_at_root():
    A, B, C = matmul(4, 3, 2)
    s = ns.create_schedule(C)
    cache = s.cache_write(C, "global")
    assert cache.name == "C.global"
    assert s[C].op.reduce_axis == ()
    assert nest(s, [A, B, C]) == """\
func f(A: float32[4, 2], B: float32[2, 3], C: float32[4, 3]) {
  allocate C.global: float32[4, 3] in global
  for i in 0..4:
    for j in 0..3:
      C.global[i, j] = 0.0
      for k in 0..2:
        C.global[i, j] = C.global[i, j] + A[i, k] * B[k, j]
  for i in 0..4:
    for j in 0..3:
      C[i, j] = C.global[i, j]
}"""
    assert str(s.trace) == "C_global = s.cache_write(C, 'global')"
    check_numpy(s, [A, B, C], lambda a, b: a @ b)
    check_roundtrip(s, [A, B, C])


def test_cache_write_of_a_map_per_element():
    X = ns.placeholder((5,), name="X")
    Y = ns.compute((5,), lambda i: X[i] + 1.0, name="Y")
    s = ns.create_schedule(Y)
    local = s.cache_write(Y, "local")
    s[local].compute_at(s[Y], Y.op.axis[0])
    assert nest(s, [X, Y]) == """\
func f(X: float32[5], Y: float32[5]) {
  for i in 0..5:
    allocate Y.local: float32[1] in local
    Y.local[0] = X[i] + 1.0
    Y[i] = Y.local[0]
}"""
    check_numpy(s, [X, Y], lambda x: x + 1)
    check_roundtrip(s, [X, Y])


def test_cache_loops_can_be_scheduled():
    s, args = register_tiled(13, 11, 7)
    local = s["C.local"]
    li, lj = local.op.axis
    ko, ki = local.split(local.op.reduce_axis[0], factor=3)
    local.reorder(ko, ki, li, lj)
    local.unroll(ki)
    local.vectorize(lj)
    check_numpy(s, args, lambda a, b: a @ b)
    check_roundtrip(s, args)


def test_cache_write_of_an_intermediate_stage():
    X = ns.placeholder((6, 4), name="X")
    k = ns.reduce_axis(4, "k")
    S = ns.compute((6,), lambda i: ns.sum(X[i, k], axis=k), name="S")
    Y = ns.compute((6,), lambda i: S[i] * 2.0, name="Y")
    s = ns.create_schedule(Y)
    local = s.cache_write(S, "local")
    s[S].compute_at(s[Y], Y.op.axis[0])
    s[local].compute_at(s[S], S.op.axis[0])
    check_numpy(s, [X, Y], lambda x: 2 * x.sum(axis=1))
    check_roundtrip(s, [X, Y])


def test_readers_of_a_cache_written_tensor_still_find_it():
    X = ns.placeholder((6, 4), name="X")
    k = ns.reduce_axis(4, "k")
    S = ns.compute((6,), lambda i: ns.sum(X[i, k], axis=k), name="S")
    Y = ns.compute((6,), lambda i: S[i] * 2.0, name="Y")
    s = ns.create_schedule(Y)
    s.cache_write(S, "local")
    assert [stage.name for stage in s.readers(S)] == ["Y"]
    assert [stage.name for stage in s.readers(s[S].op.output)] == ["Y"]
    cache = s.cache_read(S, "local", [Y])
    s[cache].compute_at(s[Y], Y.op.axis[0])
    assert "Y[i] = S.local_1[0] * 2.0" in nest(s, [X, Y])
    check_numpy(s, [X, Y], lambda x: 2 * x.sum(axis=1))
    check_roundtrip(s, [X, Y])
