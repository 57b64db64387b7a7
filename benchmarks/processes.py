"""The spread of a benchmark across fresh processes.

One process of a benchmark reports the medians of its interleaved rounds, but separate processes
of the same step loop have landed far apart (the train step: about 1.3 or 1.65 ms for the MLP in
one sitting), so one process's figure says little about the next. :func:`run_processes` runs a
benchmark's case in ``n`` fresh processes, one after another, each with ``--json``, and
:func:`combine` makes one row of their rows: the median of the per-process medians as
``nestor_s`` and ``peer_s`` (the benchmarks' JSON contract), and beside them every process's
figures and their minimum and maximum.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

#: the fields of a child's row that are one process's timing, gathered per process by :func:`combine`
TIMED = ("nestor_s", "peer_s", "x_torch", "timed_step_ms", "main_cpu_ms")


def child_command(script: str, argv: list[str]) -> list[str]:
    """The command line of one child: ``script`` with ``argv`` less ``--processes N`` and ``--json``,
    then ``--json``."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--processes":
            skip = True
        elif not arg.startswith("--processes=") and arg != "--json":
            kept.append(arg)
    return [sys.executable, script, *kept, "--json"]


def run_processes(command: list[str], n: int, timeout: float = 1800.0) -> list[dict]:
    """The JSON rows printed by ``n`` runs of ``command``, run one after another (each its own
    fresh process, so each lays out its memory and starts its threads anew)."""
    runs = []
    for index in range(n):
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=dict(os.environ))
        if done.returncode != 0:
            raise SystemExit(f"process {index + 1} of {n} ({' '.join(command)}) failed with exit status "
                             f"{done.returncode}:\n{done.stderr[-2000:]}")
        rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        if not rows:
            raise SystemExit(f"process {index + 1} of {n} ({' '.join(command)}) printed no JSON row")
        runs.append(rows)
    return runs


def combine(rows: list[dict]) -> dict:
    """One row from the rows of one case in several processes: ``nestor_s``/``peer_s`` the medians
    of the per-process medians (``ratio`` from them, ``x_torch`` the median of the per-process
    ratios where the rows have it), each timed field per process (``per_process_<field>``) with its
    ``<field>_min``/``<field>_max``, and the other fields of the process whose ``nestor_s`` is the
    median (its kernel counts, breakdown and compile times)."""
    if not rows:
        raise ValueError("combine: no rows; run at least one process")
    order = sorted(rows, key=lambda row: row["nestor_s"])
    row = dict(order[(len(order) - 1) // 2])
    row["processes"] = len(rows)
    for name in TIMED:
        if all(name in r for r in rows):
            values = [r[name] for r in rows]
            row[name] = statistics.median(values)
            row[f"per_process_{name}"] = values
            row[f"{name}_min"], row[f"{name}_max"] = min(values), max(values)
    row["ratio"] = row["peer_s"] / row["nestor_s"] if row["nestor_s"] else float("inf")
    return row


def by_case(runs: list[list[dict]]) -> dict[str, list[dict]]:
    """The rows of several processes grouped by case, in the order the first process printed them."""
    cases: dict[str, list[dict]] = {}
    for rows in runs:
        for row in rows:
            cases.setdefault(row["case"], []).append(row)
    return cases
