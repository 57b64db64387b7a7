"""A stage attached with compute_at and listed among lower's arguments (TVM binds it to the
caller's array): each computed element is stored into the argument at its own index, with no
local buffer; the elements no reader needs stay as the caller left them. Golden nests and values
on LLVM and the interpreter, in parallel loops and on the CUDA host emulation."""

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
