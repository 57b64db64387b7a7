"""Map kernels (each buffer only read or only written, no temporaries, one function): their
arguments are marked readonly / writeonly, and a vectorized one gets the short pass list
instead of LLVM's module pipeline, with the same results."""

from __future__ import annotations

import llvmlite.binding as llvm
import numpy as np
import pytest

import nestor as ns
from backends.llvm import compile as llvm_compile
from backends.llvm import map_kernels, module


def _map(n: int = 100, lanes: int = 16, parallel: bool = False):
    """``B[i] = A[i] * 2 + C[i]``, vectorized (and its outer loop parallel when asked)."""
    A, C = ns.placeholder((n,), name="A"), ns.placeholder((n,), name="C")
    B = ns.compute((n,), lambda i: A[i] * 2.0 + C[i], name="B")
    s = ns.create_schedule(B)
    outer, inner = s[B].split(B.op.axis[0], factor=lanes)
    s[B].vectorize(inner)
    if parallel:
        s[B].parallel(outer)
    return s, [A, C, B]


def _row_sums(n: int = 8, m: int = 48):
    """``S[j] = sum over i of A[i, j]``, vectorized over j: S is read and written."""
    A = ns.placeholder((n, m), name="A")
    i = ns.reduce_axis((0, n), name="i")
    S = ns.compute((m,), lambda j: ns.sum(A[i, j], axis=i), name="S")
    s = ns.create_schedule(S)
    s[S].reorder(i, S.op.axis[0])
    s[S].vectorize(S.op.axis[0])
    return s, [A, S]


def _staged(n: int = 64):
    """A temporary between two stages: no map kernel."""
    A = ns.placeholder((n,), name="A")
    T = ns.compute((n,), lambda i: A[i] + 1.0, name="T")
    B = ns.compute((n,), lambda i: T[i] * T[i], name="B")
    s = ns.create_schedule(B)
    s[T].compute_at(s[B], B.op.axis[0])
    s[B].vectorize(B.op.axis[0])
    return s, [A, B]


def _parsed(s, args, name: str) -> llvm.ModuleRef:
    func = ns.lower(s, args, name=name)
    return llvm.parse_assembly(module.generate_ir(func, module._symbol(name)))


def _attributes(parsed: llvm.ModuleRef, name: str) -> list[set[bytes]]:
    function = parsed.get_function(module._symbol(name))
    return [set(arg.attributes) for arg in function.arguments if arg.type.is_pointer]


def test_a_map_kernel_marks_what_it_reads_and_what_it_writes():
    parsed = _parsed(*_map(), "mapped")
    assert _attributes(parsed, "mapped") == [{b"noalias", b"readonly"}] * 2 + [{b"noalias", b"writeonly"}]
    assert map_kernels.is_map(parsed)


@pytest.mark.parametrize(("make", "name"), [(_row_sums, "row_sums"), (_staged, "staged")])
def test_a_kernel_that_reads_what_it_writes_or_keeps_temporaries_is_no_map(make, name):
    parsed = _parsed(*make(), name)
    assert all(b"readonly" not in a and b"writeonly" not in a for a in _attributes(parsed, name))
    assert not map_kernels.is_map(parsed)


def test_a_parallel_map_kernel_keeps_the_module_pipeline():
    parsed = _parsed(*_map(4096, parallel=True), "parallel_map")
    assert _attributes(parsed, "parallel_map")[0] == {b"noalias", b"readonly"}  # still true facts
    assert not map_kernels.is_map(parsed)  # its loop body is a function of its own


@pytest.fixture
def recorded(monkeypatch):
    """The optimiser each compiled kernel went through, by kernel."""
    seen: list[str] = []
    monkeypatch.setenv("NESTOR_CACHE_DIR", "off")
    monkeypatch.setattr(module, "_compiled", {})
    real_map, real_pipeline = map_kernels.optimize_map, llvm_compile._run_pipeline

    def optimize_map(*args):
        seen.append("map passes")
        real_map(*args)

    def run_pipeline(*args, **kwargs):
        seen.append("module pipeline")
        real_pipeline(*args, **kwargs)

    monkeypatch.setattr(map_kernels, "optimize_map", optimize_map)
    monkeypatch.setattr(llvm_compile, "_run_pipeline", run_pipeline)
    return seen


@pytest.mark.parametrize("n", [100, 64, 7])
def test_map_kernels_get_the_short_pass_list_and_match_numpy(recorded, monkeypatch, rng, n):
    a, c = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    b, pipelined = np.full(n, np.nan, np.float32), np.full(n, np.nan, np.float32)
    ns.build(*_map(n), target="llvm", name=f"map{n}")(a, c, b)
    np.testing.assert_allclose(b, a * 2.0 + c, rtol=1e-6, atol=1e-6)
    monkeypatch.setattr(map_kernels, "is_map", lambda parsed: False)
    ns.build(*_map(n), target="llvm", name=f"pipelined{n}")(a, c, pipelined)
    np.testing.assert_array_equal(b, pipelined)  # the same code, to the bit
    assert recorded == ["map passes", "module pipeline"]


def test_other_vectorized_kernels_get_the_module_pipeline(recorded, rng):
    a = rng.standard_normal((8, 48), dtype=np.float32)
    sums = np.full(48, np.nan, np.float32)
    ns.build(*_row_sums(), target="llvm", name="row_sums")(a, sums)
    np.testing.assert_allclose(sums, a.sum(axis=0), rtol=1e-5, atol=1e-5)
    assert recorded == ["module pipeline"]


def test_map_passes_at_level_zero_are_none():
    parsed = _parsed(*_map(), "level0")
    before = str(parsed)
    map_kernels.optimize_map(parsed, 0, llvm_compile.new_target_machine())
    assert str(parsed) == before


def test_the_frontend_elementwise_kernel_is_a_map_kernel(recorded, rng):
    import frontend
    from frontend import dispatch

    dispatch.cache.clear()
    x, y = rng.standard_normal((33, 40), dtype=np.float32), rng.standard_normal((33, 40), dtype=np.float32)
    a, b = frontend.Tensor(x), frontend.Tensor(y)
    np.testing.assert_allclose((a * b + a).numpy(), x * y + x, rtol=1e-5, atol=1e-6)  # fused multiply-add
    assert recorded == ["map passes"]
