"""``nestor tune model mlp|cnn``: tune every tunable kernel of one training step of the model that
``nestor train`` builds, sharing the trial budget by each kernel's share of the step time.

    nestor tune model mlp|cnn --trials N [--batch-size B] [--hidden H] [--input-shape C,H,W]
                              [--db PATH] [--steps S] [--warmup W] [--round R]

1. One training step (forward, softmax loss, backward, SGD update) on random inputs compiles
   the step's kernels; each kernel of the frontend's kernel cache names its tuning task
   (``(template, sizes, options)``, forward and backward alike), and timed steps give each
   task's seconds per step.
2. :func:`schedules.autotune.scheduler.allocate` shares ``--trials`` among the tasks (Ansor's
   task scheduler: the next round goes where the expected end-to-end gain per trial is
   largest); each round is a :func:`schedules.autotune.tune` run of its task, which writes every
   record to the tuning database. A task's first round measures the config the step used first.
3. The step is rebuilt (its kernels now take the database's best configs, as ``nestor train``'s
   do) and timed again: the command prints the step time before, and after, against the
   template defaults (NESTOR_TUNED=0) in alternating rounds, since a shared machine's load
   drifts over a tuning run (medians of rounds of steps, as ``benchmarks/train_step.py``).

The defaults are those of ``nestor train``: the digits' 1x8x8 inputs, batch 32, 128 hidden units
(tuned configs are per shape: tune the shapes you train). The model of
``benchmarks/train_step.py``: ``--input-shape 1,28,28 --batch-size 128 --hidden 256`` (mlp) or
``--batch-size 64`` (cnn).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from dataclasses import dataclass

from .arguments import integer, positive_int, shape

#: the models `nestor tune model` builds
MODELS = ("cnn", "mlp")


@dataclass(frozen=True)
class ModelTask:
    """A tuning task of the step: the template task, its current config and seconds per step."""

    template: str
    sizes: tuple[int, ...]
    dtype: str
    options: dict
    config: dict
    seconds: float
    calls: int

    @property
    def label(self) -> str:
        flags = ",".join(k if v is True else str(v) for k, v in self.options.items()
                         if v is True and k != "parallel" or k == "which")
        return f"{self.template}[{'x'.join(map(str, self.sizes))}]" + (f"({flags})" if flags else "")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``nestor tune model`` (the others are ``nestor tune``'s own)."""
    p.add_argument("model", nargs="?", metavar="MODEL", help="with `tune model`: mlp or cnn")
    p.add_argument("--batch-size", type=positive_int, default=32, help="tune model: samples per step (default 32)")
    p.add_argument("--hidden", type=integer(1, 1 << 16), default=128, help="tune model: mlp hidden units (128)")
    p.add_argument("--input-shape", type=shape, default=(1, 8, 8), metavar="C,H,W",
                   help="tune model: one input's shape (default 1,8,8, the digits)")
    p.add_argument("--steps", type=positive_int, default=7, help="tune model: timed rounds of steps (default 7)")
    p.add_argument("--warmup", type=integer(0, 1 << 20), default=4,
                   help="tune model: warm-up trials per task (default 4)")
    p.add_argument("--round", type=positive_int, default=8, help="tune model: trials of a scheduler round (default 8)")


def tune_model(args: argparse.Namespace) -> int:
    from schedules import autotune
    from schedules.autotune.scheduler import allocate

    if args.model not in MODELS:
        raise autotune.TuningError(f"nestor tune model: name the model, one of {', '.join(MODELS)} "
                                   f"(got {args.model!r}), e.g. nestor tune model mlp --trials 64")
    if len(args.input_shape) != 3:
        raise autotune.TuningError(f"nestor tune model: --input-shape is C,H,W, got {list(args.input_shape)}")
    from tensorir import config

    with autotune.Database(args.db) as database, _environ(config.TUNING_DB.variable, str(database.path)):
        step = training_step(args.model, args.input_shape, args.batch_size, args.hidden, args.seed)
        before = step_time(step, args.steps)
        tasks, untuned = extract_tasks(step)
        _print_tasks(tasks, untuned)
        measure = _measure(tasks, database, args)
        schedule = allocate([t.seconds for t in tasks], args.trials, measure, warmup=args.warmup, batch=args.round)
        after, defaults = compare_tuned(step, args.steps)
    _print_result(tasks, schedule, database.path)
    print(f"step time: before {_ms(before)} ms; after {_ms(after)} ms with the tuned configs, {_ms(defaults)} ms "
          f"with the template defaults (alternating rounds): {defaults / after:.2f}x", flush=True)
    return 0


@contextlib.contextmanager
def _environ(variable: str, value: str):
    """The environment knob ``variable`` (one of :mod:`tensorir.config`) set to ``value`` inside."""
    saved = os.environ.get(variable)
    os.environ[variable] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = saved


