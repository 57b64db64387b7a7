"""Measurement: candidates compiled in parallel worker processes, then run one at a time in an
isolated runner process, each checked against the reference before its time counts.

Compiling and timing never overlap: a batch is compiled first (all builders busy), then timed
(builders idle), so the timings see a quiet machine. A worker that crashes or outlives its
timeout is replaced and the candidate is recorded with the error; the run goes on. A worker that
dies while idle (the OOM killer, a stray signal), or while a job is being sent to it, is replaced
before the job is handed over, so no candidate is blamed for it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait

from .errors import TuningError
from .space import Config
from .spaces import TunableTemplate

#: seconds a fresh worker may take to import the compiler
START_TIMEOUT = 120.0
#: times in a row a worker may die before it answers (starting, or taking a job) before tuning gives up
START_ATTEMPTS = 5


@dataclass(frozen=True)
class Task:
    """What is tuned: a template at given sizes, dtype, target and fixed options."""

    template: TunableTemplate
    sizes: tuple[int, ...]
    dtype: str = "float32"
    target: str = "llvm"
    options: dict = field(default_factory=dict)

    def payload(self) -> dict:
        return {"template": self.template.locator or self.template.name, "sizes": list(self.sizes),
                "dtype": self.dtype, "target": self.target, "options": dict(self.options)}


@dataclass
class MeasureResult:
    """One measured candidate: its time and noise, or the error that stopped it."""

    config: Config
    kwargs: dict
    trace: str | None = None
    compile_s: float | None = None
    run_s: float | None = None
    noise: float | None = None
    error: str | None = None
    #: the fingerprint of the machine that timed it, where that is not the tuner's own (a remote executor)
    hardware: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.run_s is not None


def describe_exit(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class _Worker:
    """One worker process and its socket; replaced when it crashes or is killed.

    Workers are fresh interpreters (``python -m schedules.autotune.worker``), not forks of the
    tuner (whose compiler threads must not be forked) nor multiprocessing spawns (which would
    re-run the user's main script).
    """

    def __init__(self, env: dict[str, str]):
        self._env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.started_at = 0.0
        self.generation = 0
        self._start()

    def _start(self) -> None:
        self.generation += 1
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "schedules.autotune.worker", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], env=self._env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.conn = Connection(ours.detach())

    def alive(self) -> bool:
        return self.process.poll() is None

    def revive(self) -> None:
        """Replace the worker if it died while idle; the next job then goes to a fresh one."""
        if not self.alive():
            self.restart()

    def submit(self, kind: str, payload: dict) -> None:
        """Send a job. A worker found dead, or dying while the job is sent, never started the job:
        it is replaced and the job goes to the new one."""
        for _ in range(START_ATTEMPTS):
            self.revive()
            try:
                self.conn.send((kind, payload))
            except OSError:  # BrokenPipeError, ConnectionResetError: it died before reading the job
                self.restart()
                continue
            self.started_at = time.monotonic()
            return
        raise TuningError(f"measurement workers died {START_ATTEMPTS} times in a row before taking a {kind} job; "
                          "check the memory available to the tuner (the OOM killer) and --parallel")

    def collect(self) -> dict:
        """The answer to the submitted job, or an error if the worker died on it."""
        try:
            return self.conn.recv()
        except (EOFError, OSError):  # also a death in the middle of sending its answer
            answer = {"error": f"crash: the worker {describe_exit(self._exit_code())}"}
            self.restart()
            return answer

    def ask(self, kind: str, payload: dict, timeout: float) -> dict:
        self.submit(kind, payload)
        if self.conn.poll(timeout):
            return self.collect()
        self.restart()
        return {"error": f"timeout: {kind} took longer than {timeout:g} s; the worker was killed"}

    def restart(self) -> None:
        self.stop(kill=True)
        self._start()
        self.wait_ready()

    def wait_ready(self) -> None:
        """Block until the (new) worker has imported the compiler and answers; one that dies while
        starting is started again, up to ``START_ATTEMPTS`` times."""
        for attempt in range(START_ATTEMPTS):
            if attempt:
                self.stop(kill=True)
                self._start()
            try:
                self.conn.send(("ping", {}))
                if not self.conn.poll(START_TIMEOUT):
                    raise TuningError(f"a measurement worker did not start within {START_TIMEOUT:g} s")
                self.conn.recv()
                return
            except (EOFError, OSError):
                died = describe_exit(self._exit_code())
        raise TuningError(f"a measurement worker {died} while starting, {START_ATTEMPTS} times in a row; check the "
                          "memory available to the tuner (the OOM killer) and that `python -m "
                          "schedules.autotune.worker` can import the compiler")

    def _exit_code(self) -> int | None:
        try:
            return self.process.wait(5)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is None and not kill:
            try:
                self.conn.send(None)
                self.process.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.conn.close()


class Measurer:
    """Compile and time candidates of one task.

    Parameters
    ----------
    task
        The template, sizes, dtype, target and options.
    n_parallel
        Builder processes (default: the CPUs this process may use).
    timeout
        Seconds allowed to compile one candidate, and again to run and time it.
    repeat
        Timed rounds per candidate (the median is kept, the interquartile spread is the noise).
    min_round
        Seconds each round lasts at least (fast kernels are called several times per round).
    rtol
        Allowed error relative to the reference's largest magnitude.
    """

    def __init__(self, task: Task, n_parallel: int | None = None, timeout: float = 10.0, repeat: int = 5,
                 min_round: float = 0.02, rtol: float = 1e-3):
        self.task, self.timeout = task, timeout
        self.settings = {"repeat": repeat, "min_round": min_round, "rtol": rtol}
        self._cache_dir = None
        env = self._worker_env()
        count = n_parallel or len(os.sched_getaffinity(0))
        self.builders: list[_Worker] = []
        self.runner = None
        try:
            self.builders = [_Worker(env) for _ in range(max(1, count))]
            self.runner = _Worker(env)
            for w in [*self.builders, self.runner]:
                w.wait_ready()
        except BaseException:
            self.close()
            raise
        self._prepared_by = 0  # the runner generation that holds the task's inputs and reference

    def _worker_env(self) -> dict[str, str]:
        """Builders hand compiled kernels to the runner through the kernel cache: make sure there is one."""
        from backends.llvm.cache import cache_dir

        if cache_dir() is not None:
            return {}
        self._cache_dir = tempfile.TemporaryDirectory(prefix="nestor-tune-")
        return {"NESTOR_CACHE_DIR": self._cache_dir.name}

    @property
    def parallelism(self) -> int:
        """Candidates compiled at once."""
        return len(self.builders)

    #: the machine the candidates are timed on: None for this one
    hardware: str | None = None
    #: machines measuring: None for this one only (no count is shown)
    nodes: int | None = None

    def __enter__(self) -> Measurer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for w in [*self.builders, self.runner]:
            if w is not None:
                w.stop()
        if self._cache_dir is not None:
            self._cache_dir.cleanup()

    def measure(self, configs: list[Config], kwargs: list[dict], cutoff: float | None = None) -> list[MeasureResult]:
        """Compile every candidate in parallel, then run and time each in turn.

        ``cutoff``: a candidate whose first call takes longer is timed once only.
        """
        results = [MeasureResult(c, k) for c, k in zip(configs, kwargs)]
        for result, built in zip(results, self._build_all(kwargs)):
            result.compile_s = built.get("compile_s")
            result.trace = built.get("trace")
            if "error" in built:
                result.error = _compile_error(built["error"])
                continue
            self._run(result, built["func"], cutoff)
        return results

    def _build_all(self, kwargs: list[dict]) -> list[dict]:
        answers: list[dict | None] = [None] * len(kwargs)
        pending = deque(enumerate(kwargs))
        busy: dict[_Worker, int] = {}
        while pending or busy:
            for w in self.builders:
                if w not in busy and pending:
                    index, values = pending.popleft()
                    w.submit("build", {**self.task.payload(), "kwargs": values})
                    busy[w] = index
            deadline = min(w.started_at for w in busy) + self.timeout
            ready = wait([w.conn for w in busy], timeout=max(0.0, deadline - time.monotonic()))
            for w in list(busy):
                if w.conn in ready:
                    answers[busy.pop(w)] = w.collect()
                elif time.monotonic() - w.started_at > self.timeout:
                    w.restart()
                    answers[busy.pop(w)] = {"error": f"timeout: compiling took longer than {self.timeout:g} s"}
        return answers

    def _run(self, result: MeasureResult, func, cutoff: float | None) -> None:
        payload = {**self.task.payload(), **self.settings, "kwargs": result.kwargs, "func": func, "cutoff": cutoff}
        self.runner.revive()  # a runner that died while the candidates compiled is replaced, then prepared
        if self._prepared_by != self.runner.generation:
            # a fresh runner first makes the task's inputs and reference outputs, untimed
            prepared = self.runner.ask("prepare", payload, START_TIMEOUT + self.timeout)
            if "error" in prepared:
                result.error = f"reference: {prepared['error']}"
                return
            self._prepared_by = self.runner.generation
        answer = self.runner.ask("run", payload, self.timeout)
        if "error" in answer:
            result.error = answer["error"]
        else:
            result.run_s, result.noise = answer["run_s"], answer["noise"]


def _compile_error(message: str) -> str:
    if message.startswith(("crash:", "timeout:")):
        return message
    return f"compile error: {message}"


class LocalExecutor:
    """Measure on this machine, in worker processes (the default executor of ``tune``).

    An executor says where candidates are compiled and timed: ``start(task, ...)`` returns a
    measurer, a context manager with ``measure(configs, kwargs, cutoff)`` (one
    :class:`MeasureResult` per candidate, in order), ``parallelism`` (candidates compiled at once),
    ``hardware`` and ``nodes``. :class:`schedules.autotune.ray_executor.RayExecutor` is the other one.

    Parameters
    ----------
    n_parallel
        Builder processes (default: the CPUs this process may use).
    """

    name = "local"

    def __init__(self, n_parallel: int | None = None):
        self.n_parallel = n_parallel

    def start(self, task: Task, *, n_parallel: int | None = None, timeout: float = 10.0,
              repeat: int = 5) -> Measurer:
        return Measurer(task, n_parallel or self.n_parallel, timeout, repeat)
