"""Schedules of rank-0 stages: a scalar reduction split, computed inside a consumer loop, cached
in a register, inlined; a scalar input cached; a producer computed inside a scalar reduction;
and the primitives that need a loop refused on a stage that has none. Each schedule is checked
against numpy on the interpreter and on LLVM, and through a trace round trip."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns

from .helpers import check_roundtrip, nest
from .rank0_cases import inputs_for, normalize_reference, run_on, scaled, scaled_reference, total_and_normalize


def check(s, args, inputs, want):
    for target in ("interp", "llvm"):
        (got,) = run_on(target, s, args, inputs)
        assert got.shape == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-5)
    check_roundtrip(s, args)


def test_a_scalar_reduction_splits_its_reduce_loop():
    A, S, B = total_and_normalize()
    s = ns.create_schedule(B)
    s[S].split(S.op.reduce_axis[0], factor=8)
    assert nest(s, [A, B]) == """\
func f(A: float32[64], B: float32[64]) {
  allocate S: float32[] in global
  S[] = 0.0
  for k.outer in 0..8:
    for k.inner in 0..8:
      S[] = S[] + A[k.outer * 8 + k.inner]
  for i in 0..64:
    B[i] = A[i] / S[]
}"""
    (a,) = inputs_for([A], 1)
    check(s, [A, B], [a], normalize_reference(a))


def test_a_scalar_output_lowers_to_an_empty_loop_nest():
    A, S, _ = total_and_normalize(16)
    s = ns.create_schedule(S)
    assert nest(s, [A, S]) == """\
func f(A: float32[16], S: float32[]) {
  S[] = 0.0
  for k in 0..16:
    S[] = S[] + A[k]
}"""
    (a,) = inputs_for([A], 1)
    check(s, [A, S], [a], np.array(a.sum(), np.float32))


def test_a_scalar_computed_inside_a_consumer_loop():
    A, S, B = total_and_normalize()
    s = ns.create_schedule(B)
    s[S].compute_at(s[B], B.op.axis[0])
    assert nest(s, [A, B]) == """\
func f(A: float32[64], B: float32[64]) {
  for i in 0..64:
    allocate S: float32[] in global
    S[] = 0.0
    for k in 0..64:
      S[] = S[] + A[k]
    B[i] = A[i] / S[]
}"""
    (a,) = inputs_for([A], 1)
    check(s, [A, B], [a], normalize_reference(a))


def test_a_scalar_accumulates_in_a_register_with_cache_write():
    A, S, B = total_and_normalize()
    s = ns.create_schedule(B)
    s.cache_write(S, "local")
    assert nest(s, [A, B]) == """\
func f(A: float32[64], B: float32[64]) {
  allocate S.local: float32[] in local
  allocate S: float32[] in global
  S.local[] = 0.0
  for k in 0..64:
    S.local[] = S.local[] + A[k]
  S[] = S.local[]
  for i in 0..64:
    B[i] = A[i] / S[]
}"""
    (a,) = inputs_for([A], 1)
    check(s, [A, B], [a], normalize_reference(a))


def test_a_producer_computed_inside_a_scalar_reduction():
    A = ns.placeholder((32,), name="A")
    D = ns.compute((32,), lambda i: A[i] * 2.0, name="D")
    k = ns.reduce_axis((0, 32), name="k")
    S = ns.compute((), lambda: ns.sum(D[k], axis=k), name="S")
    s = ns.create_schedule(S)
    s[D].compute_at(s[S], S.op.reduce_axis[0])
    assert nest(s, [A, S]) == """\
func f(A: float32[32], S: float32[]) {
  S[] = 0.0
  for k in 0..32:
    allocate D: float32[1] in global
    D[0] = A[k] * 2.0
    S[] = S[] + D[0]
}"""
    (a,) = inputs_for([A], 1)
    check(s, [A, S], [a], np.array(2 * a.sum(), np.float32))


def test_a_scalar_compute_inlines():
    A, P, C, B = scaled()
    s = ns.create_schedule(B)
    s[C].compute_inline()
    assert nest(s, [A, P, B]) == """\
func f(A: float32[64], P: float32[], B: float32[64]) {
  for i in 0..64:
    B[i] = A[i] * P[] * 2.0
}"""
    a, p = inputs_for([A, P], 2)
    check(s, [A, P, B], [a, p], scaled_reference(a, p))


def test_a_scalar_input_is_cached_once_per_tile():
    A = ns.placeholder((64,), name="A")
    P = ns.placeholder((), name="P")
    B = ns.compute((64,), lambda i: A[i] * P(), name="B")
    s = ns.create_schedule(B)
    cached = s.cache_read(P, "local", [B])
    outer, _ = s[B].split(B.op.axis[0], factor=8)
    s[cached].compute_at(s[B], outer)
    assert nest(s, [A, P, B]) == """\
