"""Reductions over ranges that depend on an output index (``reduce_axis((0, i + 1))``): golden
loop nests (the reduction loop runs over the exact range; a moved or split axis keeps an exact
guard), values against numpy on interp and llvm (cumulative and triangular sums, lower-triangular
matmul, a causal argmax), split/reorder/rfactor/parallel schedules, symbolic sizes, and CUDA
source that nvcc compiles and the host emulation runs."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nestor as ns
from backends.cuda.nvcc import find_nvcc
from tests.backends.cuda import host_emulation
from tests.catalogue_reductions import RANGED
from tests.schedules.helpers import check_roundtrip, nest
from tests.schedules.test_random_schedules import check_random_schedule

TARGETS = ["interp", "llvm"]


def _cumsum(n=8):
    A = ns.placeholder((n,), name="A")
    return A, ns.compute((n,), lambda i: ns.sum(A[(k := ns.reduce_axis((0, i + 1), "k"))], axis=k), name="B")


def _trimm(n=16):
    L, X = ns.placeholder((n, n), name="L"), ns.placeholder((n, n), name="X")

    def mm(i, j):
        k = ns.reduce_axis((0, i + 1), "k")
        return ns.sum(L[i, k] * X[k, j], axis=k)

    return L, X, ns.compute((n, n), mm, name="C")


def _run(s, args, inputs, shape, target, dtype="float32"):
    out = np.full(shape, np.nan if dtype == "float32" else -7, dtype)
    ns.build(s, list(args), target=target)(*inputs, out)
    return out


def _lower_triangle(rng, n):
    return np.tril(rng.random((n, n), dtype=np.float32)), rng.random((n, n), dtype=np.float32)


@pytest.mark.parametrize("target", TARGETS)
def test_cumulative_sum(target):
    A, B = _cumsum()
    s = ns.create_schedule(B)
    assert nest(s, [A, B]) == (
        "func f(A: float32[8], B: float32[8]) {\n"
        "  for i in 0..8:\n"
        "    B[i] = 0.0\n"
        "    for k in 0..i + 1:\n"
        "      B[i] = B[i] + A[k]\n"
        "}")
    a = np.random.default_rng(0).random(8, dtype=np.float32)
    np.testing.assert_allclose(_run(s, [A, B], [a], (8,), target), np.cumsum(a), rtol=1e-5)


@pytest.mark.parametrize("target", TARGETS)
def test_suffix_sum_with_a_lower_bound_and_a_shifted_read(target):
    M, A = ns.placeholder((8, 8), name="M"), ns.placeholder((8,), name="A")
    C = ns.compute((8,), lambda i: ns.sum(M[i, (k := ns.reduce_axis((i, 8), "k"))] * A[k - i], axis=k), name="C")
    s = ns.create_schedule(C)
    assert "    for k in i..8:\n      C[i] = C[i] + M[i, k] * A[k - i]\n" in nest(s, [M, A, C])
    rng = np.random.default_rng(1)
    m, a = rng.random((8, 8), dtype=np.float32), rng.random(8, dtype=np.float32)
    want = [sum(float(m[i, k]) * float(a[k - i]) for k in range(i, 8)) for i in range(8)]
    np.testing.assert_allclose(_run(s, [M, A, C], [m, a], (8,), target), want, rtol=1e-5)


@pytest.mark.parametrize("target", TARGETS)
def test_symbolic_cumulative_sum(target):
    n = ns.size_var("n")
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: ns.sum(A[(k := ns.reduce_axis((0, i + 1), "k"))], axis=k), name="B")
    s = ns.create_schedule(B)
    assert "    for k in 0..max(min(i + 1, n), 0):\n      B[i] = B[i] + A[k]\n" in nest(s, [A, B])
    a = np.random.default_rng(2).random(13, dtype=np.float32)
    np.testing.assert_allclose(_run(s, [A, B], [a], (13,), target), np.cumsum(a), rtol=1e-5)


@pytest.mark.parametrize("target", TARGETS)
def test_reduction_split_and_moved_outside_its_data_loop_keeps_an_exact_guard(target):
    L, X, C = _trimm()
    s = ns.create_schedule(C)
    i, j = C.op.axis
    ko, ki = s[C].split(C.op.reduce_axis[0], factor=5)
    s[C].reorder(ko, i, ki, j)
    assert nest(s, [L, X, C]) == (
        "func f(L: float32[16, 16], X: float32[16, 16], C: float32[16, 16]) {\n"
        "  for i in 0..16:\n"
        "    for j in 0..16:\n"
        "      C[i, j] = 0.0\n"
        "  for k.outer in 0..4:\n"
        "    for i in 0..16:\n"
        "      for k.inner in 0..5:\n"
        "        if k.outer * 5 + k.inner < 16 and k.outer * 5 + k.inner < i + 1:\n"
        "          for j in 0..16:\n"
        "            C[i, j] = C[i, j] + L[i, k.outer * 5 + k.inner] * X[k.outer * 5 + k.inner, j]\n"
        "}")
    check_roundtrip(s, [L, X, C])
    low, x = _lower_triangle(np.random.default_rng(3), 16)
    np.testing.assert_allclose(_run(s, [L, X, C], [low, x], (16, 16), target), low @ x, rtol=1e-4)


@pytest.mark.parametrize("target", TARGETS)
def test_rfactor_of_a_triangular_reduction(target):
    L, X, C = _trimm()
    s = ns.create_schedule(C)
    _, ki = s[C].split(C.op.reduce_axis[0], factor=4)
    CF = s.rfactor(C, ki)
    s[CF].parallel(CF.op.axis[0])
    text = nest(s, [L, X, C])
    assert ("        for k.outer in 0..4:\n"
            "          if k.outer * 4 + k.inner < i + 1:\n"
            "            C.rf[k.inner, i, j] = C.rf[k.inner, i, j] + L[i, k.outer * 4 + k.inner]") in text
    low, x = _lower_triangle(np.random.default_rng(4), 16)
    np.testing.assert_allclose(_run(s, [L, X, C], [low, x], (16, 16), target), low @ x, rtol=1e-4)


def test_parallel_rows_and_vectorized_columns_on_llvm():
    L, X, C = _trimm(64)
    s = ns.create_schedule(C)
    i, j = C.op.axis
    s[C].reorder(i, C.op.reduce_axis[0], j)
    s[C].parallel(i)
    s[C].vectorize(j)
    assert ("    for k in 0..i + 1:\n      vectorized for j in 0..64:\n"
            "        C[i, j] = C[i, j] + L[i, k] * X[k, j]\n") in nest(s, [L, X, C])
    low, x = _lower_triangle(np.random.default_rng(5), 64)
    np.testing.assert_allclose(_run(s, [L, X, C], [low, x], (64, 64), "llvm"), low @ x, rtol=1e-4)


@pytest.mark.parametrize("target", TARGETS)
def test_causal_argmax_with_a_where(target):
    def fcombine(x, y):
        keep = x[1] >= y[1]
        return ns.if_then_else(keep, x[0], y[0]), ns.if_then_else(keep, x[1], y[1])

    argmax = ns.comm_reducer(fcombine, lambda t0, t1: (ns.const(-1, t0), ns.min_value(t1)), name="argmax")
    X = ns.placeholder((10,), name="X")

    def causal(i):
        k = ns.reduce_axis((0, i + 1), "k")
        return argmax((k, X[k]), axis=k, where=X[k] < 0.7)

    Idx, V = ns.compute((10,), causal, name="T")
    s = ns.create_schedule([Idx, V])
    x = np.random.default_rng(6).random(10, dtype=np.float32)
    masked = np.where(x < 0.7, x, -np.inf)
    want = [int(np.argmax(masked[:i + 1])) if np.isfinite(masked[:i + 1]).any() else -1 for i in range(10)]
    module = ns.build(s, [X, Idx, V], target=target)
    index, value = np.zeros(10, np.int32), np.zeros(10, np.float32)
    module(x, index, value)
    np.testing.assert_array_equal(index, want)


def test_cuda_source_compiles_and_runs_in_the_emulation():
    L, X, C = _trimm(32)
    s = ns.create_schedule(C)
    i, j = C.op.axis
    s[C].bind(i, "blockIdx.x")
    s[C].bind(j, "threadIdx.x")
    module = ns.build(s, [L, X, C], target="cuda", name="trimm")
    assert "  for (int k = 0; k < i + 1; ++k) {\n" in module.source
    nvcc = find_nvcc()
    if nvcc is not None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "trimm.cu"
            path.write_text(module.source)
            done = subprocess.run([nvcc, "-arch=sm_90", "-c", str(path), "-o", str(Path(folder) / "t.o")],
                                  capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    if host_emulation.available():
        (host,) = host_emulation.compile_host([module])
        low, x = _lower_triangle(np.random.default_rng(7), 32)
        out = np.full((32, 32), np.nan, np.float32)
        host(low, x, out)
        np.testing.assert_allclose(out, low @ x, rtol=1e-4)


@pytest.mark.filterwarnings("ignore::schedules.parallel.InnerParallelWarning")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_schedules_of_ranged_reductions(data):
    check_random_schedule(data, max_steps=8, operators=RANGED)


@pytest.mark.parametrize("target", TARGETS)
def test_ranges_empty_at_some_outputs_give_the_identity(target):
    A = ns.placeholder((8,), name="A")
    B = ns.compute((8,), lambda i: ns.sum(A[(k := ns.reduce_axis((i, 4), "k"))], axis=k), name="B")
    C = ns.compute((8,), lambda i: ns.max(A[(k := ns.reduce_axis([0, i - 1], "k"))], axis=k), name="C")
    s = ns.create_schedule([B, C])
    text = nest(s, [A, B, C])
    assert "    for k in i..i + max(4 - i, 0):\n" in text and "    for k in 0..max(i - 1, 0):\n" in text
    a = np.random.default_rng(8).random(8, dtype=np.float32)
    b, c = np.full(8, np.nan, np.float32), np.full(8, np.nan, np.float32)
    ns.build(s, [A, B, C], target=target)(a, b, c)
    np.testing.assert_allclose(b, [a[i:4].sum() for i in range(8)], rtol=1e-6)
    # an empty range leaves TVM's start value of a float max: min_value(float32), finite
    np.testing.assert_array_equal(c, [a[:i - 1].max() if i > 1 else np.finfo(np.float32).min for i in range(8)])


def test_cross_thread_reduction_over_a_triangular_range_in_the_emulation():
    A = ns.placeholder((32, 32), name="A")
    B = ns.compute((32,), lambda i: ns.sum(A[i, (k := ns.reduce_axis((0, i + 1), "k"))], axis=k), name="B")
    s = ns.create_schedule(B)
    s[B].bind(B.op.axis[0], "blockIdx.x")
    s[B].bind(B.op.reduce_axis[0], "threadIdx.x")
    text = nest(s, [A, B])
    assert "      if k < i + 1:\n        B.acc[0] = B.acc[0] + A[i, k]\n" in text
    module = ns.build(s, [A, B], target="cuda", name="rowtri")
    nvcc = find_nvcc()
    if nvcc is not None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "rowtri.cu"
            path.write_text(module.source)
            done = subprocess.run([nvcc, "-arch=sm_90", "-c", str(path), "-o", str(Path(folder) / "t.o")],
                                  capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    if host_emulation.available():
        (host,) = host_emulation.compile_host([module])
        a = np.random.default_rng(9).random((32, 32), dtype=np.float32)
        out = np.full(32, np.nan, np.float32)
        host(a, out)
        np.testing.assert_allclose(out, np.tril(a).sum(1), rtol=1e-5)
