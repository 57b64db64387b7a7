"""Measurement on a Ray cluster: candidates compile as Ray tasks on any node and run in Ray actors,
one per measurement device (a CPU node: one actor timing one candidate at a time on the node's
cores; a GPU node: one actor per GPU). Results come back to the tuner, which alone writes the
database; each carries the hardware fingerprint of the node that timed it.

As on one machine, a batch is compiled first and timed after, so timings see quiet nodes. A runner
compiles the candidate itself from its lowered function (a kernel cache that builder and runner
happen to share only saves that work), so nodes need no shared disk. An actor or node that dies
while timing costs that trial only: it goes to another (or a fresh) runner, up to ``ATTEMPTS``
times (a candidate that kills every runner it meets is then recorded as a crash), and the search
goes on. Every trial is recorded exactly once.

``ray`` is an optional dependency (``pip install -e '.[distributed]'``), imported here only, when a
:class:`RayExecutor` is made. The nodes need Nestor importable (installed, or this checkout on
their ``PYTHONPATH``; a cluster the executor starts itself gets the tuner's ``sys.path``).
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import dataclass

from . import worker
from .database import hardware_fingerprint
from .errors import TuningError
from .measure import START_TIMEOUT, MeasureResult, Task, _compile_error
from .space import Config

#: times a trial is started on a runner that then dies, before it is recorded as a crash
ATTEMPTS = 3
INSTALL = "pip install -e '.[distributed]'"


def import_ray():
    """The ``ray`` module, or a :class:`TuningError` saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise TuningError(f"distributed tuning needs Ray, which cannot be imported here ({error}); install it "
                          f"with {INSTALL} (the 'distributed' extra, ray>=2.9), or tune without --ray") from None
    return ray


def _build(payload: dict) -> dict:
    """A Ray task: compile one candidate (any failure of the candidate is an answer)."""
    try:
        return worker.build_job(payload)
    except Exception as error:  # noqa: BLE001 - every failure of a candidate is data
        return {"error": f"{type(error).__name__}: {error}"}


class _RunnerActor:
    """A Ray actor on one measurement device: checks and times one candidate at a time."""

    def describe(self, target: str) -> dict:
        import ray

        return {"pid": os.getpid(), "hardware": hardware_fingerprint(target),
                "node": ray.get_runtime_context().get_node_id()}

    def run(self, payload: dict) -> dict:
        try:
            return worker.run_job(payload)
        except Exception as error:  # noqa: BLE001 - every failure of a candidate is data
            return {"error": f"{type(error).__name__}: {error}"}


@dataclass
class _Runner:
    handle: object
    node: str
    hardware: str
    pid: int
    fresh: bool = True  # its first run also makes the task's inputs and reference