func f(A: float32[64], P: float32[], B: float32[64]) {
  for i.outer in 0..8:
    allocate P.local: float32[] in local
    P.local[] = P[]
    for i.inner in 0..8:
      B[i.outer * 8 + i.inner] = A[i.outer * 8 + i.inner] * P.local[]
}"""
    a, p = inputs_for([A, P], 2)
    check(s, [A, P, B], [a, p], a * p)


def test_a_scalar_compute_at_root_and_in_a_loop():
    A, P, C, B = scaled()
    s = ns.create_schedule(B)
    s[C].compute_at(s[B], B.op.axis[0])
    a, p = inputs_for([A, P], 2)
    check(s, [A, P, B], [a, p], scaled_reference(a, p))


@pytest.mark.parametrize("primitive", ["parallel", "vectorize", "unroll"])
def test_a_stage_without_loops_has_no_axis_to_mark(primitive):
    _, P, C, _ = scaled()
    s = ns.create_schedule(C)
    with pytest.raises(ns.ScheduleError) as info:
        getattr(s[C], primitive)(None)
    assert str(info.value) == (
        f"s[C].{primitive}(None): None is not a loop axis, and stage C has no loops (a rank-0 "
        "tensor computes its one element once); there is no loop to name: C is computed whole, at "
        "root or inside a loop of a stage that reads it")


def test_nothing_is_computed_at_a_stage_without_loops():
    A, P, C, B = scaled()
    D = ns.compute((), lambda: C() + 1.0, name="D")
    s = ns.create_schedule(D)
    with pytest.raises(ns.ScheduleError) as info:
        s[C].compute_at(s[D], None)
    assert str(info.value) == (
        "s[C].compute_at(s[D], None): stage D has no loops (a rank-0 tensor computes its one element "
        "once), so nothing can be computed inside one of them; compute C at root (the default) or "
        "inline it")


def test_fuse_of_no_loops_gives_a_stage_without_loops_one_loop_of_extent_1():
    """TVM's fuse(): a new outermost loop of extent 1, which a producer can be computed at."""
    A, S, B = total_and_normalize()
    s = ns.create_schedule(B)
    fused = s[S].fuse()
    assert (fused.name, fused.extent, s[S].leaf_iter_vars) == ("fused", 1, (fused, S.op.reduce_axis[0]))
    (a,) = inputs_for([A], 1)
    check(s, [A, B], [a], normalize_reference(a))


def test_a_scalar_reduction_loop_is_not_parallel():
    A, S, B = total_and_normalize()
    s = ns.create_schedule(B)
    with pytest.raises(ns.ScheduleError, match=r"s\[S\]\.parallel\(k\): k is a reduction loop"):
        s[S].parallel(S.op.reduce_axis[0])


def test_rfactor_of_a_scalar_reduction():
    A, S, _ = total_and_normalize(64)
    s = ns.create_schedule(S)
    _, inner = s[S].split(S.op.reduce_axis[0], factor=16)
    factored = s.rfactor(S, inner)
    assert factored.shape == (16,)
    assert nest(s, [A, S]) == """\
func f(A: float32[64], S: float32[]) {
  allocate S.rf: float32[16] in global
  for k.inner in 0..16:
    S.rf[k.inner] = 0.0
    for k.outer in 0..4:
      S.rf[k.inner] = S.rf[k.inner] + A[k.outer * 16 + k.inner]
  S[] = 0.0
  for k.inner in 0..16:
    S[] = S[] + S.rf[k.inner]
}"""
    (a,) = inputs_for([A], 1)
    check(s, [A, S], [a], np.array(a.sum(), np.float32))


def test_a_scalar_sum_over_a_symbolic_length():
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    k = ns.reduce_axis((0, n), name="k")
    S = ns.compute((), lambda: ns.sum(A[k], axis=k), name="S")
    s = ns.create_schedule(S)
    assert nest(s, [A, S]) == """\
func f(A: float32[n], S: float32[]) {
  S[] = 0.0
  for k in 0..n:
    S[] = S[] + A[k]
}"""
    for target in ("interp", "llvm"):
        module = ns.build(s, [A, S], target=target)
        for size in (5, 17):
            a = np.random.default_rng(size).uniform(-1, 1, size).astype(np.float32)
            total = np.array(np.nan, np.float32)
            module(a, total)
            np.testing.assert_allclose(total, a.sum(), rtol=1e-5)
