"""What the frontend's thread safety costs a training step: the steps of ``train_step.py`` (MLP
784-256-10 b128 by default) run with the locks (the lazy graph's realize lock,
:data:`frontend.lazy_graph._lock`, and the kernel cache's, ``dispatch.cache._lock``) and with
both replaced by a lock that does nothing, round by round in one process (the order of the two
alternating from round to round).

Each row gives the median step time of both (``nestor_s``: with the locks; ``peer_s``: without;
``ratio`` = without / with, 1.0 when the locks cost nothing), the spread of each and the kernels
per step of both (they must agree: the locks change no plan). As timings on a busy machine
spread more than the locks can cost, the row also gives the count that does not depend on load:
the lock acquisitions per step (``acquisitions_per_step``), the cost of one uncontended
acquisition (``acquire_ns``, a tight loop) and their product as a fraction of the step
(``lock_fraction``).

    python benchmarks/lock_overhead.py [--json] [--repeat N] [--only mlp|cnn|lstm]
"""

from __future__ import annotations

import contextlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.harness import SETTLE, Report, _round, _spread, calls_per_round, parser  # noqa: E402
from benchmarks.train_step import CASES, _kernels, _step_fns  # noqa: E402


class _NoLock:
    """A lock that does nothing (the frontend as it was before it took locks)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        return None


class _Counting:
    """A lock that counts its acquisitions and takes ``lock``."""

    def __init__(self, lock) -> None:
        self.lock, self.count = lock, 0

    def __enter__(self) -> None:
        self.count += 1
        self.lock.__enter__()

    def __exit__(self, *exc) -> None:
        self.lock.__exit__(*exc)


def _acquisitions(step, steps: int = 5) -> float:
    """Lock acquisitions per step (both locks)."""
    from frontend import dispatch, lazy_graph

    saved = lazy_graph._lock, dispatch.cache._lock
    lazy_graph._lock, dispatch.cache._lock = _Counting(saved[0]), _Counting(saved[1])
    try:
        for _ in range(steps):
            step()
        return (lazy_graph._lock.count + dispatch.cache._lock.count) / steps
    finally:
        lazy_graph._lock, dispatch.cache._lock = saved


def _acquire_seconds(count: int = 200_000) -> float:
    """Seconds per uncontended ``with lock:`` of a re-entrant lock (median of 5 loops)."""
    import statistics
    import threading
    import time

    lock, rounds = threading.RLock(), []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(count):
            with lock:
                pass
        rounds.append((time.perf_counter() - start) / count)
    return statistics.median(rounds)


@contextlib.contextmanager
def _unlocked():
    from frontend import dispatch, lazy_graph

    saved = lazy_graph._lock, dispatch.cache._lock
    lazy_graph._lock = dispatch.cache._lock = _NoLock()
    try:
        yield
    finally:
        lazy_graph._lock, dispatch.cache._lock = saved


def _without_locks(step):
    def run():
        with _unlocked():
            return step()

    return run


def _alternating(first, second, repeat: int, min_round: float = 0.05) -> list[tuple[float, float]]:
    """``(median seconds per call, spread)`` of both, timed in rounds whose order alternates
    (first-second, then second-first), so neither always runs right after the pause."""
    import statistics
    import time

    number = calls_per_round((first, second), min_round)
    samples: list[list[float]] = [[], []]
    for round_number in range(repeat):
        order = [(first, 0), (second, 1)] if round_number % 2 == 0 else [(second, 1), (first, 0)]
        for fn, slot in order:
            time.sleep(SETTLE)
            samples[slot].append(_round(fn, number))
    return [(statistics.median(times), _spread(times)) for times in samples]


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--only", choices=sorted(CASES), action="append", help="run only these cases")
    args = p.parse_args(argv)
    report = Report("lock_overhead", args.json)
    for kind in args.only or ["mlp"]:
        label, shape = CASES[kind]
        locked, _, _ = _step_fns(kind, shape, np.random.default_rng(0))
        unlocked = _without_locks(locked)
        kernels = _kernels(locked), _kernels(unlocked)
        acquisitions, acquire_s = _acquisitions(locked), _acquire_seconds()
        (with_s, with_spread), (without_s, without_spread) = _alternating(locked, unlocked, args.repeat)
        report.add(label, with_s, "no locks", without_s, spread=with_spread, peer_spread=without_spread,
                   kernels_per_step=kernels[0], kernels_per_step_unlocked=kernels[1],
                   acquisitions_per_step=acquisitions, acquire_ns=acquire_s * 1e9,
                   lock_fraction=acquisitions * acquire_s / with_s)


if __name__ == "__main__":
    main()
