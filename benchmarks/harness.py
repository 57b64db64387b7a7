"""The benchmark contract: a workload and its peer timed in the same process, interleaved, after a
warm-up, repeated; a table by default, one JSON object per case with ``--json``."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# numpy's OpenBLAS picks its kernels itself when these are unset
for _name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_name, None)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print one JSON object per case")
    p.add_argument("--repeat", type=int, default=7, help="timed rounds per side (median reported)")
    return p


def _round(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def _wake(fn: Callable[[], object], number: int) -> None:
    """Untimed calls before a timed round of ``number`` calls: a fifth as many, at least one.
    The pause before a round puts each side's thread team to sleep; under load the first call
    or two after it waited milliseconds for a woken thread to get a core (256^3 on 2 threads,
    load 3: 6.9 and 5.8 ms, then 0.2 ms a call), a quarter of a 50 ms round."""
    for _ in range(max(1, number // 5)):
        fn()


#: seconds each side is called before its call time is taken (:func:`steady_call`)
WARM_UP = 0.25
#: single calls whose median is a side's call time (:func:`steady_call`)
PROBE_CALLS = 5


def steady_call(fn: Callable[[], object]) -> float:
    """Seconds of one call of ``fn`` once it runs steadily: called for :data:`WARM_UP` seconds
    (at least three times) first, then the median of :data:`PROBE_CALLS` single calls.

    A library's first calls can be far slower than its later ones: PyTorch 2.13's first six
    256^3 products took 12-16 ms each, then 0.2 ms. Rounds sized from such a call held three
    calls (not 160), and each round after its pause timed the thread teams' wake-up, not the
    product: Nestor's worker, asleep after the pause, joined none of them (0.31 ms a call, the
    one-thread time, against 0.16 ms in rounds of 160 calls)."""
    start, done = time.perf_counter(), 0
    while done < 3 or time.perf_counter() - start < WARM_UP:
        fn()
        done += 1
    return max(statistics.median(_round(fn, 1) for _ in range(PROBE_CALLS)), 1e-7)


def calls_per_round(sides, min_round: float) -> int:
    """Calls per timed round: enough for the slowest of ``sides`` to fill ``min_round`` seconds,
    each side's call timed as it runs steadily (:func:`steady_call`)."""
    return max(1, int(min_round / max(steady_call(fn) for fn in sides)))


#: seconds of quiet before each timed round: a threaded library keeps its worker threads spinning
#: for a while after a call (OpenBLAS about 0.1 s, libgomp less), and they would take the cores
#: from the round that follows
SETTLE = float(os.environ.get("NESTOR_BENCH_SETTLE", "0.3"))


def compare(nestor: Callable[[], object], peer: Callable[[], object], repeat: int = 7,
            min_round: float = 0.05, settle: float | None = None) -> tuple[float, float, float, float]:
    """Median seconds per call of ``nestor`` and ``peer`` (rounds interleaved, each after a
    pause of ``settle`` seconds) and their spreads."""
    settle = SETTLE if settle is None else settle
    number = calls_per_round((nestor, peer), min_round)
    ours, theirs = [], []
    for _ in range(repeat):
        for fn, samples in ((nestor, ours), (peer, theirs)):
            time.sleep(settle)
            _wake(fn, number)
            samples.append(_round(fn, number))
    return statistics.median(ours), statistics.median(theirs), _spread(ours), _spread(theirs)


def compare_all(nestor: Callable[[], object], peers: dict[str, Callable[[], object]], repeat: int = 7,
                min_round: float = 0.05, settle: float | None = None) -> tuple[float, float, dict[str, tuple]]:
    """:func:`compare` with several peers, all interleaved in each round: Nestor's median and
    spread, and each peer's ``(median, spread)`` by name (:func:`rounds_all` gives the rounds)."""
    return rounds_all(nestor, peers, repeat, min_round, settle).summary()


def compare_all_cpu(nestor: Callable[[], object], peers: dict[str, Callable[[], object]], repeat: int = 7,
                    threads: int = 1, min_round: float = 0.05) -> tuple[float, float, dict[str, tuple]]:
    """:func:`compare_all` on the process's CPU seconds over ``threads`` instead of the wall
    clock: the work each side does (waiting OpenMP threads asleep, ``OMP_WAIT_POLICY=passive``),
    much less disturbed on a machine shared with other jobs, blind to idle cores and to load
    imbalance between the threads (:func:`rounds_all_cpu` gives the rounds)."""
    return rounds_all_cpu(nestor, peers, repeat, threads, min_round).summary()


def rounds_all(nestor: Callable[[], object], peers: dict[str, Callable[[], object]], repeat: int = 7,
               min_round: float = 0.05, settle: float | None = None) -> Rounds:
    """The wall-clock rounds of :func:`compare_all`: each round of a side starts after ``settle``
    seconds of quiet and untimed calls (:func:`_wake`)."""
    settle = SETTLE if settle is None else settle

    def wall(fn, number: int) -> float:
        time.sleep(settle)
        _wake(fn, number)
        return _round(fn, number)

    return _interleaved(nestor, peers, repeat, min_round, wall)


def rounds_all_cpu(nestor: Callable[[], object], peers: dict[str, Callable[[], object]], repeat: int = 7,
                   threads: int = 1, min_round: float = 0.05) -> Rounds:
    """The CPU-time rounds of :func:`compare_all_cpu`."""
    def cpu(fn, number: int) -> tuple[float, float]:
        _wake(fn, number)
        start, wall = time.process_time(), time.perf_counter()
        for _ in range(number):
            fn()
        seconds, wall = (time.process_time() - start) / number / threads, (time.perf_counter() - wall) / number
        return seconds, seconds / wall if wall > 0 else 1.0

    return _interleaved(nestor, peers, repeat, min_round, cpu)


