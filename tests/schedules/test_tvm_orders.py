"""Primitive orders TVM accepts, with TVM's meaning: splitting or fusing a loop that stages are
computed in (they follow the loop that runs one iteration of it: the inner loop of a split, the
fused loop of an innermost one). Golden nests, numpy on the interpreter and LLVM, trace round
trips; the orders that stay refused are in test_errors.py and test_errors_attach.py."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns

from .helpers import check_numpy, check_roundtrip, nest


def pair(n: int = 10, m: int = 10):
    """``C = 2 * B`` with ``B = A + 1``, both ``n x m``."""
    A = ns.placeholder((n, m), name="A")
    B = ns.compute((n, m), lambda i, j: A[i, j] + 1.0, name="B")
    C = ns.compute((n, m), lambda i, j: B[i, j] * 2.0, name="C")
    return A, B, C


def check_all(s, args, reference):
    """numpy on the interpreter and LLVM, and the trace through JSON."""
    check_numpy(s, args, reference)
    a = np.random.default_rng(3).uniform(-1, 1, args[0].shape).astype(np.float32)
    out = np.full(args[-1].shape, np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, out)
    np.testing.assert_allclose(out, reference(a.astype(np.float64)), rtol=1e-5)
    check_roundtrip(s, args)


def test_split_of_the_attach_loop_moves_the_stage_to_the_inner_loop():
    A, B, C = pair()
    s = ns.create_schedule(C)
    s[B].compute_at(s[C], C.op.axis[1])
    _, inner = s[C].split(C.op.axis[1], 2)
    assert s[B].attach.axis is inner
    assert nest(s, [A, C]) == """\
func f(A: float32[10, 10], C: float32[10, 10]) {
  for i in 0..10:
    for j.outer in 0..5:
      for j.inner in 0..2:
        allocate B: float32[1, 1] in global
        B[0, 0] = A[i, j.outer * 2 + j.inner] + 1.0
        C[i, j.outer * 2 + j.inner] = B[0, 0] * 2.0
}"""
    check_all(s, [A, C], lambda a: 2 * (a + 1))


def test_fuse_of_the_innermost_attach_loop_moves_the_stage_to_the_fused_loop():
    A, B, C = pair()
    s = ns.create_schedule(C)
    s[B].compute_at(s[C], C.op.axis[1])
    fused = s[C].fuse(*C.op.axis)
    assert s[B].attach.axis is fused
    assert nest(s, [A, C]) == """\
