"""Tuning throughput: trials per minute of the same small task measured by the local executor
(worker processes) and by Ray on a local cluster of 1 or 2 workers (one CPU each: a builder slot
and a runner node per worker), every run on a fresh database.

    python benchmarks/tuning_ray.py [--json] [--size 128] [--trials 24] [--workers 1,2]

A row per Ray cluster: ``nestor_s`` is the seconds per trial on Ray, ``peer_s`` the local
executor's with as many builders (ratio above 1: Ray is faster). Throughput only: both record the
same trials. On one machine the "nodes" of a 2-worker cluster share its cores, so their runners
time concurrently; on real nodes they would not. Needs ``pip install -e '.[distributed]'``.
"""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.harness import Report, parser  # noqa: E402
from schedules.autotune import tune  # noqa: E402
from schedules.autotune.measure import LocalExecutor  # noqa: E402


def seconds_per_trial(executor, size: int, trials: int) -> tuple[float, float]:
    """(seconds per trial, trials per minute) of a fresh random search of the CPU matmul."""
    with tempfile.TemporaryDirectory() as folder:
        result = tune("matmul_cpu", (size, size, size), trials=trials, tuner="random", db=f"{folder}/t.db",
                      repeat=3, executor=executor)
    assert len(result.records) == trials, result
    return result.elapsed / trials, result.trials_per_minute


def ray_seconds_per_trial(workers: int, size: int, trials: int) -> tuple[float, float]:
    """The same on a local Ray cluster of ``workers`` one-CPU nodes."""
    from ray.cluster_utils import Cluster

    from schedules.autotune.ray_executor import RayExecutor

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    for _ in range(workers - 1):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    import ray

    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    try:
        return seconds_per_trial(RayExecutor("auto"), size, trials)
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--size", type=int, default=128, help="matmul m = n = k (default 128)")
    p.add_argument("--trials", type=int, default=24, help="trials per run (default 24)")
    p.add_argument("--workers", default="1,2", help="Ray cluster sizes (default 1,2)")
    args = p.parse_args()
    report = Report("tuning_ray", args.json)
    for workers in (int(w) for w in args.workers.split(",")):
        ray_s, ray_rate = ray_seconds_per_trial(workers, args.size, args.trials)
        local_s, local_rate = seconds_per_trial(LocalExecutor(workers), args.size, args.trials)
        report.add(f"matmul {args.size} ray {workers} workers", ray_s, f"local executor {workers} builders",
                   local_s, ray_trials_per_min=ray_rate, local_trials_per_min=local_rate)


if __name__ == "__main__":
    main()