def training_step(kind: str, in_shape: tuple, batch: int, hidden: int, seed: int = 0):
    """One SGD training step (forward, softmax loss, backward, update) of ``nestor train``'s model
    on fixed random inputs, as a function of no arguments."""
    import numpy as np

    import frontend as nf
    from frontend import nn, optim
    from frontend.training import ModelSpec, build_model

    rng = np.random.default_rng(seed)
    model = build_model(ModelSpec(kind, tuple(in_shape), hidden=hidden), seed=seed)
    x = nf.Tensor(rng.random((batch, *in_shape), dtype=np.float32), requires_grad=False)
    y = nf.Tensor(rng.integers(0, 10, batch).astype(np.int32))
    optimizer, loss_fn = optim.SGD(model.parameters(), lr=0.01), nn.SoftmaxLoss()

    def step() -> None:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def step_time(step, rounds: int = 7, min_round: float = 0.05) -> float:
    """Median seconds per step over ``rounds`` rounds of at least ``min_round`` seconds, the
    kernels rebuilt first (so they take the tuning database's current best configs)."""
    from frontend import dispatch

    dispatch.clear()
    step()  # compiles, then first-touch memory
    step()
    start = time.perf_counter()
    step()
    number = max(1, int(min_round / max(time.perf_counter() - start, 1e-7)))
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            step()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def compare_tuned(step, rounds: int = 7) -> tuple[float, float]:
    """Median seconds per step with the tuning database's configs and with the template defaults
    (NESTOR_TUNED=0), measured in alternating rounds so that a change of machine load hits both."""
    from frontend import dispatch
    from tensorir import config

    samples: dict[str, list[float]] = {"1": [], "0": []}
    for index in range(rounds):
        for flag in ("1", "0") if index % 2 == 0 else ("0", "1"):  # ABBA: neither goes first always
            with _environ(config.TUNED.variable, flag):
                samples[flag].append(step_time(step, 1, min_round=0.2))
    dispatch.clear()  # later kernels are built with the configs of the caller's setting
    return statistics.median(samples["1"]), statistics.median(samples["0"])


def extract_tasks(step, steps: int = 5) -> tuple[list[ModelTask], float]:
    """The tuning tasks of the step's kernels (forward and backward), heaviest first, with their
    seconds per step; and the seconds per step of kernels without a tuning space."""
    from frontend import dispatch

    dispatch.clear()
    step()
    dispatch.stats.reset()
    dispatch.stats.timing = True
    try:
        for _ in range(steps):
            step()
    finally:
        dispatch.stats.timing = False
    grouped: dict[tuple, ModelTask] = {}
    untuned = 0.0
    for request, kernel in dispatch.cache.kernels.items():
        seconds = dispatch.stats.per_kernel.get(request, 0.0) / steps
        if kernel.task is None:
            untuned += seconds
            continue
        template, sizes, options = kernel.task
        key = (template, tuple(sizes), request.dtypes[0], tuple(sorted(options.items())))
        known = grouped.get(key)
        grouped[key] = ModelTask(template, tuple(sizes), request.dtypes[0], dict(options), dict(kernel.config),
                                 seconds + (known.seconds if known else 0.0), 1 + (known.calls if known else 0))
    return sorted(grouped.values(), key=lambda t: -t.seconds), untuned


def _measure(tasks: list[ModelTask], database, args):
    from schedules import autotune
    from schedules.autotune.scheduler import Outcome

    rounds = [0] * len(tasks)

    def measure(index: int, trials: int) -> Outcome:
        task = tasks[index]
        result = autotune.tune(task.template, task.sizes, dtype=task.dtype, options=task.options, trials=trials,
                               tuner=args.tuner, db=database, timeout=args.timeout, n_parallel=args.parallel,
                               seed=args.seed + rounds[index], start=[task.config] if not rounds[index] else ())
        rounds[index] += 1
        best = "-" if result.time is None else f"{result.time * 1e3:.3f} ms"
        print(f"  {task.label}: +{len(result.records)} trials, best {best}", file=sys.stderr, flush=True)
        return Outcome(len(result.records), result.time)

    return measure


def _print_tasks(tasks: list[ModelTask], untuned: float) -> None:
    total = sum(t.seconds for t in tasks) + untuned
    print(f"{len(tasks)} tuning tasks, {_ms(total - untuned)} of {_ms(total)} ms of kernel time per step "
          f"({_ms(untuned)} ms in kernels without a tuning space)", flush=True)


def _print_result(tasks: list[ModelTask], schedule, path) -> None:
    print(f"{'task':<44} {'ms/step':>8} {'trials':>6} {'first (ms)':>10} {'best (ms)':>10}", flush=True)
    for task, state in zip(tasks, schedule.tasks):
        first = _ms(state.first_s) if state.first_s is not None else "-"
        best = _ms(state.best_s) if state.best_s is not None else "-"
        print(f"{task.label:<44} {_ms(task.seconds):>8} {state.trials:>6} {first:>10} {best:>10}", flush=True)
    print(f"{schedule.measured} trials in {len(schedule.rounds)} rounds; database: {path}", flush=True)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"
