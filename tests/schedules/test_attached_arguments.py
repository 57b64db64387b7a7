"""A stage attached with compute_at and listed among lower's arguments (TVM binds it to the
caller's array): each computed element is stored into the argument at its own index, with no
local buffer; the elements no reader needs stay as the caller left them. Golden nests and values
on LLVM and the interpreter, in parallel loops and on the CUDA host emulation; and every
argument is the caller's dense array, whatever its stage aligns or double-buffers."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from tests.backends.cuda import host_emulation
from tests.schedules.helpers import nest


def _window():
    X = ns.placeholder((6, 10), name="X")
    P = ns.compute((6, 10), lambda i, j: X[i, j] * 2, name="P")
    Q = ns.compute((6, 4), lambda i, j: P[i, j] + P[i, j + 2], name="Q")
    return X, P, Q


def _run(s, args, x, target="llvm"):
    p = np.full((6, 10), -1.0, np.float32)
    q = np.full((6, 4), np.nan, np.float32)
    ns.build(s, args, target=target)(x, p, q)
    return p, q


def test_an_attached_argument_is_stored_at_its_own_indices():
    X, P, Q = _window()
    s = ns.create_schedule(Q)
    xo, _ = s[Q].split(Q.op.axis[1], factor=2)
    s[P].compute_at(s[Q], xo)
    assert nest(s, [X, P, Q]) == """\
func f(X: float32[6, 10], P: float32[6, 10], Q: float32[6, 4]) {
  for i in 0..6:
    for j.outer in 0..2:
      for j in 0..4:
        P[i, j.outer * 2 + j] = X[i, j.outer * 2 + j] * 2.0
      for j.inner in 0..2:
        Q[i, j.outer * 2 + j.inner] = P[i, j.outer * 2 + j.inner] + P[i, j.outer * 2 + j.inner + 2]
}"""
    x = np.random.default_rng(0).uniform(-1, 1, (6, 10)).astype(np.float32)
    for target in ("llvm", "interp"):
        p, q = _run(s, [X, P, Q], x, target)
        np.testing.assert_array_equal(p[:, :6], 2 * x[:, :6])
        np.testing.assert_array_equal(p[:, 6:], -1.0)  # no reader needs these: left as they were
        np.testing.assert_allclose(q, 2 * x[:, :4] + 2 * x[:, 2:6], rtol=1e-6)


def test_an_attached_argument_in_a_parallel_loop():
    X, P, Q = _window()
    s = ns.create_schedule(Q)
    s[P].compute_at(s[Q], Q.op.axis[0])
    s[Q].parallel(Q.op.axis[0])
    x = np.random.default_rng(1).uniform(-1, 1, (6, 10)).astype(np.float32)
    p, q = _run(s, [X, P, Q], x)
    np.testing.assert_array_equal(p[:, :6], 2 * x[:, :6])
    np.testing.assert_allclose(q, 2 * x[:, :4] + 2 * x[:, 2:6], rtol=1e-6)


def test_an_attached_argument_under_gpu_threads():
    X, P, Q = _window()
    s = ns.create_schedule(Q)
    s[Q].bind(Q.op.axis[0], ns.thread_axis("blockIdx.x"))
    s[Q].bind(Q.op.axis[1], ns.thread_axis("threadIdx.x"))
    s[P].compute_at(s[Q], Q.op.axis[1])
    x = np.random.default_rng(2).uniform(-1, 1, (6, 10)).astype(np.float32)
    p, q = _run(s, [X, P, Q], x, "interp")
    np.testing.assert_array_equal(p[:, :6], 2 * x[:, :6])
    np.testing.assert_allclose(q, 2 * x[:, :4] + 2 * x[:, 2:6], rtol=1e-6)
    module = ns.build(s, [X, P, Q], target="cuda")
    assert "float* __restrict__ P" in module.source and "P_local" not in module.source
    if not host_emulation.available():
        return
    (host,) = host_emulation.compile_host([module])
    p = np.full((6, 10), -1.0, np.float32)
    q = np.full((6, 4), np.nan, np.float32)
    host(x, p, q)
    np.testing.assert_array_equal(p[:, :6], 2 * x[:, :6])
    np.testing.assert_allclose(q, 2 * x[:, :4] + 2 * x[:, 2:6], rtol=1e-6)


def test_an_inlined_argument_is_still_refused():
    X, P, Q = _window()
    s = ns.create_schedule(Q)
    s[P].compute_inline()
    with pytest.raises(ns.LoweringError, match=r"lower f: argument P is inlined and so never stored whole; pass "
                       r"only inputs, outputs and root stages \(or stages attached with compute_at\)"):
        ns.lower(s, [X, P, Q], name="f")


@pytest.mark.parametrize("attached", [False, True])
def test_an_argument_is_dense_whatever_its_stage_aligns_or_double_buffers(attached):
    """storage_align and double_buffer shape a stage's own allocation; listed as an argument,
    the stage writes the caller's dense array (a padded parameter would write past its end)."""
    X = ns.placeholder((8, 16), name="X")
    P = ns.compute((8, 16), lambda i, j: X[i, j] * 2, name="P")
    Q = ns.compute((8, 16), lambda i, j: P[i, j] + 1, name="Q")
    s = ns.create_schedule(Q)
    if attached:
        s[P].compute_at(s[Q], Q.op.axis[0])
    s[P].storage_align(P.op.axis[0], 8, 1)
    s[P].double_buffer()
    func = ns.lower(s, [X, P, Q])
    assert [b.strides for b in func.params] == [(16, 1)] * 3
    x = np.random.default_rng(3).uniform(-1, 1, (8, 16)).astype(np.float32)
    p = np.full((8, 16), -1.0, np.float32)
    q = np.full((8, 16), np.nan, np.float32)
    ns.build(s, [X, P, Q])(x, p, q)
    np.testing.assert_array_equal(p, 2 * x)
    np.testing.assert_allclose(q, 2 * x + 1, rtol=1e-6)


