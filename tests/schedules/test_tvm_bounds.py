"""Bound inference with TVM's meaning: a split of an attached stage divides the region that
stage computes (not the whole axis), a factor beyond the extent leaves a loop of the extent
and no guard, and a ``local`` stage under a thread-bound loop computes its own thread's
region while a ``shared`` one is relaxed over the block's threads (TVM's nested-thread bound
test). Golden nests, numpy on the interpreter and LLVM, trace round trips."""

from __future__ import annotations

import numpy as np

import nestor as ns

from .helpers import check_numpy, check_roundtrip, nest


def chain(n: int = 64):
    """``C[i] = B[i] + 1`` with ``B = 2 * A``."""
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] * 2.0, name="B")
    C = ns.compute((n,), lambda i: B[i] + 1.0, name="C")
    return A, B, C


def check_llvm(s, args, reference):
    a = np.random.default_rng(1).uniform(-1, 1, args[0].shape).astype(np.float32)
    out = np.full(args[-1].shape, np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, out)
    np.testing.assert_allclose(out, reference(a.astype(np.float64)), rtol=1e-5)


def test_nparts_of_an_attached_stage_divides_its_region():
    A, B, C = chain()
    s = ns.create_schedule(C)
    outer, _ = s[C].split(C.op.axis[0], factor=32)
    s[B].compute_at(s[C], outer)
    parts, _ = s[B].split(B.op.axis[0], nparts=4)
    assert parts.extent == 4
    # 4 parts of the 32 elements each tile needs: 8 each (of the whole axis, 64, it would be 16)
    assert nest(s, [A, C]) == """\
func f(A: float32[64], C: float32[64]) {
  for i.outer in 0..2:
    allocate B: float32[32] in global
    for i.outer_1 in 0..4:
      for i.inner in 0..8:
        B[i.outer_1 * 8 + i.inner] = A[i.outer * 32 + i.outer_1 * 8 + i.inner] * 2.0
    for i.inner in 0..32:
      C[i.outer * 32 + i.inner] = B[i.inner] + 1.0
}"""
    check_numpy(s, [A, C], lambda a: 2 * a + 1)
    check_llvm(s, [A, C], lambda a: 2 * a + 1)
    check_roundtrip(s, [A, C])


def test_a_factor_beyond_the_region_is_a_loop_of_the_region():
    A, B, C = chain()
    s = ns.create_schedule(C)
    outer, _ = s[C].split(C.op.axis[0], factor=8)
    s[B].compute_at(s[C], outer)
    s[B].split(B.op.axis[0], factor=32)
    # an 8-long region split by 32: one 8-long loop (the outer loop of 1 is elided), no guard
    assert nest(s, [A, C]) == """\
func f(A: float32[64], C: float32[64]) {
  for i.outer in 0..8:
    allocate B: float32[8] in global
    for i.inner in 0..8:
      B[i.inner] = A[i.outer * 8 + i.inner] * 2.0
    for i.inner in 0..8:
      C[i.outer * 8 + i.inner] = B[i.inner] + 1.0
}"""
    check_numpy(s, [A, C], lambda a: 2 * a + 1)
    check_llvm(s, [A, C], lambda a: 2 * a + 1)
    check_roundtrip(s, [A, C])


def test_nparts_keeps_its_number_of_parts():
    A, B, C = chain(10)
    s = ns.create_schedule(C)
    parts, inner = s[C].split(C.op.axis[0], nparts=6)
    # TVM: 6 parts of ceil(10 / 6) = 2, the last two guarded away (not 5 parts of 2)
    assert (parts.extent, inner.extent) == (6, 2)
    assert nest(s, [A, C]) == """\
func f(A: float32[10], C: float32[10]) {
  allocate B: float32[10] in global
  for i in 0..10:
    B[i] = A[i] * 2.0
  for i.outer in 0..6:
    for i.inner in 0..2:
      if i.outer * 2 + i.inner < 10:
        C[i.outer * 2 + i.inner] = B[i.outer * 2 + i.inner] + 1.0
}"""
    check_numpy(s, [A, C], lambda a: 2 * a + 1)
    check_roundtrip(s, [A, C])


def nested_threads(n: int = 64):
    """TVM's nested-thread bound test: A1 (local) and A2 (shared) both computed at the thread
    loop of A3, A2's own loop bound to the same threadIdx.x."""
    A = ns.placeholder((n,), name="A")
    A1 = ns.compute((n,), lambda i: A[i], name="A1")
    A2 = ns.compute((n,), lambda i: A1[i] + 2.0, name="A2")
    A3 = ns.compute((n,), lambda i: A2[i] + 3.0, name="A3")
    s = ns.create_schedule(A3)
    s[A2].set_scope("shared")
    s[A1].set_scope("local")
    blocks, threads = s[A3].split(A3.op.axis[0], factor=32)
    s[A3].bind(blocks, "blockIdx.x")
    s[A3].bind(threads, "threadIdx.x")
    s[A2].compute_at(s[A3], threads)
    _, inner = s[A2].split(A2.op.axis[0], nparts=1)
    s[A2].bind(inner, "threadIdx.x")
    s[A1].compute_at(s[A3], threads)
    return s, [A, A3]


def test_local_is_per_thread_and_shared_is_per_block_under_nested_threads():
    s, args = nested_threads()
    # A1 (local): one element, its own thread's; A2 (shared): the block's 32, one per thread
    assert nest(s, args) == """\
func f(A: float32[64], A3: float32[64]) {
  for i.outer in 0..2 [blockIdx.x]:
    for i.inner in 0..32 [threadIdx.x]:
      allocate A1: float32[1] in local
      allocate A2: float32[32] in shared
      A1[0] = A[i.outer * 32 + i.inner]
      for i.inner_1 in 0..32 [threadIdx.x]:
        A2[i.inner_1] = A1[i.inner_1 - i.inner] + 2.0
      barrier()
      A3[i.outer * 32 + i.inner] = A2[i.inner] + 3.0
}"""
    # the interpreter runs the block's threads in lock step: no barrier divergence
    check_numpy(s, args, lambda a: a + 5)
    check_roundtrip(s, args)
