"""Tuning on a Ray cluster (a local one, 2 CPUs, started here): trials are recorded once each, by the
tuner alone, tagged with the hardware that timed them; a runner actor killed in the middle of a
trial costs that trial only; ``nestor tune --ray``; and without Ray, a clear error."""

from __future__ import annotations

import builtins
import os
import signal

import pytest

from nestor.cli import main
from schedules.autotune import Database, TuningError, tune

from .faulty import STEADY

TRIALS = 4


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.getcwd()}})
    yield ray
    ray.shutdown()


def executor():
    from schedules.autotune.ray_executor import RayExecutor

    return RayExecutor("auto")


def stored(path) -> list:
    with Database(path) as db:
        return db.records(STEADY.name)


def check_each_trial_recorded_once(result, path) -> None:
    records = stored(path)
    assert len(result.records) == len(records) == TRIALS
    assert sorted(r.kwargs["tile"] for r in records) == [1, 2, 4, 8]
    assert sorted(r.id for r in result.records) == sorted(r.id for r in records)
    assert all(r.ok for r in records), [r.error for r in records]


def run(path, **kwargs):
    return tune(STEADY, (256,), trials=TRIALS, tuner="grid", db=path, batch_size=TRIALS, repeat=1,
                executor=executor(), **kwargs)


def test_ray_tuning_records_each_trial_once_with_the_node_hardware(ray_cluster, tmp_path):
    from schedules.autotune.database import hardware_fingerprint

    seen = []
    result = run(tmp_path / "t.db", progress=seen.append)
    check_each_trial_recorded_once(result, tmp_path / "t.db")
    # the runner actor times on all of the node's cores: the same hardware as this process
    assert {r.hardware for r in stored(tmp_path / "t.db")} == {hardware_fingerprint("llvm")}
    assert [p.nodes for p in seen] == [1] * TRIALS and result.best is not None


def test_a_runner_actor_killed_mid_trial_costs_that_trial_only(ray_cluster, tmp_path, monkeypatch):
    from schedules.autotune import ray_executor

    submit, killed = ray_executor.RayMeasurer._submit_run, []

    def kill_the_runner_on_its_second_trial(self, runner, payload):
        ref = submit(self, runner, payload)
        if not killed and not runner.fresh:
            os.kill(runner.pid, signal.SIGKILL)
            killed.append(runner.pid)
        return ref

    monkeypatch.setattr(ray_executor.RayMeasurer, "_submit_run", kill_the_runner_on_its_second_trial)
    result = run(tmp_path / "t.db")
    assert killed, "no runner was killed"
    check_each_trial_recorded_once(result, tmp_path / "t.db")
    assert result.stopped == "trials"


def test_tune_command_with_ray_shows_nodes_and_trials_per_minute(ray_cluster, tmp_path, capsys):
    db = tmp_path / "t.db"
    code = main(["tune", "tests.schedules.autotune.faulty:STEADY", "--shape", "256", "--trials", str(TRIALS),
                 "--tuner", "grid", "--db", str(db), "--ray", "auto"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "on the Ray cluster auto" in err and "nodes 1" in err and "trials/min" in err
    assert "rank" in out
    assert len(stored(db)) == TRIALS


def test_without_ray_the_error_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    from schedules.autotune.ray_executor import RayExecutor

    with pytest.raises(TuningError, match=r"pip install -e '\.\[distributed\]'"):
        RayExecutor("auto")
    assert main(["tune", "matmul", "--shape", "8,8,8", "--db", str(tmp_path / "t.db"), "--ray", "auto"]) == 2
    assert "pip install -e '.[distributed]'" in capsys.readouterr().err
    assert not (tmp_path / "t.db").exists() or not stored(tmp_path / "t.db")