def test_a_shared_attached_argument_keeps_its_barrier():
    X = ns.placeholder((8, 16), name="X")
    P = ns.compute((8, 16), lambda i, j: X[i, j] * 2, name="P")
    Q = ns.compute((8, 14), lambda i, j: P[i, j] + P[i, j + 2], name="Q")
    s = ns.create_schedule(Q)
    s[P].set_scope("shared")
    s[Q].bind(Q.op.axis[0], ns.thread_axis("blockIdx.x"))
    s[Q].bind(Q.op.axis[1], ns.thread_axis("threadIdx.x"))
    s[P].compute_at(s[Q], Q.op.axis[0])
    s[P].bind(P.op.axis[1], ns.thread_axis("threadIdx.x"))
    assert nest(s, [X, P, Q]) == """\
func f(X: float32[8, 16], P: float32[8, 16], Q: float32[8, 14]) {
  for i in 0..8 [blockIdx.x]:
    for j in 0..16 [threadIdx.x]:
      P[i, j] = X[i, j] * 2.0
    barrier()
    for j in 0..14 [threadIdx.x]:
      Q[i, j] = P[i, j] + P[i, j + 2]
}"""
    module = ns.build(s, [X, P, Q], target="cuda")
    assert "float* __restrict__ P" in module.source and "__syncthreads();" in module.source
    runs = [ns.build(s, [X, P, Q], target="interp")]
    if host_emulation.available():
        runs += host_emulation.compile_host([module])
    x = np.random.default_rng(4).uniform(-1, 1, (8, 16)).astype(np.float32)
    for run in runs:
        p = np.full((8, 16), -1.0, np.float32)
        q = np.full((8, 14), np.nan, np.float32)
        run(x, p, q)
        np.testing.assert_array_equal(p, 2 * x)
        np.testing.assert_allclose(q, 2 * x[:, :14] + 2 * x[:, 2:], rtol=1e-6)


def test_an_attached_tuple_compute_lists_all_its_outputs_or_none():
    X = ns.placeholder((6, 8), name="X")
    B0, B1 = ns.compute((6, 8), lambda i, j: (X[i, j] + 1, X[i, j] * 3), name="B")
    C = ns.compute((6, 8), lambda i, j: B0[i, j] - B1[i, j], name="C")
    s = ns.create_schedule(C)
    s[B0].compute_at(s[C], C.op.axis[0])
    with pytest.raises(ns.LoweringError, match=r"lower f: B is attached with compute_at and some of its outputs "
                       r"\['B.v0', 'B.v1'\] are arguments but not all; list every one of them, or none"):
        ns.lower(s, [X, B0, C], name="f")
    x = np.random.default_rng(5).uniform(-1, 1, (6, 8)).astype(np.float32)
    b0, b1 = np.full((6, 8), np.nan, np.float32), np.full((6, 8), np.nan, np.float32)
    c = np.full((6, 8), np.nan, np.float32)
    ns.build(s, [X, B0, B1, C])(x, b0, b1, c)
    np.testing.assert_allclose(b0, x + 1, rtol=1e-6)
    np.testing.assert_allclose(b1, 3 * x, rtol=1e-6)
    np.testing.assert_allclose(c, x + 1 - 3 * x, rtol=1e-5, atol=1e-6)
