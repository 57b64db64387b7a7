"""``nestor tune show``: a table of every task of the database per machine, and a convergence plot."""

from __future__ import annotations

import importlib.util

import pytest

from nestor.cli import main
from schedules.autotune import Database, Record
from schedules.autotune.spaces import CONV2D_CPU, MATMUL_CPU

HW = "llvm:test:2t:00000000"


def _fill(path) -> None:
    matmul, conv = MATMUL_CPU.task_options(), CONV2D_CPU.task_options()
    rows = [
        ("matmul_cpu", (64, 64, 64), HW, matmul, [2e-3, None, 1e-3]),
        ("matmul_cpu", (64, 64, 64), "llvm:other:4t:11111111", matmul, [4e-3]),
        ("conv2d_cpu", (1, 8, 16, 16, 16, 3), HW, conv, [5e-4, 7e-4]),
        ("matmul_cpu_bench", (128, 128, 128), HW, matmul, [3e-3]),
        ("matmul_cpu", (8, 8, 8), HW, matmul, [None, None]),
    ]
    with Database(path) as db:
        for op, shapes, hardware, options, times in rows:
            for run_s in times:
                db.add(Record(op, shapes, "float32", "llvm", hardware, options, {}, {"v1": 4}, run_s=run_s,
                              error=None if run_s else "wrong result", tuner="random", session="s1"))


GOLDEN = """\
task                          dtype    target  trials  errors   best (ms)   GFLOP/s  hardware
conv2d_cpu 1x8x16x16x16x3     float32  llvm         2       0       0.500       1.2  llvm:test:2t:00000000
matmul_cpu 8x8x8              float32  llvm         2       2           -         -  llvm:test:2t:00000000
matmul_cpu 64x64x64           float32  llvm         1       0       4.000       0.1  llvm:other:4t:11111111
matmul_cpu 64x64x64           float32  llvm         3       1       1.000       0.5  llvm:test:2t:00000000
matmul_cpu_bench 128x128x128  float32  llvm         1       0       3.000         -  llvm:test:2t:00000000
"""


def test_show_tabulates_every_task_per_machine(tmp_path, capsys):
    _fill(tmp_path / "t.db")
    assert main(["tune", "show", "--db", str(tmp_path / "t.db")]) == 0
    assert capsys.readouterr().out == GOLDEN


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                    reason="plots need matplotlib (pip install 'nestor[tune]')")
def test_show_plots_the_convergence_of_every_task(tmp_path, capsys):
    _fill(tmp_path / "t.db")
    png = tmp_path / "plots" / "convergence.png"
    assert main(["tune", "show", "--db", str(tmp_path / "t.db"), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(GOLDEN) and f"plot: {png}" in out
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in png.parent.iterdir()] == ["convergence.png"]  # written whole, no temporary left


def test_show_on_an_empty_database_names_the_fix(tmp_path, capsys):
    assert main(["tune", "show", "--db", str(tmp_path / "empty.db")]) == 2
    err = capsys.readouterr().err
    assert "has no record yet" in err and "nestor tune matmul" in err and len(err.strip().splitlines()) == 1
