"""Measurement: crashes, hangs, compile errors and wrong results are recorded and the run goes on."""

from __future__ import annotations

from schedules.autotune import Database, Measurer, Task, tune
from schedules.autotune.spaces import TEMPLATES
from schedules.autotune.worker import FAULT_VARIABLE, check

from .faulty import FAULTY


def test_faulty_candidates_are_recorded_and_the_run_finishes(tmp_path, monkeypatch):
    monkeypatch.setenv(FAULT_VARIABLE, "1")
    result = tune(FAULTY, (64,), trials=10, tuner="grid", db=tmp_path / "t.db", timeout=3, n_parallel=2)
    assert result.stopped == "space exhausted"
    errors = {r.kwargs["inject_fault"]: r.error for r in result.records}
    assert errors["none"] is None
    assert errors["build_crash"].startswith("crash: the worker exited with status 71")
    assert errors["build_hang"].startswith("timeout: compiling took longer than 3 s")
    assert errors["build_error"].startswith("compile error: ScheduleError: scaled: a deliberately broken schedule")
    assert errors["wrong"].startswith("wrong result: output 0 differs from the reference")
    assert errors["run_crash"].startswith("crash: the worker exited with status 70")
    assert errors["run_hang"].startswith("timeout: run took longer than 3 s")
    assert result.best.kwargs["inject_fault"] == "none" and result.time > 0
    with Database(tmp_path / "t.db") as db:
        stored = db.records("scaled_faulty")
    assert len(stored) == 7 and sum(r.ok for r in stored) == 1
    assert stored[0].trace and stored[0].compile_s > 0 and stored[0].noise is not None


def test_good_candidates_are_timed_with_their_noise():
    spec = TEMPLATES["matmul_cpu"]
    space = spec.space((32, 32, 32))
    configs = space.points()[:2]
    with Measurer(Task(spec, (32, 32, 32), options=spec.task_options()), n_parallel=1, repeat=3) as measurer:
        results = measurer.measure(configs, [spec.to_kwargs(c) for c in configs])
    for result in results:
        assert result.ok, result.error
        assert result.run_s > 0 and result.noise >= 0 and result.compile_s > 0
        assert '"primitive": "split"' in result.trace


def test_check_rejects_wrong_and_missing_values():
    import numpy as np

    want = np.ones((4, 4), np.float32)
    assert check([want.copy()], [want], 1e-3) is None
    off = want.copy()
    off[1, 2] = 1.5
    assert "differs from the reference by up to 0.5" in check([off], [want], 1e-3)
    assert check([np.full((4, 4), np.nan, np.float32)], [want], 1e-3).startswith("wrong result")
