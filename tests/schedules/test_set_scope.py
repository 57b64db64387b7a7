"""set_scope: where a stage's buffer lives (global, shared, local); it changes the allocation,
not the values."""

from __future__ import annotations

import pytest

import nestor as ns

from .helpers import check_numpy, check_roundtrip, nest


def stencil(n: int = 13):
    A = ns.placeholder((n + 2,), name="A")
    B = ns.compute((n + 2,), lambda i: A[i] * 2.0, name="B")
    C = ns.compute((n,), lambda i: B[i] + B[i + 1] + B[i + 2], name="C")
    return A, B, C


def reference(a):
    return 2 * (a[:-2] + a[1:-1] + a[2:])


def test_local_producer_at_a_tile():
    A, B, C = stencil()
    s = ns.create_schedule(C)
    outer, _ = s[C].split(C.op.axis[0], factor=8)
    s[B].set_scope("local")
    s[B].compute_at(s[C], outer)
    assert nest(s, [A, C]) == """\
func f(A: float32[15], C: float32[13]) {
  for i.outer in 0..2:
    allocate B: float32[10] in local
    for i in 0..10:
      if i.outer * 8 + i < 15:
        B[i] = A[i.outer * 8 + i] * 2.0
    for i.inner in 0..8:
      if i.outer * 8 + i.inner < 13:
        C[i.outer * 8 + i.inner] = B[i.inner] + B[i.inner + 1] + B[i.inner + 2]
}"""
    assert str(s.trace) == """\
i_outer, i_inner = s[C].split(i, factor=8)
s[B].set_scope('local')
s[B].compute_at(s[C], i_outer)"""
    check_numpy(s, [A, C], reference)
    check_roundtrip(s, [A, C])


@pytest.mark.parametrize("scope", ["global", "shared", "local"])
def test_scope_of_a_root_stage(scope):
    A, B, C = stencil()
    s = ns.create_schedule(C)
    s[B].set_scope(scope)
    assert nest(s, [A, C]).splitlines()[1] == f"  allocate B: float32[15] in {scope}"
    assert str(s.trace) == f"s[B].set_scope({scope!r})"
    check_numpy(s, [A, C], reference)
    check_roundtrip(s, [A, C])


def test_shared_producer_of_a_thread_block():
    A, B, C = stencil(29)
    s = ns.create_schedule(C)
    outer, inner = s[C].split(C.op.axis[0], factor=8)
    s[C].bind(outer, "blockIdx.x")
    s[C].bind(inner, "threadIdx.x")
    s[B].set_scope("shared")
    s[B].compute_at(s[C], outer)
    bo, bi = s[B].split(B.op.axis[0], factor=8)
    s[B].bind(bi, "threadIdx.x")
    text = nest(s, [A, C])
    assert "allocate B: float32[10] in shared" in text
    assert "barrier()" in text
    check_numpy(s, [A, C], reference)
    check_roundtrip(s, [A, C])


def test_last_scope_wins():
    A, B, C = stencil()
    s = ns.create_schedule(C)
    s[B].set_scope("shared")
    s[B].set_scope("local")
    assert "allocate B: float32[15] in local" in nest(s, [A, C])


def test_output_may_be_set_to_global():
    A, B, C = stencil()
    s = ns.create_schedule(C)
    s[C].set_scope("global")
    assert nest(s, [A, C]) == nest(ns.create_schedule(C), [A, C])
