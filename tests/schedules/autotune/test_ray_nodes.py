"""A Ray node that dies in the middle of a trial (a local cluster of two one-CPU nodes, one removed
while it times a candidate) costs that trial only: it is timed again on the other node and every
trial is recorded once. Slow: it starts a cluster of its own."""

from __future__ import annotations

import os
import sys

import pytest

from schedules.autotune import Database, tune

from .faulty import STEADY

pytestmark = pytest.mark.slow


@pytest.fixture
def two_nodes():
    pytest.importorskip("ray")
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    yield cluster, worker
    ray.shutdown()
    cluster.shutdown()


def test_a_node_dying_mid_trial_costs_that_trial_only(two_nodes, tmp_path, monkeypatch):
    from schedules.autotune import ray_executor

    cluster, doomed = two_nodes
    submit, removed = ray_executor.RayMeasurer._submit_run, []

    def remove_the_node_while_it_times(self, runner, payload):
        ref = submit(self, runner, payload)
        if not removed and runner.node == doomed.node_id and not runner.fresh:
            cluster.remove_node(doomed)
            removed.append(runner.node)
        return ref

    monkeypatch.setattr(ray_executor.RayMeasurer, "_submit_run", remove_the_node_while_it_times)
    seen = []
    result = tune(STEADY, (256,), trials=6, tuner="grid", db=tmp_path / "t.db", batch_size=6, repeat=1,
                  executor=ray_executor.RayExecutor("auto"), progress=seen.append)
    assert removed, "no node was removed"
    assert seen[0].nodes == 2
    with Database(tmp_path / "t.db") as db:
        records = db.records(STEADY.name)
    assert sorted(r.kwargs["tile"] for r in records) == [1, 2, 4, 8, 16, 32]
    assert sorted(r.id for r in records) == sorted(r.id for r in result.records)
    assert all(r.ok for r in records), [r.error for r in records]
