"""Heap temporaries and parallel loops: the statements using heap temporaries run in a function
with ``noalias`` buffers, and heavy parallel iterations are handed out one at a time."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from backends.llvm.parallel import HEAVY_ITERATION, iteration_work
from schedules.templates import matmul_cpu


def _definitions(source: str) -> list[str]:
    return [line for line in source.splitlines() if line.startswith("define")]


@pytest.mark.parametrize("parallel", [False, True])
def test_padded_product_with_heap_temporaries(parallel):
    """A.packed (200 x 104 floats) and B.packed exceed the stack limit: workspaces; C.padded is
    one tile on the stack, and on threads, each thread packs its columns' panels of B (32 x 128
    floats) on its stack."""
    m, n, k = 200, 150, 101
    s, args = matmul_cpu(m, n, k, v1=8, v2=32, v3=4, b1=8, b2=32, b3=64, transpose_b=False, parallel=parallel)
    module = ns.build(s, args, target="llvm")
    bodies = [line for line in _definitions(module.source) if ".body." in line]
    assert len(bodies) == 1 and "alwaysinline" in bodies[0]
    # A, B, C and the heap temporaries
    assert bodies[0].count("noalias") == (4 if parallel else 5)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.full((m, n), np.nan, np.float32)
    module(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


def test_symbolic_temporaries_get_noalias_bodies_too():
    """A heap temporary of symbolic size (``aligned_alloc`` per call) and a size variable
    passed through to the body."""
    m = ns.size_var("M")
    s, args = matmul_cpu(m, 64, 300, v1=8, v2=32, v3=4, b1=8, b2=32, b3=64, parallel=False)
    module = ns.build(s, args, target="llvm")
    (body,) = [line for line in _definitions(module.source) if ".body." in line]
    assert "i64" in body  # the row count M
    rng = np.random.default_rng(2)
    for rows in (5, 70):
        a = rng.standard_normal((rows, 300), dtype=np.float32)
        b = rng.standard_normal((64, 300), dtype=np.float32)
        c = np.full((rows, 64), np.nan, np.float32)
        module(a, b, c)
        np.testing.assert_allclose(c, a @ b.T, rtol=1e-4, atol=1e-4)


def test_stack_temporaries_stay_in_place():
    s, args = matmul_cpu(37, 45, 23, v1=4, v2=16, v3=4, b1=8, b2=16, b3=32, parallel=False)
    assert not [line for line in _definitions(ns.build(s, args, target="llvm").source) if ".body." in line]


def _chunk_grain(source: str) -> str:
    """How the thread body of the (first) parallel loop steps its shared counter."""
    return re.search(r"atomicrmw add i64\* %\"?[.\w]+\"?, i64 (%?\"?[.\w]+\"?) monotonic", source).group(1)


def test_heavy_parallel_iterations_are_taken_one_at_a_time():
    heavy = ns.build(*matmul_cpu(64, 64, 64, v1=8, v2=32, v3=4, b1=8, b2=32, b3=64, transpose_b=False,
                                 pack_b=False, parallel=True), target="llvm")
    assert _chunk_grain(heavy.source) == "1"
    A = ns.placeholder((64, 64), name="A")
    B = ns.compute((64, 64), lambda i, j: A[i, j] * 2.0, name="B")
    s = ns.create_schedule(B)
    s[B].parallel(B.op.axis[0])
    light = ns.build(s, [A, B], target="llvm")
    assert _chunk_grain(light.source).startswith("%")  # a share of the extent, computed at run time
    a = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    b = np.empty_like(a)
    light(a, b)
    np.testing.assert_array_equal(b, a * 2.0)


def test_iteration_work_counts_static_loops():
    A = ns.placeholder((8, 300), name="A")
    B = ns.compute((8, 300), lambda i, j: A[i, j] + 1.0, name="B")
    s = ns.create_schedule(B)
    func = ns.lower(s, [A, B])
    assert iteration_work(func.body) == 8 * 300
    assert iteration_work(func.body) < HEAVY_ITERATION
