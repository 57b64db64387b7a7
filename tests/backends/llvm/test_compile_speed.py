"""What keeps cold builds fast without changing results: double-width vector values, constant
broadcasts as vector constants, LLVM's SLP vectorizer off for explicitly vectorized kernels,
and the CPU matmul template's unguarded packing when its blocks divide the matrix."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from backends.llvm import compile as llvm_compile
from backends.llvm.module import explicitly_vectorized
from backends.llvm.target import host_target
from schedules import templates


def _scaled(n: int, lanes: int, factor: float = 2.0):
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] * factor + 1.0, name="B")
    s = ns.create_schedule(B)
    outer, inner = s[B].split(B.op.axis[0], factor=lanes)
    s[B].vectorize(inner)
    return s, [A, B]


@pytest.mark.parametrize("n, lanes", [(96, 32), (100, 48), (37, 64), (64, 2)])
def test_wide_vector_loops_match_numpy(n, lanes):
    s, args = _scaled(n, lanes)
    a = np.linspace(-3, 3, n, dtype=np.float32)
    b = np.full(n, np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, b)
    np.testing.assert_allclose(b, a * 2.0 + 1.0, rtol=1e-6)


def test_a_vector_value_spans_two_registers():
    if host_target().vector_bytes != 64:
        pytest.skip("the host has no AVX-512")
    source = ns.build(*_scaled(96, 32), target="llvm").source
    assert "<32 x float>" in source and "<16 x float>" not in source


def _times(factor: float):
    A = ns.placeholder((16,), name="A")
    B = ns.compute((16,), lambda i: A[i] * factor, name="B")
    s = ns.create_schedule(B)
    s[B].vectorize(B.op.axis[0])
    return ns.build(s, [A, B], target="llvm")


def test_constant_broadcasts_keep_the_sign_of_zero():
    a = np.array([1.0, -2.0] * 8, np.float32)
    for factor in (0.0, -0.0, 0.0):
        b = np.empty_like(a)
        _times(factor)(a, b)
        np.testing.assert_array_equal(np.signbit(b), np.signbit(a * np.float32(factor)))


def test_slp_vectorizer_runs_only_where_the_schedule_did_not_vectorize(monkeypatch):
    seen = []

    def recording(name, real):
        def optimize(module, level, machine):
            seen.append(name)
            real(module, level, machine)
        return optimize

    monkeypatch.setenv("NESTOR_CACHE_DIR", "off")
    monkeypatch.setattr(llvm_compile, "optimize", recording("all llvm vectorizers", llvm_compile.optimize))
    monkeypatch.setattr(llvm_compile, "optimize_vectorized",
                        recording("schedule's vectors", llvm_compile.optimize_vectorized))
    vector_s, vector_args = _scaled(64, 16)
    A = ns.placeholder((64,), name="A")
    B = ns.compute((64,), lambda i: A[i] * 3.0, name="B")
    plain_s = ns.create_schedule(B)
    assert explicitly_vectorized(ns.lower(vector_s, vector_args))
    assert not explicitly_vectorized(ns.lower(plain_s, [A, B]))
    a = np.arange(64, dtype=np.float32)
    for s, args, expected in ((vector_s, vector_args, a * 2.0 + 1.0), (plain_s, [A, B], a * 3.0)):
        out = np.full_like(a, np.nan)
        ns.build(s, args, target="llvm", name=f"k{len(seen)}")(a, out)
        np.testing.assert_array_equal(out, expected)
    assert seen == ["schedule's vectors", "all llvm vectorizers"]


@pytest.mark.parametrize("n, guarded", [(64, False), (45, True)])
def test_matmul_packing_is_guarded_only_past_a_partial_block(n, guarded):
    s, args = templates.matmul_cpu(24, n, 16, v1=4, v2=16, v3=4, b1=8, b2=16, pack_a=True)
    text = str(ns.lower(s, args))
    assert ("if_then_else(jo * 16 + ji < 45" in text) is guarded
    assert "if_then_else(io * 4 + ii < 24" not in text  # 24 rows: whole blocks of 4
    rng = np.random.default_rng(0)
    a = rng.standard_normal((24, 16), dtype=np.float32)
    b = rng.standard_normal((n, 16), dtype=np.float32)
    c = np.full((24, n), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_allclose(c, a @ b.T, rtol=1e-4, atol=1e-4)
