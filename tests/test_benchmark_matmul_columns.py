"""The column benchmark's builds and rows (benchmarks/matmul_columns.py): the guarded build is
the nest the padded one replaced, both checked against numpy before timing (no time asserted)."""

from __future__ import annotations

import numpy as np

from benchmarks import matmul_columns
from schedules.templates import matmul_whole


def test_the_guarded_build_leaves_the_padded_form_in_place():
    original = matmul_whole.pads_columns
    matmul_columns.build(7, 300, 16, padded=False, transpose_b=False)
    assert matmul_whole.pads_columns is original


def test_a_row_times_both_builds_and_numpy():
    fields = matmul_columns.row(7, 40, 16, False, 1, np.random.default_rng(0)).split()
    assert fields[0] == "7x" and fields[1] == "40x"  # then the times and the two ratios
    assert len(fields) == 9


def test_frontend_rows_time_the_kept_copy_the_per_call_packing_and_numpy():
    rng = np.random.default_rng(0)
    for linear in (False, True):
        fields = matmul_columns.frontend_row(2, 300, 16, linear, 1, rng).split()
        assert fields[0] == ("linear" if linear else "matmul") and fields[1:4] == ["2x", "16x", "300"]
        assert len(fields) == 11  # three medians, then two ratios with their quartiles