#: calls shorter than this get :data:`SHORT_ROUNDS` times the rounds asked for: a stall of a few
#: milliseconds (another process on a core, a thread woken late) is a large share of such a
#: round, and only more rounds let the median step over the disturbed ones
SHORT_CALL = 0.02
SHORT_ROUNDS = 3


@dataclass(frozen=True)
class Rounds:
    """Seconds per call of each side in each interleaved round, Nestor's under ``""``."""

    samples: dict[str, list[float]]
    #: CPU-time rounds only: each side's CPU seconds over the threads times the wall seconds, per
    #: round; below 1.0 its threads sat idle (waiting for each other, or held off a core) for
    #: that share of the round (a library whose threads busy-wait, as OpenBLAS's, stays near 1.0)
    busy: dict[str, list[float]] = field(default_factory=dict)

    def busy_share(self, side: str = "") -> float | None:
        """The median of :attr:`busy` for ``side``, None for wall-clock rounds."""
        return statistics.median(self.busy[side]) if self.busy.get(side) else None

    def median(self, side: str = "") -> float:
        return statistics.median(self.samples[side])

    def spread(self, side: str = "") -> float:
        """The relative interquartile spread of one side's rounds (:func:`_spread`)."""
        return _spread(self.samples[side])

    def peers(self) -> list[str]:
        return [name for name in self.samples if name]

    def summary(self) -> tuple[float, float, dict[str, tuple]]:
        """Nestor's median and spread, and each peer's ``(median, spread)`` by name."""
        return self.median(), self.spread(), {name: (self.median(name), self.spread(name)) for name in self.peers()}

    def paired_ratios(self, peer: str) -> list[float]:
        """``peer``'s time over Nestor's in each round: both measured within the same seconds, so
        a stall that hits the whole machine cancels out."""
        return [theirs / ours for ours, theirs in zip(self.samples[""], self.samples[peer])]

    def ratio_quartiles(self, peer: str) -> tuple[float, float, float]:
        """The first quartile, median and third quartile of :meth:`paired_ratios`."""
        ratios = self.paired_ratios(peer)
        if len(ratios) < 2:
            return ratios[0], ratios[0], ratios[0]
        q1, q2, q3 = statistics.quantiles(ratios, n=4)
        return q1, q2, q3


def _interleaved(nestor, peers: dict, repeat: int, min_round: float,
                 timed: Callable[[Callable[[], object], int], float | tuple[float, float]]) -> Rounds:
    """Each side warmed up, then ``repeat`` rounds of all sides in turn (:data:`SHORT_ROUNDS`
    times as many where the fastest side's call is under :data:`SHORT_CALL` seconds), each
    round ``timed(fn, number)`` seconds a call over enough calls to fill ``min_round``."""
    sides = {"": nestor, **peers}
    calls = [steady_call(fn) for fn in sides.values()]
    number = max(1, int(min_round / max(calls)))
    rounds = repeat * SHORT_ROUNDS if min(calls) < SHORT_CALL else repeat  # the fastest side, as it is least disturbed
    samples: dict[str, list[float]] = {name: [] for name in sides}
    busy: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            result = timed(fn, number)
            seconds, share = result if isinstance(result, tuple) else (result, None)
            samples[name].append(seconds)
            if share is not None:
                busy[name].append(share)
    return Rounds(samples, {name: shares for name, shares in busy.items() if shares})


def _spread(samples: list[float]) -> float:
    """Relative interquartile spread, a noise figure."""
    q = statistics.quantiles(samples, n=4) if len(samples) >= 2 else [samples[0]] * 3
    return (q[2] - q[0]) / statistics.median(samples)


class Report:
    def __init__(self, bench: str, as_json: bool):
        self.bench, self.as_json, self.rows = bench, as_json, []

    def add(self, case: str, nestor_s: float, peer: str, peer_s: float, **extra) -> None:
        row = {"bench": self.bench, "case": case, "nestor_s": nestor_s, "peer": peer, "peer_s": peer_s,
               "ratio": peer_s / nestor_s if nestor_s else float("inf"), **extra}
        self.rows.append(row)
        if self.as_json:
            print(json.dumps(row), flush=True)
        else:
            extras = "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in extra.items())
            print(f"{self.bench:<14} {case:<28} nestor {nestor_s * 1e3:9.3f} ms   {peer:<22} "
                  f"{peer_s * 1e3:9.3f} ms   ratio {row['ratio']:5.2f}  {extras}", flush=True)


def report_fused_pairs(benchmark: str, description: str, cases: Callable[[], dict], peer: str) -> None:
    """The main of a benchmark of fused frontend kernels: each case of ``cases()`` is a pair
    ``(fused, separate)`` of calls, timed interleaved under ``no_grad`` and reported as one row."""
    args = parser(description).parse_args()
    import frontend as nf

    report = Report(benchmark, args.json)
    with nf.no_grad():
        for case, (fused, separate) in cases().items():
            ours, theirs, spread_ours, spread_theirs = compare(fused, separate, repeat=args.repeat)
            report.add(case, ours, peer, theirs, spread=max(spread_ours, spread_theirs))


def main_guard(run: Callable[[argparse.Namespace], None], description: str) -> None:
    args = parser(description).parse_args()
    try:
        run(args)
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
