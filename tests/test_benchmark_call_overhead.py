"""The per-call overhead benchmark (benchmarks/call_overhead.py): every case is checked against
numpy before it is timed, and a process reports both sides of each case (no time asserted)."""

from __future__ import annotations

import numpy as np

from benchmarks import call_overhead


def test_every_case_agrees_with_numpy_in_both_modes():
    found = call_overhead.cases()  # which compares each case with numpy once
    assert sorted(found) == sorted(f"{op}/{mode}" for op in ("matmul", "add", "relu", "sum")
                                   for mode in ("eager", "lazy"))
    for name, (ours, peer, lazy) in found.items():
        assert lazy == name.endswith("/lazy")
        assert ours().shape == np.asarray(peer()).shape


def test_a_process_reports_ours_and_numpy_for_each_case():
    rows = call_overhead.one_process(30)
    assert len(rows) == 8
    for row in rows.values():
        assert set(row) == {"ours_us", "numpy_us"} and row["ours_us"] > 0 and row["numpy_us"] > 0
