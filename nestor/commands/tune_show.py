"""``nestor tune show``: what the tuning database holds, a row per task and hardware (trials, errors,
best time, GFLOP/s from the template's flop count), and with ``--plot`` the convergence of every
task (best time so far, relative to the task's best, against trials).

    nestor tune show [--db PATH] [--plot convergence.png]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskRow:
    """One task of the database on one machine."""

    op: str
    shapes: tuple[int, ...]
    dtype: str
    target: str
    hardware: str
    trials: int
    errors: int
    best_s: float | None
    gflops: float | None

    @property
    def name(self) -> str:
        return f"{self.op} {'x'.join(map(str, self.shapes))}"


def _flops(op: str, shapes: tuple, options: dict) -> float | None:
    """The template's flop count of one call, or None for a template not registered here."""
    from schedules.autotune import TuningError, resolve_template

    try:
        spec = resolve_template(op)
        return spec.flops(shapes, spec.task_options(options)) if spec.flops else None
    except (TuningError, TypeError, ValueError, KeyError, ZeroDivisionError):
        return None


def task_rows(database) -> list[tuple[TaskRow, list]]:
    """Every task of ``database`` with its records, ordered by operator, sizes, dtype, hardware."""
    rows = []
    for task in database.tasks():
        records = database.records(task["op"], task["shapes"], task["dtype"], task["target"], task["options"],
                                   task["hardware"])
        good = [r.run_s for r in records if r.ok]
        best = min(good) if good else None
        flops = _flops(task["op"], task["shapes"], task["options"])
        row = TaskRow(task["op"], task["shapes"], task["dtype"], task["target"], task["hardware"], len(records),
                      len(records) - len(good), best, flops / best / 1e9 if flops and best else None)
        rows.append((row, records))
    rows.sort(key=lambda pair: (pair[0].op, pair[0].shapes, pair[0].dtype, pair[0].target, pair[0].hardware))
    return rows


def format_table(rows: list[TaskRow]) -> str:
    """The rows as aligned text, one line per task."""
    width = max([len("task")] + [len(r.name) for r in rows])
    lines = [f"{'task':<{width}}  {'dtype':<7}  {'target':<6}  {'trials':>6}  {'errors':>6}  {'best (ms)':>10}  "
             f"{'GFLOP/s':>8}  hardware"]
    for r in rows:
        best = f"{r.best_s * 1e3:10.3f}" if r.best_s is not None else f"{'-':>10}"
        gflops = f"{r.gflops:8.1f}" if r.gflops is not None else f"{'-':>8}"
        lines.append(f"{r.name:<{width}}  {r.dtype:<7}  {r.target:<6}  {r.trials:>6}  {r.errors:>6}  {best}  "
                     f"{gflops}  {r.hardware}")
    return "\n".join(lines)


def show_command(args) -> int:
    """``nestor tune show``: the table, and the convergence plot with ``--plot``."""
    from schedules import autotune
    from schedules.autotune.plot import plot_convergence

    with autotune.Database(args.db) as database:
        rows = task_rows(database)
        if not rows:
            raise autotune.TuningError(f"nestor tune show: the database {database.path} has no record yet; "
                                       "tune a task first (nestor tune matmul --shape 64,64,64)")
        print(format_table([row for row, _ in rows]), flush=True)
        if args.plot:
            curves = {f"{row.name} {row.dtype} ({row.hardware})": records for row, records in rows}
            print(f"plot: {plot_convergence(curves, args.plot)}", file=sys.stdout, flush=True)
    return 0
