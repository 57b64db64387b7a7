"""Rank-0 tensors on CUDA: a scalar parameter, a scalar compute in a kernel of its own (one
thread), and a scalar reduction each thread computes in a register; the generated source
compiles with nvcc and, run by the host emulation, matches numpy."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import nestor as ns
from backends.cuda.nvcc import find_nvcc
from tests.backends.cuda import host_emulation


def normalize_scaled(n: int = 64):
    """``B[i] = A[i] / S() * C()`` with ``S = sum(A)`` per thread and ``C = 2 * P()`` at root."""
    A = ns.placeholder((n,), name="A")
    P = ns.placeholder((), name="P")
    k = ns.reduce_axis((0, n), name="k")
    S = ns.compute((), lambda: ns.sum(A[k], axis=k), name="S")
    C = ns.compute((), lambda: P() * 2.0, name="C")
    B = ns.compute((n,), lambda i: A[i] / S() * C(), name="B")
    s = ns.create_schedule(B)
    outer, inner = s[B].split(B.op.axis[0], factor=16)
    s[B].bind(outer, "blockIdx.x")
    s[B].bind(inner, "threadIdx.x")
    s[S].set_scope("local")
    s[S].compute_at(s[B], inner)
    return ns.build(s, [A, P, B], target="cuda", name="rank0_normalize")


def doubled():
    """``C = 2 * P()``: a kernel with no loop at all."""
    P = ns.placeholder((), name="P")
    C = ns.compute((), lambda: P() * 2.0, name="C")
    return ns.build(ns.create_schedule(C), [P, C], target="cuda", name="rank0_doubled")


@pytest.fixture(scope="module")
def modules():
    return [normalize_scaled(), doubled()]


def test_the_source_compiles_with_nvcc(modules, tmp_path):
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    path = tmp_path / "rank0.cu"
    path.write_text("\n".join(m.source for m in modules))
    done = subprocess.run([nvcc, "-arch=sm_90", "-c", str(path), "-o", str(tmp_path / "rank0.o")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_scalar_compute_is_a_one_thread_kernel(modules):
    source = modules[1].source
    assert "grid (1, 1, 1), block (1, 1, 1)" in source
    assert "C[0] = P[0] * 2.0f;" in source


def test_the_source_computes_numpy_on_the_host(modules, tmp_path):
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    normalize, double = host_emulation.compile_host(modules, str(tmp_path))
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 1.5, 64).astype(np.float32)
    p = np.array(1.25, np.float32)
    out = np.full(64, np.nan, np.float32)
    normalize(a, p, out)
    np.testing.assert_allclose(out, a / a.sum() * 2.5, rtol=1e-5)
    doubled_out = np.array(np.nan, np.float32)
    double(p, doubled_out)
    assert doubled_out == 2.5


def test_a_scalar_reduction_on_one_thread_is_refused():
    A = ns.placeholder((64,), name="A")
    k = ns.reduce_axis((0, 64), name="k")
    S = ns.compute((), lambda: ns.sum(A[k], axis=k), name="S")
    with pytest.raises(ns.CodegenError, match=r"cuda kernel total\w*: loop k \(extent 64\) is not bound "
                       "to a GPU index and no bound loop encloses it"):
        ns.build(ns.create_schedule(S), [A, S], target="cuda", name="total")
