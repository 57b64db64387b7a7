"""Plots of a task's tuning records (matplotlib, an optional dependency: ``pip install nestor[tune]``):
best run time so far against trials, one line per tuning run, and each knob's sensitivity (the
best time reached with each of its values)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from tensorir.atomic import atomic_write

from .database import Record
from .errors import TuningError


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise TuningError("plotting needs matplotlib: pip install 'nestor[tune]' (or pip install matplotlib)") \
            from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def best_so_far(records: list[Record]) -> list[float | None]:
    """The best run time after each record (None until the first correct one)."""
    best, curve = None, []
    for record in records:
        if record.ok and (best is None or record.run_s < best):
            best = record.run_s
        curve.append(best)
    return curve


def sensitivity(records: list[Record]) -> dict[str, dict[object, float]]:
    """For each keyword argument that took several values: value -> best run time with it."""
    table: dict[str, dict[object, float]] = defaultdict(dict)
    for record in records:
        if not record.ok:
            continue
        for name, value in record.kwargs.items():
            held = table[name].get(value)
            if held is None or record.run_s < held:
                table[name][value] = record.run_s
    return {name: dict(sorted(values.items(), key=_value_order)) for name, values in table.items() if len(values) > 1}


def _value_order(item: tuple) -> tuple:
    value = item[0]
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def plot_records(records: list[Record], path: str | Path, title: str = "") -> Path:
    """Write a PNG of ``records`` (one task's) to ``path``; return the path.

    Parameters
    ----------
    records
        The task's records in measurement order (from :meth:`Database.records`).
    path
        The PNG file to write.
    title
        The figure title (e.g. the operator and its sizes).
    """
    if not records:
        raise TuningError("nothing to plot: the database has no record of this task")
    plt = _pyplot()
    knobs = sensitivity(records)
    columns = max(1, len(knobs))
    figure = plt.figure(figsize=(max(8.0, 2.6 * columns), 7.5), constrained_layout=True)
    grid = figure.add_gridspec(2, columns, height_ratios=[1.4, 1.0])
    _plot_progress(figure.add_subplot(grid[0, :]), records)
    for column, (name, values) in enumerate(knobs.items()):
        axes = figure.add_subplot(grid[1, column])
        labels = [str(v) for v in values]
        axes.bar(labels, [t * 1e3 for t in values.values()], color="tab:blue")
        axes.set_yscale("log")
        axes.set_title(name, fontsize=10)
        axes.set_ylabel("best time (ms)" if column == 0 else "")
        axes.tick_params(axis="x", labelrotation=45, labelsize=8)
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def _plot_progress(axes, records: list[Record]) -> None:
    """Best time so far against the trial number, a line per tuning run; failed trials marked."""
    runs: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        runs[record.session].append(record)
    for session, run in runs.items():
        curve = best_so_far(run)
        trials = [n + 1 for n, value in enumerate(curve) if value is not None]
        label = f"{run[0].tuner or 'tuner'} ({session[:6]}, {len(run)} trials)"
        axes.step(trials, [curve[n - 1] * 1e3 for n in trials], where="post", label=label)
        failed = [n + 1 for n, r in enumerate(run) if not r.ok and curve[n] is not None]
        if failed:
            axes.plot(failed, [curve[n - 1] * 1e3 for n in failed], "x", color="tab:red", markersize=5)
    axes.set_yscale("log")
    axes.set_xlabel("trials")
    axes.set_ylabel("best time so far (ms)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)


def plot_convergence(tasks: dict[str, list[Record]], path: str | Path, title: str = "tuning convergence") -> Path:
    """Write a PNG of each task's convergence to ``path``: its best time so far, relative to its
    best, against trials (a line per task, so tasks of any size share the axes); return the path.

    Parameters
    ----------
    tasks
        A label -> the task's records in measurement order.
    path
        The PNG file to write.
    title
        The figure title.
    """
    curves = {label: best_so_far(records) for label, records in tasks.items()}
    curves = {label: curve for label, curve in curves.items() if any(v is not None for v in curve)}
    if not curves:
        raise TuningError("nothing to plot: the database has no correct record")
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9.0, 5.5), constrained_layout=True)
    for label, curve in curves.items():
        final = curve[-1]
        trials = [n + 1 for n, value in enumerate(curve) if value is not None]
        axes.step(trials, [curve[n - 1] / final for n in trials], where="post", label=f"{label} ({len(curve)})")
    axes.set_yscale("log")
    axes.set_xlabel("trials")
    axes.set_ylabel("best time so far / task's best")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    axes.set_title(title)
    return _save(figure, path)


def _save(figure, path) -> Path:
    """Write ``figure`` to ``path`` atomically (the format from its suffix, PNG without one)."""
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        figure.savefig(handle, dpi=100, format=path.suffix.lstrip(".") or "png")
    plt.close(figure)
    return path
