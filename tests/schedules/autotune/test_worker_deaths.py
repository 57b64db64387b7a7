"""A measurement worker may die at any moment (the OOM killer's SIGKILL, a SIGSEGV): while idle,
between jobs, while a job is being sent to it or while its answer is being received. The worker is
replaced, the search goes on, and every trial is recorded exactly once."""

from __future__ import annotations

import itertools
import os
import random
import resource
import signal
import threading

import pytest

from nestor.cli import main
from schedules.autotune import Database, measure, tune

from .faulty import STEADY

SIGNALS = itertools.cycle([signal.SIGKILL, signal.SIGSEGV])
TRIALS = 4


@pytest.fixture(autouse=True)
def no_core_files():
    """Workers killed by SIGSEGV would leave core files where core dumps are on."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    yield
    resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


def kill(worker: measure._Worker) -> None:
    """Kill the worker as the OOM killer would, and wait until it is gone."""
    if worker.process.poll() is None:
        os.kill(worker.process.pid, next(SIGNALS))
        worker.process.wait()


def check_each_trial_recorded_once(result, path) -> None:
    with Database(path) as db:
        stored = db.records(STEADY.name)
    assert len(result.records) == len(stored) == TRIALS
    assert sorted(r.kwargs["tile"] for r in stored) == [1, 2, 4, 8]
    assert sorted(r.id for r in result.records) == sorted(r.id for r in stored)


def run(path, **kwargs):
    return tune(STEADY, (256,), trials=TRIALS, tuner="grid", db=path, n_parallel=1, batch_size=2, repeat=1,
                **kwargs)


def test_workers_killed_while_idle_are_replaced_and_no_trial_is_blamed(tmp_path, monkeypatch):
    build_all, run_one = measure.Measurer._build_all, measure.Measurer._run

    def compile_after_killing_the_idle_runner(self, kwargs):
        kill(self.runner)
        return build_all(self, kwargs)

    def run_after_killing_the_idle_builders(self, result, func, cutoff):
        for builder in self.builders:
            kill(builder)
        return run_one(self, result, func, cutoff)

    monkeypatch.setattr(measure.Measurer, "_build_all", compile_after_killing_the_idle_runner)
    monkeypatch.setattr(measure.Measurer, "_run", run_after_killing_the_idle_builders)
    result = run(tmp_path / "t.db")
    assert all(r.ok for r in result.records), [r.error for r in result.records]
    check_each_trial_recorded_once(result, tmp_path / "t.db")


def test_a_worker_dying_while_a_job_is_sent_gets_the_job_again_fresh(tmp_path, monkeypatch):
    submit, revive, calls, armed = measure._Worker.submit, measure._Worker.revive, itertools.count(), set()

    def submit_every_other_job_to_a_dying_worker(self, kind, payload):
        if kind in ("build", "run") and next(calls) % 2 == 0:
            armed.add(self)
        submit(self, kind, payload)

    def revive_then_die(self):
        revive(self)
        if self in armed:
            armed.discard(self)
            kill(self)  # after the liveness check: the send itself meets the dead worker

    monkeypatch.setattr(measure._Worker, "submit", submit_every_other_job_to_a_dying_worker)
    monkeypatch.setattr(measure._Worker, "revive", revive_then_die)
    result = run(tmp_path / "t.db")
    assert all(r.ok for r in result.records), [r.error for r in result.records]
    check_each_trial_recorded_once(result, tmp_path / "t.db")


def test_a_worker_dying_on_its_job_fails_that_trial_once(tmp_path, monkeypatch):
    submit, calls = measure._Worker.submit, itertools.count()

    def submit_then_die_every_other_time(self, kind, payload):
        submit(self, kind, payload)
        if kind in ("build", "run") and next(calls) % 2 == 0:
            kill(self)  # before (or while) its answer is received

    monkeypatch.setattr(measure._Worker, "submit", submit_then_die_every_other_time)
    result = run(tmp_path / "t.db")
    for record in result.records:
        assert record.ok or record.error.startswith("crash: the worker killed by SIG"), record.error
    assert not all(r.ok for r in result.records)
    check_each_trial_recorded_once(result, tmp_path / "t.db")


def test_workers_killed_at_random_moments_leave_nestor_tune_running(tmp_path, monkeypatch, capsys):
    measurers: list[measure.Measurer] = []
    init = measure.Measurer.__init__

    def remembered(self, *args, **kwargs):
        init(self, *args, **kwargs)
        measurers.append(self)

    monkeypatch.setattr(measure.Measurer, "__init__", remembered)
    done, rng = threading.Event(), random.Random(0)

    def killer() -> None:
        while not done.wait(rng.uniform(0.3, 0.8)):
            for m in measurers:
                victim = rng.choice([*m.builders, m.runner])
                try:
                    os.kill(victim.process.pid, rng.choice([signal.SIGKILL, signal.SIGSEGV]))
                except ProcessLookupError:
                    pass

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        code = main(["tune", STEADY.locator, "--shape", "256", "--trials", str(TRIALS), "--tuner", "grid",
                     "--parallel", "2", "--db", str(tmp_path / "t.db")])
    finally:
        done.set()
        thread.join()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"{TRIALS}/{TRIALS}" in err and "Traceback" not in err
    with Database(tmp_path / "t.db") as db:
        stored = db.records(STEADY.name)
    assert sorted(r.kwargs["tile"] for r in stored) == [1, 2, 4, 8]
    for record in stored:  # a runner killed while it made the inputs and reference fails that trial as such
        error = (record.error or "").removeprefix("reference: ")
        assert record.ok or error.startswith(("crash: the worker killed by SIG", "timeout:")), record.error


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSEGV])
def test_a_worker_that_keeps_dying_while_starting_is_one_clear_error(monkeypatch, signum):
    start = measure._Worker._start

    def start_and_die(self):
        start(self)
        if self.generation > 1:
            os.kill(self.process.pid, signum)
            self.process.wait()

    monkeypatch.setattr(measure._Worker, "_start", start_and_die)
    worker = measure._Worker({})
    try:
        worker.wait_ready()
        with pytest.raises(measure.TuningError, match=f"worker killed by {signum.name} while starting, 5 times"):
            worker.restart()
    finally:
        worker.stop(kill=True)