class RayExecutor:
    """Measure on a Ray cluster.

    Parameters
    ----------
    address
        ``"auto"`` (the default): the cluster this process is already connected to, else the one
        started on this machine with ``ray start --head``, else a new local one; ``"local"``: a new
        local cluster; anything else: a cluster address (``host:6379``, ``ray://host:10001``).

    Examples
    --------
    >>> tune("matmul", (512, 512, 512), executor=RayExecutor("auto"))   # doctest: +SKIP
    """

    name = "ray"

    def __init__(self, address: str | None = "auto"):
        self.address = address or "auto"
        self._ray = import_ray()
        self._started = False

    def connect(self):
        """Connect once (a cluster this executor started is shut down by :meth:`close`)."""
        ray = self._ray
        if ray.is_initialized():
            return ray
        quiet = {"log_to_driver": False, "configure_logging": False}
        try:
            if self.address in ("auto", "local"):
                if self.address == "auto" and self._existing(quiet):
                    return ray
                ray.init(include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": _pythonpath()}}, **quiet)
                self._started = True
            else:
                ray.init(address=self.address, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise TuningError(f"--ray {self.address}: cannot connect to the Ray cluster ({error}); start one with "
                              "`ray start --head` and give its address, or use --ray auto for one on this "
                              "machine") from None
        return ray

    def _existing(self, quiet: dict) -> bool:
        try:
            self._ray.init(address="auto", **quiet)
        except ConnectionError:
            return False
        return True

    def start(self, task: Task, *, n_parallel: int | None = None, timeout: float = 10.0,
              repeat: int = 5) -> RayMeasurer:
        return RayMeasurer(self.connect(), task, n_parallel, timeout, repeat)

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _pythonpath() -> str:
    return os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)


class RayMeasurer:
    """Compile and time candidates of one task on a Ray cluster (made by :meth:`RayExecutor.start`)."""

    def __init__(self, ray, task: Task, n_parallel: int | None, timeout: float, repeat: int,
                 min_round: float = 0.02, rtol: float = 1e-3):
        self.ray, self.task, self.timeout = ray, task, timeout
        self.settings = {"repeat": repeat, "min_round": min_round, "rtol": rtol}
        self.parallelism = n_parallel or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._build_task = ray.remote(num_cpus=1, max_retries=ATTEMPTS - 1)(_build)
        self._actor = ray.remote(_RunnerActor)
        self.runners: list[_Runner] = []
        self._fill()
        if not self.runners:
            self.close()
            raise TuningError(f"no node of the Ray cluster could start a measurement actor for {task.target} "
                              f"within {START_TIMEOUT:g} s; check `ray status` (a GPU task needs free GPUs)")
        here = ray.get_runtime_context().get_node_id()
        self.hardware = next((r.hardware for r in self.runners if r.node == here), self.runners[0].hardware)

    @property
    def nodes(self) -> int:
        return len({r.node for r in self.runners})

    def __enter__(self) -> RayMeasurer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for runner in self.runners:
            self.ray.kill(runner.handle, no_restart=True)
        self.runners = []

    def _placements(self) -> list[dict]:
        """Actor options for each measurement device that has no runner."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if self.task.target == "cuda":
            missing = int(self.ray.cluster_resources().get("GPU", 0)) - len(self.runners)
            return [{"num_gpus": 1, "num_cpus": 0}] * max(0, missing)
        taken = {r.node for r in self.runners}
        return [{"num_cpus": 0, "scheduling_strategy": NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
                 # Ray gives an actor without CPUs one thread; the runner times on all of the node's cores
                 "runtime_env": {"env_vars": {"OMP_NUM_THREADS": os.environ.get(
                     "OMP_NUM_THREADS", str(int(node["Resources"]["CPU"])))}}}
                for node in self.ray.nodes()
                if node["Alive"] and node["Resources"].get("CPU", 0) > 0 and node["NodeID"] not in taken]

    def _fill(self) -> list[_Runner]:
        """Start a runner on every device that lacks one; the runners that started."""
        handles = [self._actor.options(max_restarts=0, **options).remote() for options in self._placements()]
        asked = {h.describe.remote(self.task.target): h for h in handles}
        ready, _ = self.ray.wait(list(asked), num_returns=len(asked), timeout=START_TIMEOUT) if asked else ([], [])
        started = []
        for ref, handle in asked.items():
            try:
                info = self.ray.get(ref, timeout=0) if ref in ready else None
            except self.ray.exceptions.RayError:
                info = None
            if info is None:
                self.ray.kill(handle, no_restart=True)
                continue
            started.append(_Runner(handle, info["node"], info["hardware"], info["pid"]))
        self.runners += started
        return started

    def measure(self, configs: list[Config], kwargs: list[dict], cutoff: float | None = None) -> list[MeasureResult]:
        """Compile every candidate on the cluster, then time them, one per runner at a time."""
        results = [MeasureResult(c, k) for c, k in zip(configs, kwargs)]
        jobs = []
        for result, built in zip(results, self._build_all(kwargs)):
            result.compile_s, result.trace = built.get("compile_s"), built.get("trace")
            if "error" in built:
                result.error = _compile_error(built["error"])
            else:
                jobs.append((result, built["func"]))
        self._run_all(jobs, cutoff)
        return results

    def _build_all(self, kwargs: list[dict]) -> list[dict]:
        answers: list[dict | None] = [None] * len(kwargs)
        pending, inflight = deque(enumerate(kwargs)), {}
        while pending or inflight:
            while pending and len(inflight) < self.parallelism:
                index, values = pending.popleft()
                ref = self._build_task.remote({**self.task.payload(), "kwargs": values})
                inflight[ref] = (index, time.monotonic())
            deadline = min(started for _, started in inflight.values()) + self.timeout
            ready, _ = self.ray.wait(list(inflight), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            for ref in ready:
                answers[inflight.pop(ref)[0]] = self._built(ref)
            for ref, (index, started) in list(inflight.items()):
                if time.monotonic() - started > self.timeout:
                    self.ray.cancel(ref, force=True)
                    del inflight[ref]
                    answers[index] = {"error": f"timeout: compiling took longer than {self.timeout:g} s"}
        return answers

    def _built(self, ref) -> dict:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as error:  # the builder's worker or node died, ATTEMPTS times
            return {"error": f"crash: the Ray builder died ({type(error).__name__})"}

    def _submit_run(self, runner: _Runner, payload: dict):
        return runner.handle.run.remote(payload)

    def _run_all(self, jobs: list[tuple[MeasureResult, object]], cutoff: float | None) -> None:
        queue = deque((result, func, 0) for result, func in jobs)
        idle, inflight = list(self.runners), {}
        while queue or inflight:
            while queue and idle:
                runner, (result, func, attempts) = idle.pop(), queue.popleft()
                payload = {**self.task.payload(), **self.settings, "kwargs": result.kwargs, "func": func,
                           "cutoff": cutoff}
                limit = self.timeout + (START_TIMEOUT if runner.fresh else 0.0)
                inflight[self._submit_run(runner, payload)] = (runner, result, func, attempts, time.monotonic() + limit)
            if not inflight:
                idle = self._fill()
                if not idle:
                    raise TuningError("every Ray measurement actor died and none could be started again; "
                                      "check the cluster with `ray status`")
                continue
            deadline = min(entry[4] for entry in inflight.values())
            ready, _ = self.ray.wait(list(inflight), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            for ref in ready:
                idle += self._finish(ref, inflight.pop(ref), queue)
            for ref, (runner, result, *_rest, until) in list(inflight.items()):
                if time.monotonic() > until:
                    del inflight[ref]
                    result.error = f"timeout: run took longer than {self.timeout:g} s; the runner was killed"
                    idle += self._replace(runner)

    def _finish(self, ref, entry: tuple, queue: deque) -> list[_Runner]:
        """Take one runner's answer; the runners now idle (its replacement if it died)."""
        runner, result, func, attempts, _ = entry
        try:
            answer = self.ray.get(ref)
        except self.ray.exceptions.RayError as error:  # actor or node death: the trial is not to blame yet
            if attempts + 1 < ATTEMPTS:
                queue.appendleft((result, func, attempts + 1))
            else:
                result.error = f"crash: the runner died on this candidate {ATTEMPTS} times ({type(error).__name__})"
            return self._replace(runner)
        runner.fresh = False
        result.hardware = runner.hardware
        if "error" in answer:
            result.error = answer["error"]
        else:
            result.run_s, result.noise = answer["run_s"], answer["noise"]
        return [runner]

    def _replace(self, runner: _Runner) -> list[_Runner]:
        self.ray.kill(runner.handle, no_restart=True)
        self.runners = [r for r in self.runners if r is not runner]
        return self._fill()
