"""The CPU matmul template starts threads by default only for products large enough to pay
for a thread team; ``parallel=`` and tuned configs decide otherwise."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from schedules.templates import matmul_cpu
from schedules.templates.matmul_threads import SERIAL_FLOPS, threads_pay

from .helpers import nest


def _threads(s, args) -> bool:
    return "parallel for" in nest(s, args)


def test_small_products_run_on_one_thread_by_default(monkeypatch, tmp_path):
    monkeypatch.setenv("NESTOR_TUNING_DB", str(tmp_path / "empty.db"))
    assert not _threads(*matmul_cpu(192, 192, 192))
    assert not _threads(*matmul_cpu(37, 45, 23, v1=4, v2=16, v3=4, b1=8, b2=16, b3=32))  # padded
    assert _threads(*matmul_cpu(192, 192, 192, parallel=True))
    assert _threads(*matmul_cpu(256, 256, 256))
    assert _threads(*matmul_cpu(512, 512, 512))
    assert not _threads(*matmul_cpu(512, 512, 512, parallel=False))


def test_threshold():
    assert not threads_pay(192, 192, 192) and threads_pay(256, 256, 256)
    assert not threads_pay(255, 256, 256)
    assert threads_pay(SERIAL_FLOPS // 2, 1, 1) and not threads_pay(SERIAL_FLOPS // 2 - 1, 1, 1)
    assert threads_pay(ns.size_var("M"), 8, 8)  # unknown: as before


def test_symbolic_rows_keep_threads():
    assert _threads(*matmul_cpu(ns.size_var("M"), 64, 64))


def test_a_tuned_small_product_keeps_its_threads(monkeypatch, tmp_path):
    from schedules.autotune import Database

    from .autotune.test_tuned_templates import _record

    path = tmp_path / "tuning.db"
    monkeypatch.setenv("NESTOR_TUNING_DB", str(path))
    tuned = {"v1": 4, "v2": 16, "v3": 2, "b1": 16, "b2": 32, "b3": 32, "pack_b": True}
    with Database(path) as db:
        db.add(_record((64, 64, 64), tuned))
    assert _threads(*matmul_cpu(64, 64, 64))
    assert _threads(*matmul_cpu(64, 64, 64, **tuned))
    assert not _threads(*matmul_cpu(64, 64, 96))


@pytest.mark.parametrize("transpose_b", [True, False])
def test_one_thread_results(transpose_b):
    m, n, k = 96, 80, 72
    s, args = matmul_cpu(m, n, k, transpose_b=transpose_b)
    rng = np.random.default_rng(3)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if transpose_b else (k, n), dtype=np.float32)
    c = np.full((m, n), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_allclose(c, a @ (b.T if transpose_b else b), rtol=1e-4, atol=1e-4)


def test_register_tile_pads_odd_sizes_least():
    from schedules.templates.matmul_threads import register_tile

    assert register_tile(777, 1025, 2) == (12, 16)  # 65 tiles of 16 columns: 33 vs 32
    assert register_tile(1000, 1000, 2) == (8, 32)  # 32 tiles: balanced
    assert register_tile(1000, 1000, 1) == (6, 48)  # 1008 columns, not 1024
    assert register_tile(1024, 1024, 2) == (8, 32)


def test_a_plain_call_takes_the_least_padding_tile(monkeypatch, tmp_path):
    monkeypatch.setenv("NESTOR_TUNING_DB", str(tmp_path / "empty.db"))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    text = nest(*matmul_cpu(777, 1025, 513))  # 780 x 1040 padded; k in 9 chunks of 57, steps of 3
    assert "A.packed" not in text and "parallel for j.outer in 0..65:" in text
    assert "allocate C.padded: float32[12, 16]" in text and "for k.outer in 0..9:" in text
    assert "unrolled for k.inner.inner in 0..3:" in text and "A[min(i.outer * 12 + i.inner.inner, 776), " in text
    text = nest(*matmul_cpu(777, 1025, 513, v1=8))  # 784 x 1056 padded
    assert "allocate A.packed: float32[98, 520, 8]" in text and "parallel for j.outer in 0..33:" in text
    m, n, k = 300, 321, 350  # 67 MFLOP: threads and a 12 x 16 tile
    s, args = matmul_cpu(m, n, k, transpose_b=False)
    text = nest(s, args)  # 300 x 336 padded
    assert "parallel for j.outer in 0..21:" in text and "allocate C.padded: float32[12, 16]" in text
    rng = np.random.default_rng(4)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.full((m, n), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-3)


def test_rows_outermost_only_for_few_column_tiles_of_a_small_b():
    from schedules.templates.matmul_threads import rows_outermost

    assert rows_outermost(65536, 64, 64, 8, 32)  # 2 column tiles, 16 KiB of B
    assert not rows_outermost(4096, 64, 4096, 8, 32)  # 1 MiB of B: columns outermost
    assert not rows_outermost(1000, 1000, 1000, 8, 32)  # 32 column tiles
    assert not rows_outermost(256, 64, 64, 8, 32)  # 32 row tiles
    assert not rows_outermost(ns.size_var("M"), 64, 64, 8, 32)


def _tall_skinny_nest(s, args) -> list[str]:
    return [line.strip() for line in nest(s, args).splitlines() if line.strip().startswith(("parallel for", "for"))]


def test_a_tall_skinny_product_splits_its_rows_over_the_threads(monkeypatch, tmp_path):
    monkeypatch.setenv("NESTOR_TUNING_DB", str(tmp_path / "empty.db"))
    assert _tall_skinny_nest(*matmul_cpu(65536, 64, 64, transpose_b=False)) == [
        "for jo in 0..2:", "for kk in 0..64:",  # B packed, on one thread (16 KiB)
        "parallel for i.outer in 0..8192:", "for j.outer in 0..2:", "for k.inner.outer in 0..16:"]
    padded = _tall_skinny_nest(*matmul_cpu(4099, 70, 33, parallel=True))  # 3 column tiles, padded
    # B packed on one thread; each thread packs the rows of A it computes, in the product's region
    assert padded[:5] == ["for jo in 0..3:", "for kk in 0..36:", "parallel for i.outer in 0..513:",
                          "for kk in 0..36:", "for j.outer in 0..3:"]


@pytest.mark.parametrize(("m", "n", "k", "transpose_b", "parallel"), [
    (4096, 64, 64, False, True), (4096, 64, 64, True, False), (4099, 70, 33, True, True),
    (1031, 96, 200, False, False), (3 * 512, 128, 64, False, True)])
def test_rows_outermost_results(m, n, k, transpose_b, parallel):
    s, args = matmul_cpu(m, n, k, transpose_b=transpose_b, parallel=parallel)
    assert ("parallel for i.outer" in nest(s, args)) == parallel
    rng = np.random.default_rng(5)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if transpose_b else (k, n), dtype=np.float32)
    c = np.full((m, n), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_allclose(c, a @ (b.T if transpose_b else b), rtol=1e-4, atol=1e-3)


def test_threads_pack_their_own_panels_of_b_in_the_products_region(monkeypatch, tmp_path):
    """One parallel region a call: each column tile's panel of B is packed inside the parallel
    loop over column tiles, by the thread that computes the tile."""
    monkeypatch.setenv("NESTOR_TUNING_DB", str(tmp_path / "empty.db"))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    text = nest(*matmul_cpu(256, 256, 256))
    assert text.count("parallel for") == 1
    panel = "parallel for j.outer in 0..8:\n    allocate B.packed: float32[1, 256, 32] in global\n    for kk in 0..256:"
    assert panel in text
    serial = nest(*matmul_cpu(256, 256, 256, parallel=False))
    assert "allocate B.packed: float32[8, 256, 32] in global\n  for jo in 0..8:" in serial


@pytest.mark.parametrize(("m", "n", "k", "transpose_b"), [
    (64, 96, 600, False),  # a 75 KiB panel: heap memory of each thread, not the stack
    (64, 96, 600, True), (40, 100, 70, True), (33, 70, 513, False)])
def test_panels_packed_by_each_thread_give_the_product(m, n, k, transpose_b):
    s, args = matmul_cpu(m, n, k, transpose_b=transpose_b, parallel=True)
    assert "parallel for j.outer" in nest(s, args)
    rng = np.random.default_rng(6)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if transpose_b else (k, n), dtype=np.float32)
    c = np.full((m, n), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_allclose(c, a @ (b.T if transpose_b else b), rtol=1e-4, atol=1e-3)


def test_reduction_steps_divide_the_reduction_where_they_can():
    from schedules.templates.matmul_threads import reduction_steps

    assert reduction_steps(513, 64) == (3, 57)  # 3^3 x 19: no padding of k, A read as stored
    assert reduction_steps(1000, 64) == (4, 40)
    assert reduction_steps(1024, 64) == (4, 64)
    assert reduction_steps(1026, 64) == (3, 57)  # 2 x 3^3 x 19
    assert reduction_steps(98, 64) == (2, 98)  # 2 x 7^2
    assert reduction_steps(1021, 64) == (4, 64)  # prime: padded to 1024 in steps of 4
    assert reduction_steps(700, None) == (4, None)  # the whole reduction in registers


def test_a_plain_call_with_an_odd_reduction_reads_a_as_stored(monkeypatch, tmp_path):
    monkeypatch.setenv("NESTOR_TUNING_DB", str(tmp_path / "empty.db"))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    m, n, k = 301, 321, 351  # 3^3 x 13: chunks of 39 in steps of 3; rows padded, read clamped
    s, args = matmul_cpu(m, n, k, transpose_b=False)
    text = nest(s, args)
    assert "A.packed" not in text and "unrolled for k.inner.inner in 0..3:" in text and "A[min(" in text
    assert text.count("parallel for") == 1
    rng = np.random.default_rng(7)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.full((m, n), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-3)
