"""The machine-measuring kernels of schedules/templates/peak.py: their loop nests, their values
(interpreter and LLVM against numpy), and that the FMA kernel's step loop is FMAs only."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from schedules.templates.peak import fma_peak_cpu, triad_cpu

from .helpers import check_numpy, check_roundtrip, nest


def fma_reference(steps):
    return lambda a, w: a[:, :, None] * w[None, None, :] * (steps * (steps - 1) / 2)


def test_fma_peak_nest():
    s, args = fma_peak_cpu(2, 5, rows=2, lanes=16)
    assert nest(s, args) == """func f(A: float32[2, 2], W: float32[16], Y: float32[2, 2, 16]) {
  parallel for t in 0..2:
    allocate Y.local: float32[1, 2, 16] in local
    unrolled for i in 0..2:
      vectorized for j in 0..16:
        Y.local[0, i, j] = 0.0
    for k in 0..5:
      unrolled for i in 0..2:
        vectorized for j in 0..16:
          Y.local[0, i, j] = Y.local[0, i, j] + A[t, i] * W[j] * float32(k)
    for i in 0..2:
      vectorized for j in 0..16:
        Y[t, i, j] = Y.local[0, i, j]
}"""
    check_roundtrip(s, args)


@pytest.mark.parametrize("threads, steps, rows, lanes", [(1, 3, 1, 16), (2, 7, 3, 40)])
def test_fma_peak_values(threads, steps, rows, lanes):
    s, args = fma_peak_cpu(threads, steps, rows=rows, lanes=lanes)
    check_numpy(s, args, fma_reference(steps))
    module = ns.build(s, args, target="llvm")
    rng = np.random.default_rng(1)
    a = rng.standard_normal((threads, rows), dtype=np.float32)
    w = rng.standard_normal(lanes, dtype=np.float32)
    y = np.full((threads, rows, lanes), np.nan, np.float32)
    module(a, w, y)
    np.testing.assert_allclose(y, fma_reference(steps)(a, w), rtol=1e-5)


def test_fma_peak_step_loop_is_fmas_only():
    module = ns.build(*fma_peak_cpu(1, 1000), target="llvm")
    if "+fma" not in module_features():
        pytest.skip("the host has no FMA instructions")
    loops = re.findall(r"\n(\.LBB\d+_\d+):\n(.*?)\n\s*j\w+\s+\1\n", module.asm, re.S)
    bodies = [body for _, body in loops if "vfmadd" in body]
    assert bodies, "no loop of FMAs in the kernel"
    body = bodies[0]
    per_step = 3 * 64 // (module_vector_bytes() // 4)  # LLVM may unroll the step loop
    assert body.count("vfmadd") % per_step == 0 and body.count("vfmadd") >= per_step
    vector_lines = [line for line in body.splitlines() if line.strip().startswith("v")]
    assert not [line for line in vector_lines if "(%" in line]  # nothing loaded or stored per step


def module_features() -> str:
    from backends.llvm.target import host_target

    return host_target().features


def module_vector_bytes() -> int:
    from backends.llvm.target import host_target

    return host_target().vector_bytes


@pytest.mark.parametrize("size", [16, 100])
def test_triad(size):
    s, args = triad_cpu(size, scalar=2.5, vector=8)
    check_numpy(s, args, lambda a, b: a + 2.5 * b)
    check_roundtrip(s, args)
    a, b = (np.arange(size, dtype=np.float32) * x for x in (1.0, 0.5))
    c = np.empty(size, np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_allclose(c, a + 2.5 * b, rtol=1e-6)
