"""The odd-size benchmark's rows: each variant checked exactly, then timed beside its even base
(no time asserted)."""

from __future__ import annotations

import pytest

from benchmarks import harness, matmul_edges


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    monkeypatch.setattr(harness, "WARM_UP", 0.01)


def test_variants_are_the_neighbours_a_prime_and_an_odd_size():
    assert matmul_edges.variants(784) == {"-1": 783, "+1": 785, "prime": 773, "+5": 789}
    assert matmul_edges.variants(128) == {"-1": 127, "+1": 129, "prime": 113, "+5": 133}


def test_tiles_name_the_cache_tiles():
    assert matmul_edges.knobs("plain") == {}
    assert matmul_edges.knobs("64x128") == dict(v1=8, v2=32, v3=4, b1=64, b2=128, b3=64)


@pytest.mark.parametrize("tiles", ["plain", "16x32"])
def test_a_sweep_gives_one_row_per_variant(tiles):
    report = harness.Report("matmul_edges", as_json=True)
    matmul_edges.sweep(report, (24, 32, 16), tiles, repeat=1, min_round=1e-4)
    assert [row["case"].split()[-1] for row in report.rows] == [
        "M-1=23", "M+1=25", "Mprime=19", "M+5=29", "N-1=31", "N+1=33", "Nprime=29", "N+5=37",
        "K-1=15", "K+1=17", "Kprime=13", "K+5=21"]
    for row in report.rows:
        assert row["gflops_ratio"] == pytest.approx(row["gflops"] / row["even_gflops"])


def test_the_transposed_a_row_times_the_copy_beside_it():
    report = harness.Report("matmul_edges", as_json=True)
    matmul_edges.transposed_a(report, 40, 32, 24, repeat=1, min_round=1e-4)
    (row,) = report.rows
    assert row["case"] == "40x32x24 transposed A" and row["peer"] == "copy + plain" and row["plain_alone_s"] > 0
