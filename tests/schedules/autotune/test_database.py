"""The tuning database: records, best and nearby lookups, concurrent writers, default location."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from schedules.autotune import (
    Database,
    Record,
    TuningError,
    apply_best,
    default_path,
    hardware_fingerprint,
    lookup_config,
)
from schedules.autotune.spaces import TEMPLATES

HARDWARE = hardware_fingerprint("llvm")
OPTIONS = TEMPLATES["matmul_cpu"].task_options()


def record(shapes=(64, 64, 64), run_s=1.0, error=None, v1=4, **changes) -> Record:
    values = dict(op="matmul_cpu", shapes=shapes, dtype="float32", target="llvm", hardware=HARDWARE,
                  options=OPTIONS, knobs={"v1": v1}, kwargs={"v1": v1, "v2": 16, "v3": 4, "b1": 16, "b2": 32,
                                                             "pack_b": True},
                  trace="[]", compile_s=0.1, run_s=None if error else run_s, noise=0.01, error=error,
                  tuner="random", session="s1")
    values.update(changes)
    return Record(**values)


def knobs_of(kwargs: dict, shapes=(64, 64, 64)) -> dict:
    """The knobs of the matmul_cpu config with these keyword arguments, as the tuner stores them:
    lookups use only records that are valid points of the task's space."""
    spec = TEMPLATES["matmul_cpu"]
    config = next(c for c in spec.space(shapes).points() if spec.to_kwargs(c) == kwargs)
    return {name: list(value) if isinstance(value, tuple) else value for name, value in config.items()}


def test_records_round_trip(tmp_path):
    with Database(tmp_path / "t.db") as db:
        stored = record(run_s=0.5)
        db.add(stored)
        [back] = db.records("matmul_cpu", (64, 64, 64), "float32", "llvm", OPTIONS, HARDWARE)
    assert back.kwargs == stored.kwargs and back.shapes == (64, 64, 64) and back.run_s == 0.5
    assert back.id is not None and back.ok


def test_best_is_the_fastest_correct_record_of_exactly_the_task(tmp_path):
    with Database(tmp_path / "t.db") as db:
        db.add(record(run_s=3.0, v1=1))
        db.add(record(run_s=2.0, v1=2))
        db.add(record(error="wrong result: off by 1", v1=3))
        db.add(record(run_s=1.0, v1=4, dtype="float64"))
        db.add(record(run_s=1.0, v1=5, hardware="llvm:another-cpu"))
        db.add(record(run_s=1.0, v1=6, shapes=(64, 64, 128)))
        best = db.best("matmul_cpu", (64, 64, 64), "float32", "llvm", OPTIONS)
        assert best.kwargs["v1"] == 2
        assert db.best("matmul_cpu", (32, 32, 32), "float32", "llvm", OPTIONS) is None


def test_nearest_shape_is_the_starting_point(tmp_path):
    with Database(tmp_path / "t.db") as db:
        db.add(record(shapes=(256, 256, 256), run_s=9.0, v1=1))
        db.add(record(shapes=(128, 128, 128), run_s=2.0, v1=2))
        db.add(record(shapes=(128, 128, 128), run_s=1.0, v1=8))
        near = db.nearest("matmul_cpu", (96, 96, 96), "float32", "llvm", OPTIONS)
        assert near.shapes == (128, 128, 128) and near.kwargs["v1"] == 8


def test_lookup_config_exact_then_nearby(tmp_path):
    path = tmp_path / "t.db"
    kwargs = {"v1": 2, "v2": 32, "v3": 4, "b1": 16, "b2": 64, "b3": None, "pack_b": False}
    with Database(path) as db:
        db.add(record(shapes=(64, 64, 64), run_s=1.0, kwargs=kwargs, knobs=knobs_of(kwargs)))
    assert lookup_config("matmul", (64, 64, 64), db=path) == kwargs
    nearby = lookup_config("matmul_cpu", (64, 64, 32), db=path)
    assert nearby is not None and nearby["v1"] == 2 and nearby["v2"] == 32
    assert lookup_config("matmul", (64, 64, 32), db=path, nearby=False) is None
    assert lookup_config("matmul", (64, 64, 64), dtype="float64", db=path, nearby=False) is None


def test_lookup_in_a_missing_database_creates_nothing(tmp_path):
    path = tmp_path / "absent" / "t.db"
    assert lookup_config("matmul", (64, 64, 64), db=path) is None
    assert not path.exists()


def test_apply_best_builds_the_template_with_the_tuned_config(tmp_path):
    path = tmp_path / "t.db"
    kwargs = {"v1": 2, "v2": 32, "v3": 8, "b1": 16, "b2": 64, "b3": None, "pack_b": False}
    with Database(path) as db:
        db.add(record(run_s=1.0, kwargs=kwargs, knobs=knobs_of(kwargs)))
    s, args = apply_best("matmul", (64, 64, 64), db=path)
    splits = {(step.stage, dict(step.args)["axis"]): dict(step.args).get("factor")
              for step in s.trace if step.primitive == "split"}
    assert 8 in splits.values()  # v3
    assert "B.packed" not in [stage.name for stage in s.stages]
    s_default, _ = apply_best("matmul", (64, 64, 64), db=tmp_path / "none.db")
    assert len(s_default.trace) > 0


def test_default_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("NESTOR_TUNING_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_path() == tmp_path / "nestor" / "tuning.db"
    monkeypatch.setenv("NESTOR_TUNING_DB", str(tmp_path / "x.db"))
    assert default_path() == tmp_path / "x.db"


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "t.db"
    writer = textwrap.dedent(f"""
        import sys
        from tests.schedules.autotune.test_database import record
        from schedules.autotune import Database
        with Database({str(path)!r}) as db:
            for n in range(40):
                db.add(record(run_s=1.0 + n, session=sys.argv[1]))
    """)
    processes = [subprocess.Popen([sys.executable, "-c", writer, f"w{n}"]) for n in range(4)]
    assert [p.wait(120) for p in processes] == [0, 0, 0, 0]
    with Database(path) as db:
        records = db.records("matmul_cpu")
    assert len(records) == 160
    assert {r.session for r in records} == {"w0", "w1", "w2", "w3"}
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_unusable_database_path_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(TuningError, match="tuning database .*cannot open it"):
        Database(tmp_path / "file" / "t.db")