func f(A: float32[10, 10], C: float32[10, 10]) {
  for i.j.fused in 0..100:
    allocate B: float32[1, 1] in global
    B[0, 0] = A[i.j.fused // 10, i.j.fused % 10] + 1.0
    C[i.j.fused // 10, i.j.fused % 10] = B[0, 0] * 2.0
}"""
    check_all(s, [A, C], lambda a: 2 * (a + 1))


def test_an_imperfect_split_of_the_attach_loop_guards_the_attached_stage():
    A, B, C = pair()
    s = ns.create_schedule(C)
    s[B].compute_at(s[C], C.op.axis[0])
    s[C].split(C.op.axis[0], 4)
    assert nest(s, [A, C]) == """\
func f(A: float32[10, 10], C: float32[10, 10]) {
  for i.outer in 0..3:
    for i.inner in 0..4:
      allocate B: float32[1, 10] in global
      if i.outer * 4 + i.inner < 10:
        for j in 0..10:
          B[0, j] = A[i.outer * 4 + i.inner, j] + 1.0
      if i.outer * 4 + i.inner < 10:
        for j in 0..10:
          C[i.outer * 4 + i.inner, j] = B[0, j] * 2.0
}"""
    check_all(s, [A, C], lambda a: 2 * (a + 1))


def test_tile_of_the_attach_loop_keeps_one_row_per_inner_iteration():
    A, B, C = pair()
    s = ns.create_schedule(C)
    s[B].compute_at(s[C], C.op.axis[0])
    s[C].tile(C.op.axis[0], C.op.axis[1], 4, 5)
    # B follows i to i.inner; j.outer now encloses it, so a row is 5 long
    assert nest(s, [A, C]) == """\
func f(A: float32[10, 10], C: float32[10, 10]) {
  for i.outer in 0..3:
    for j.outer in 0..2:
      for i.inner in 0..4:
        allocate B: float32[1, 5] in global
        if i.outer * 4 + i.inner < 10:
          for j in 0..5:
            B[0, j] = A[i.outer * 4 + i.inner, j.outer * 5 + j] + 1.0
        if i.outer * 4 + i.inner < 10:
          for j.inner in 0..5:
            C[i.outer * 4 + i.inner, j.outer * 5 + j.inner] = B[0, j.inner] * 2.0
}"""
    check_all(s, [A, C], lambda a: 2 * (a + 1))


def test_a_chain_of_splits_carries_the_stage_to_the_innermost_loop():
    A, B, C = pair(16, 4)
    s = ns.create_schedule(C)
    s[B].compute_at(s[C], C.op.axis[0])
    _, inner = s[C].split(C.op.axis[0], factor=8)
    _, innermost = s[C].split(inner, nparts=2)
    assert s[B].attach.axis is innermost
    check_all(s, [A, C], lambda a: 2 * (a + 1))


def row_sums(n: int = 13, m: int = 6):
    A = ns.placeholder((n, m), name="A")
    k = ns.reduce_axis((0, m), name="k")
    B = ns.compute((n,), lambda i: ns.sum(A[i, k], axis=k), name="B")
    return A, B


def test_cache_write_after_split_carries_the_loops_to_the_cache():
    A, B = row_sums()
    s = ns.create_schedule(B)
    s[B].split(B.op.axis[0], factor=4)
    cache = s.cache_write(B, "local")
    # TVM's relayout: one cache axis per loop; the 3 elements past 13 combine nothing, never read
    assert cache.shape == (4, 4) and [a.name for a in cache.op.axis] == ["i.outer.c", "i.inner.c"]
    assert [leaf.name for leaf in s[B].leaves] == ["i"]
    assert nest(s, [A, B]) == """\
func f(A: float32[13, 6], B: float32[13]) {
  allocate B.local: float32[4, 4] in local
  for i.outer.c in 0..4:
    for i.inner.c in 0..4:
      B.local[i.outer.c, i.inner.c] = 0.0
      if i.outer.c * 4 + i.inner.c < 13:
        for k in 0..6:
          B.local[i.outer.c, i.inner.c] = B.local[i.outer.c, i.inner.c] + A[i.outer.c * 4 + i.inner.c, k]
  for i in 0..13:
    B[i] = B.local[i // 4, i % 4]
}"""
    check_all(s, [A, B], lambda a: a.sum(axis=1))


def test_cache_write_after_reorder_transposes_the_cache():
    A, B, C = pair(8, 6)
    s = ns.create_schedule(C)
    s[C].reorder(C.op.axis[1], C.op.axis[0])
    cache = s.cache_write(C, "local")
    s[cache].compute_at(s[C], C.op.axis[0])
    assert nest(s, [A, C]) == """\
func f(A: float32[8, 6], C: float32[8, 6]) {
  allocate B: float32[8, 6] in global
  for i in 0..8:
    for j in 0..6:
      B[i, j] = A[i, j] + 1.0
  for i in 0..8:
    allocate C.local: float32[6, 1] in local
    for j.c in 0..6:
      C.local[j.c, 0] = B[i, j.c] * 2.0
    for j in 0..6:
      C[i, j] = C.local[j, 0]
}"""
    check_all(s, [A, C], lambda a: 2 * (a + 1))


def test_cache_write_after_fuse_and_split_then_schedules_the_cache():
    A, B, C = pair(8, 6)
    s = ns.create_schedule(C)
    fused = s[C].fuse(*C.op.axis)
    s[C].split(fused, factor=16)
    cache = s.cache_write(C, "local")
    outer, _ = s[C].split(C.op.axis[0], factor=2)
    s[cache].compute_at(s[C], outer)
    s[cache].vectorize(cache.op.axis[1])
    check_all(s, [A, C], lambda a: 2 * (a + 1))


def two_readers():
    """``D = B + C`` with ``C = 2 * B`` and ``B = A + 1``: B has two readers."""
    A = ns.placeholder((6,), name="A")
    B = ns.compute((6,), lambda i: A[i] + 1.0, name="B")
    C = ns.compute((6,), lambda i: B[i] * 2.0, name="C")
    D = ns.compute((6,), lambda i: B[i] + C[i], name="D")
    return A, B, C, D


def test_compute_at_before_compute_inline_of_the_other_reader():
    A, B, C, D = two_readers()
    s = ns.create_schedule(D)
    s[B].compute_at(s[D], D.op.axis[0])  # C still reads B from outside the loop: accepted, waiting
    s[C].compute_inline()
    assert nest(s, [A, D]) == """\
func f(A: float32[6], D: float32[6]) {
  for i in 0..6:
    allocate B: float32[1] in global
    B[0] = A[i] + 1.0
    D[i] = B[0] + B[0] * 2.0
}"""
    check_all(s, [A, D], lambda a: 3 * (a + 1))


def test_compute_at_before_compute_at_of_the_other_reader():
    A, B, C, D = two_readers()
    s = ns.create_schedule(D)
    s[B].compute_at(s[D], D.op.axis[0])
    s[C].compute_at(s[D], D.op.axis[0])
    check_all(s, [A, D], lambda a: 3 * (a + 1))


def test_a_reader_left_outside_the_loop_is_refused_when_lowering():
    A, B, C, D = two_readers()
    s = ns.create_schedule(D)
    s[B].compute_at(s[D], D.op.axis[0])
    with pytest.raises(ns.LoweringError) as info:
        ns.lower(s, [A, D], name="f")
    assert str(info.value) == (
        "lower f: B is computed inside loop i of D (compute_at), but ['C'] still read it outside "
        "that loop; compute_inline them, or compute_at them at that loop or inside it, or "
        "compute_root B")


def three_stages():
    """``C = R - 3``, ``R = 2 * P``, ``P = A + 1`` over 8 x 6."""
    A = ns.placeholder((8, 6), name="A")
    P = ns.compute((8, 6), lambda i, j: A[i, j] + 1.0, name="P")
    R = ns.compute((8, 6), lambda i, j: P[i, j] * 2.0, name="R")
    C = ns.compute((8, 6), lambda i, j: R[i, j] - 3.0, name="C")
    return A, P, R, C


def test_compute_at_a_loop_enclosing_the_readers_attach_point():
    A, P, R, C = three_stages()
    s = ns.create_schedule(C)
    s[R].compute_at(s[C], C.op.axis[1])
    s[P].compute_at(s[C], C.op.axis[0])  # C does not read P; R, its reader, runs inside loop j
    # one row of P per i: what R reads over the j loop
    assert nest(s, [A, C]) == """\
func f(A: float32[8, 6], C: float32[8, 6]) {
  for i in 0..8:
    allocate P: float32[1, 6] in global
    for j in 0..6:
      P[0, j] = A[i, j] + 1.0
    for j in 0..6:
      allocate R: float32[1, 1] in global
      R[0, 0] = P[0, j] * 2.0
      C[i, j] = R[0, 0] - 3.0
}"""
    check_all(s, [A, C], lambda a: 2 * (a + 1) - 3)


def test_compute_at_enclosing_a_tile_of_the_reader():
    A, P, R, C = three_stages()
    s = ns.create_schedule(C)
    io, jo, ii, _ = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 3)
    s[R].compute_at(s[C], ii)
    s[P].compute_at(s[C], jo)
    assert s[P].attach.axis is jo
    text = nest(s, [A, C])
    assert "allocate P: float32[4, 3] in global" in text and "allocate R: float32[1, 3] in global" in text
    check_all(s, [A, C], lambda a: 2 * (a + 1) - 3)


def test_compute_at_enclosing_a_reader_attached_inside_another_stage():
    A, P, R, C = three_stages()
    E = ns.compute((8, 6), lambda i, j: C[i, j] + 1.0, name="E")
    s = ns.create_schedule(E)
    s[C].compute_at(s[E], E.op.axis[0])
    s[R].compute_at(s[C], C.op.axis[1])
    s[P].compute_at(s[E], E.op.axis[0])  # R, P's reader, runs in C, which runs inside E's loop i
    assert nest(s, [A, E]) == """\
func f(A: float32[8, 6], E: float32[8, 6]) {
  for i in 0..8:
    allocate P: float32[1, 6] in global
    allocate C: float32[1, 6] in global
    for j in 0..6:
      P[0, j] = A[i, j] + 1.0
    for j in 0..6:
      allocate R: float32[1, 1] in global
      R[0, 0] = P[0, j] * 2.0
      C[0, j] = R[0, 0] - 3.0
    for j in 0..6:
      E[i, j] = C[0, j] + 1.0
}"""
    check_all(s, [A, E], lambda a: 2 * (a + 1) - 2)


def test_cache_write_after_split_of_a_compute_with_two_outputs():
    A = ns.placeholder((10, 4), name="A")
    B, C = ns.compute((10, 4), lambda i, j: (A[i, j] + 1.0, A[i, j] * 2.0), name="BC")
    s = ns.create_schedule(B.op)
    s[B].split(B.op.axis[0], factor=4)
    caches = s.cache_write([B, C], "local")
    assert [c.shape for c in caches] == [(3, 4, 4), (3, 4, 4)]
    rng = np.random.default_rng(5)
    a = rng.uniform(-1, 1, (10, 4)).astype(np.float32)
    for target in ("interp", "llvm"):
        b, c = np.full((10, 4), np.nan, np.float32), np.full((10, 4), np.nan, np.float32)
        ns.build(s, [A, B, C], target=target)(a, b, c)
        np.testing.assert_allclose(b, a + 1, rtol=1e-6)
        np.testing.assert_allclose(c, a * 2, rtol=1e-6)
    check_roundtrip(s, [A, B, C])
