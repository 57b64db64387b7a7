"""``nestor tune``: progress, final table, database, plot; later builds pick the tuned config."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from nestor.cli import main
from schedules.autotune import Database, lookup_config, tune

needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="plots need matplotlib (pip install 'nestor[tune]')")


@needs_matplotlib
def test_tune_command_tunes_records_and_plots(tmp_path, capsys):
    db, png, latest = tmp_path / "t.db", tmp_path / "tune.png", tmp_path / "latest.png"
    code = main(["tune", "matmul", "--shape", "32,32,32", "--trials", "4", "--db", str(db), "--plot", str(png),
                 "--parallel", "1", "--tuner", "random"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "4/4" in err and "best" in err and "errors 0" in err
    assert "trials/min" in err and str(db) in err
    assert "rank" in out and "time (ms)" in out and "v1=" in out
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    with Database(db) as database:
        records = database.records("matmul_cpu", (32, 32, 32))
    assert len(records) == 4
    best = min((r for r in records if r.ok), key=lambda r: r.run_s)
    assert lookup_config("matmul", (32, 32, 32), db=db) == best.kwargs

    assert main(["tune", "--plot", str(latest), "--db", str(db)]) == 0
    assert latest.read_bytes()[:4] == b"\x89PNG" and f"plot: {latest}" in capsys.readouterr().out


def test_tune_command_errors_name_the_fix(tmp_path, capsys):
    assert main(["tune", "--db", str(tmp_path / "t.db")]) == 2
    assert "name an operator" in capsys.readouterr().err
    assert main(["tune", "matmul", "--db", str(tmp_path / "t.db")]) == 2
    assert "--shape" in capsys.readouterr().err
    assert main(["tune", "softmax", "--shape", "4,4", "--db", str(tmp_path / "t.db")]) == 2
    assert "unknown template 'softmax'" in capsys.readouterr().err
    assert main(["tune", "--plot", str(tmp_path / "x.png"), "--db", str(tmp_path / "empty.db")]) == 2
    assert "has no record yet" in capsys.readouterr().err


def test_plot_without_matplotlib_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from schedules.autotune.database import Record

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with Database(tmp_path / "t.db") as db:
        db.add(Record("matmul_cpu", (4, 4, 4), "float32", "llvm", "hw", {}, {}, {"v1": 1}, run_s=1.0))
    assert main(["tune", "--plot", str(tmp_path / "x.png"), "--db", str(tmp_path / "t.db")]) == 2
    assert "pip install 'nestor[tune]'" in capsys.readouterr().err


def test_time_budget_and_early_stopping(tmp_path):
    spent = tune("matmul", (32, 32, 32), trials=10, db=tmp_path / "t.db", time_budget=0, n_parallel=1)
    assert spent.stopped == "time budget" and spent.records == [] and spent.best is None
    early = tune("matmul", (32, 32, 32), trials=40, tuner="random", db=tmp_path / "t.db", early_stopping=1,
                 batch_size=2, n_parallel=1, repeat=2)
    assert early.stopped == "early stop" and len(early.records) < 40


@pytest.mark.skipif(importlib.util.find_spec("pycuda") is not None, reason="pycuda is installed")
def test_tuning_on_the_gpu_without_pycuda_is_one_clear_error(tmp_path, capsys):
    assert main(["tune", "matmul", "--target", "cuda", "--shape", "64,64,64", "--trials", "2",
                 "--db", str(tmp_path / "t.db")]) == 2
    assert "tuning matmul_gpu on the GPU needs pycuda" in capsys.readouterr().err
