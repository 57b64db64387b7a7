"""benchmarks/train_step.py --processes: the spread across fresh processes (benchmarks/processes.py)."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import processes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _row(case, nestor_s, peer_s, **extra):
    return {"bench": "train_step", "case": case, "nestor_s": nestor_s, "peer": "torch 2.13.0", "peer_s": peer_s,
            "ratio": peer_s / nestor_s, "x_torch": nestor_s / peer_s, **extra}


def test_combine_gives_the_median_and_range_of_the_processes():
    rows = [_row("mlp", 1.30e-3, 1.0e-3, kernels_per_step=10), _row("mlp", 1.65e-3, 1.1e-3, kernels_per_step=11),
            _row("mlp", 1.32e-3, 1.2e-3, kernels_per_step=12)]
    row = processes.combine(rows)
    assert row["processes"] == 3
    assert row["nestor_s"] == 1.32e-3 and row["peer_s"] == 1.1e-3
    assert row["ratio"] == pytest.approx(1.1e-3 / 1.32e-3)
    assert row["per_process_nestor_s"] == [1.30e-3, 1.65e-3, 1.32e-3]
    assert (row["nestor_s_min"], row["nestor_s_max"]) == (1.30e-3, 1.65e-3)
    assert (row["peer_s_min"], row["peer_s_max"]) == (1.0e-3, 1.2e-3)
    assert row["x_torch"] == pytest.approx(1.3)  # the median of the per-process 1.3, 1.5 and 1.1
    assert (row["x_torch_min"], row["x_torch_max"]) == pytest.approx((1.1, 1.5))
    assert row["kernels_per_step"] == 12  # the other fields come from the median process (1.32 ms)
    assert row["bench"] == "train_step" and row["case"] == "mlp" and row["peer"] == "torch 2.13.0"


def test_combine_gathers_the_step_breakdown_per_process_where_every_row_has_it():
    rows = [_row("m", 1.0, 1.0, timed_step_ms=1.2, main_cpu_ms=0.9), _row("m", 2.0, 1.0, timed_step_ms=2.1,
                                                                         main_cpu_ms=1.0)]
    row = processes.combine(rows)
    assert row["per_process_main_cpu_ms"] == [0.9, 1.0] and row["timed_step_ms_max"] == 2.1
    assert "per_process_main_cpu_ms" not in processes.combine([_row("m", 1.0, 1.0), rows[0]])


def test_combine_of_an_even_count_takes_the_mean_of_the_middle_two_and_the_lower_process_fields():
    row = processes.combine([_row("c", 2.0, 1.0, k=1), _row("c", 4.0, 1.0, k=2)])
    assert row["nestor_s"] == 3.0 and row["k"] == 1
    with pytest.raises(ValueError, match="no rows; run at least one process"):
        processes.combine([])


def test_rows_are_grouped_by_case_in_first_seen_order():
    runs = [[_row("a", 1, 1), _row("b", 2, 2)], [_row("a", 3, 3), _row("b", 4, 4)]]
    grouped = processes.by_case(runs)
    assert list(grouped) == ["a", "b"]
    assert [r["nestor_s"] for r in grouped["b"]] == [2, 4]


def test_the_child_command_drops_processes_and_asks_for_json():
    command = processes.child_command("bench.py", ["--processes", "5", "--only", "mlp", "--processes=3", "--json",
                                                   "--repeat", "3"])
    assert command == [sys.executable, "bench.py", "--only", "mlp", "--repeat", "3", "--json"]


def test_a_failing_child_is_reported_with_its_status():
    with pytest.raises(SystemExit, match=r"process 1 of 2 .* failed with exit status 3:\n.*boom"):
        processes.run_processes([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"], 2)
    with pytest.raises(SystemExit, match="process 1 of 1 .* printed no JSON row"):
        processes.run_processes([sys.executable, "-c", "print('table')"], 1)


def test_bad_process_count_is_refused_at_the_call():
    done = subprocess.run([sys.executable, "benchmarks/train_step.py", "--processes", "0"], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 2
    assert "--processes 0: give at least 1" in done.stderr


@pytest.mark.slow
def test_two_processes_of_the_mlp_step_report_their_spread():
    pytest.importorskip("torch")
    done = subprocess.run([sys.executable, "benchmarks/train_step.py", "--only", "mlp", "--repeat", "1",
                           "--processes", "2", "--json"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ROOT}, timeout=900)
    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert row["bench"] == "train_step" and row["processes"] == 2 and len(row["per_process_nestor_s"]) == 2
    assert row["nestor_s_min"] <= row["nestor_s"] <= row["nestor_s_max"]
    assert row["ratio"] == pytest.approx(row["peer_s"] / row["nestor_s"])
