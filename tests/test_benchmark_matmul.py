"""The matmul benchmark's rows: results checked first, each side's spread, the round-by-round
ratio's quartiles, and with ``--serial`` the one-thread build beside them (no time asserted)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

import nestor as ns
from benchmarks import harness, matmul_cpu, roofline
from schedules.templates import matmul_cpu as template


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(harness, "SETTLE", 0.0)
    monkeypatch.setattr(harness, "WARM_UP", 0.01)
    monkeypatch.setattr(roofline, "fields", lambda *args: {"roofline": 0.5, "peer_roofline": 0.5})


def _product(m, n, k, parallel):
    return ns.build(*template(m, n, k, transpose_b=False, parallel=parallel), target="llvm")


@pytest.mark.parametrize("cpu_time", [False, True])
def test_a_row_gives_both_spreads_the_ratio_quartiles_and_the_serial_build(quick, cpu_time):
    m, n, k = 40, 48, 24
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    report = harness.Report("matmul_cpu", as_json=True)
    args = argparse.Namespace(repeat=2, cpu_time=cpu_time)
    matmul_cpu._measure(report, "case", _product(m, n, k, True), a, b, np.empty((m, n), np.float32), b, args,
                        serial=_product(m, n, k, False))
    (row,) = report.rows
    assert row["peer"] != matmul_cpu.SERIAL and not any(key.startswith("nestor 1") for key in row)
    assert row["ratio_q1"] <= row["ratio_q3"] and row["rounds"] == 2 * harness.SHORT_ROUNDS
    assert row["nestor_spread"] >= 0 and row["peer_spread"] >= 0
    assert row["speedup"] == pytest.approx(row["serial_s"] / row["nestor_s"])
    assert ("nestor_busy" in row) == cpu_time


def test_a_wrong_result_stops_the_benchmark(quick):
    m, n, k = 16, 32, 8
    a, b = np.ones((m, k), np.float32), np.ones((k, n), np.float32)
    args = argparse.Namespace(repeat=1, cpu_time=False)
    wrong = _product(m, n, k, False)
    with pytest.raises(SystemExit, match=r"matmul case nestor 1 thread: wrong result"):
        matmul_cpu._measure(harness.Report("matmul_cpu", as_json=True), "case", _product(m, n, k, True), a, b,
                            np.empty((m, n), np.float32), b, args, serial=lambda a_, b_, c: wrong(a_, b_ * 2, c))


@pytest.mark.parametrize("form", ["M", "NK"])
def test_a_symbolic_row_times_the_symbolic_build_against_the_static_one(quick, form):
    m, n, k = 40, 48, 24
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    report = harness.Report("matmul_cpu", as_json=True)
    args = argparse.Namespace(repeat=2, cpu_time=False, no_symbolic=False, symbolic=form)
    matmul_cpu._symbolic(report, args, _product(m, n, k, True), a, b, np.empty((m, n), np.float32), "case", False)
    (row,) = report.rows
    assert row["case"] == f"case symbolic {form}" and row["peer"] == f"nestor static {form}"
    assert row["ratio_q1"] <= row["ratio_q3"] and row["nestor_spread"] >= 0


def test_a_symbolic_build_that_differs_stops_the_benchmark(quick):
    m, n, k = 16, 32, 8
    a, b = np.ones((m, k), np.float32), np.ones((k, n), np.float32)
    args = argparse.Namespace(repeat=1, cpu_time=False, no_symbolic=False, symbolic="M")
    static = _product(m, n, k, False)
    with pytest.raises(SystemExit, match=r"symbolic matmul case \(M\): result differs from the static kernel"):
        matmul_cpu._symbolic(harness.Report("matmul_cpu", as_json=True), args,
                             lambda a_, b_, c: static(a_, b_ * 2, c), a, b, np.empty((m, n), np.float32), "case",
                             False)
