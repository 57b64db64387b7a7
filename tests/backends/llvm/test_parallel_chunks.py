"""Light parallel loops are cut into :data:`CHUNKS_PER_THREAD` chunks a thread, taken from a
shared counter: every iteration runs exactly once whatever the extent, and the split is as
fine as the constant says."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from backends.llvm.parallel import CHUNKS_PER_THREAD, HEAVY_ITERATION, iteration_work


def _rows_plus_index(rows: int):
    A = ns.placeholder((rows, 3), name="A")
    B = ns.compute((rows, 3), lambda i, j: A[i, j] + i.astype("float32") * 4.0 + j.astype("float32"), name="B")
    s = ns.create_schedule(B)
    s[B].parallel(B.op.axis[0])
    return s, [A, B]


@pytest.mark.parametrize("rows", [1, 2, 31, 32, 33, 1000, 4097])
def test_every_iteration_runs_once(rows):
    s, args = _rows_plus_index(rows)
    module = ns.build(s, args, target="llvm")
    a = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
    b = np.full_like(a, np.nan)
    module(a, b)
    expected = a + np.arange(rows, dtype=np.float32)[:, None] * 4 + np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(b, expected)


def test_light_loops_take_a_share_of_chunks_per_thread():
    s, args = _rows_plus_index(1000)
    assert iteration_work(ns.lower(s, args).body) < HEAVY_ITERATION
    source = ns.build(s, args, target="llvm").source
    # the threads times the chunks a thread, then the extent's share of it, rounded up
    assert re.search(rf"mul i64 %\"?[.\w]+\"?, {CHUNKS_PER_THREAD}\n", source)
    assert CHUNKS_PER_THREAD == 16


def test_a_parallel_product_with_a_light_row_loop_is_exact(monkeypatch, tmp_path):
    """65536 x 64 x 64's form (rows outermost: few columns, a small B), on fewer rows."""
    from schedules.templates import matmul_cpu
    from schedules.templates.matmul_threads import rows_outermost

    monkeypatch.setenv("NESTOR_TUNING_DB", str(tmp_path / "empty.db"))
    m, n, k = 4104, 64, 64
    s, args = matmul_cpu(m, n, k, transpose_b=False, parallel=True)
    assert rows_outermost(m, n, k, 8, 32)
    rng = np.random.default_rng(5)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.full((m, n), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
