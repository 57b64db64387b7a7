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


#: seconds of quiet before each timed round: a threaded library keeps its worker threads spinning
#: for a while after a call (OpenBLAS about 0.1 s, libgomp less), and they would take the cores
#: from the round that follows
SETTLE = float(os.environ.get("NESTOR_BENCH_SETTLE", "0.3"))


def compare(nestor: Callable[[], object], peer: Callable[[], object], repeat: int = 7,
            min_round: float = 0.05, settle: float | None = None) -> tuple[float, float, float, float]:
    """Median seconds per call of ``nestor`` and ``peer`` (rounds interleaved, each after a
    pause of ``settle`` seconds) and their spreads."""
    settle = SETTLE if settle is None else settle
    nestor(), peer()  # warm-up: first-touch memory, lazy initialisation
    once = max(_round(nestor, 1), _round(peer, 1), 1e-7)
    number = max(1, int(min_round / once))
    ours, theirs = [], []
    for _ in range(repeat):
        time.sleep(settle)
        ours.append(_round(nestor, number))
        time.sleep(settle)
        theirs.append(_round(peer, number))
    return statistics.median(ours), statistics.median(theirs), _spread(ours), _spread(theirs)


def compare_all(nestor: Callable[[], object], peers: dict[str, Callable[[], object]], repeat: int = 7,
                min_round: float = 0.05, settle: float | None = None) -> tuple[float, float, dict[str, tuple]]:
    """:func:`compare` with several peers, all interleaved in each round: Nestor's median and
    spread, and each peer's ``(median, spread)`` by name."""
    settle = SETTLE if settle is None else settle

    def wall(fn, number: int) -> float:
        time.sleep(settle)
        return _round(fn, number)

    return _interleaved(nestor, peers, repeat, min_round, wall)


def compare_all_cpu(nestor: Callable[[], object], peers: dict[str, Callable[[], object]], repeat: int = 7,
                    threads: int = 1, min_round: float = 0.05) -> tuple[float, float, dict[str, tuple]]:
    """:func:`compare_all` on the process's CPU seconds over ``threads`` instead of the wall
    clock: the work each side does (waiting OpenMP threads asleep, ``OMP_WAIT_POLICY=passive``),
    much less disturbed on a machine shared with other jobs, blind to idle cores and to load
    imbalance between the threads."""
    def cpu(fn, number: int) -> float:
        start = time.process_time()
        for _ in range(number):
            fn()
        return (time.process_time() - start) / number / threads

    return _interleaved(nestor, peers, repeat, min_round, cpu)


def _interleaved(nestor, peers: dict, repeat: int, min_round: float,
                 timed: Callable[[Callable[[], object], int], float]) -> tuple[float, float, dict[str, tuple]]:
    """Each side warmed up, then ``repeat`` rounds of all sides in turn, each round ``timed(fn,
    number)`` seconds a call over enough calls to fill ``min_round``: Nestor's median and
    spread, and each peer's ``(median, spread)`` by name."""
    sides = {"": nestor, **peers}
    for fn in sides.values():
        fn()  # warm-up
    once = max(max(_round(fn, 1) for fn in sides.values()), 1e-7)
    number = max(1, int(min_round / once))
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeat):
        for name, fn in sides.items():
            samples[name].append(timed(fn, number))
    ours = samples.pop("")
    return (statistics.median(ours), _spread(ours),
            {name: (statistics.median(times), _spread(times)) for name, times in samples.items()})


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
