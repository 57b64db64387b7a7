"""``nestor tune``: search a template's knobs for the fastest config, record every candidate in the
tuning database, show progress and a table of the best, and plot the search.

    nestor tune matmul --shape 1024,1024,1024 --target llvm --trials 64 [--tuner model|random|grid]
                       [--db PATH] [--timeout S] [--time 10m] [--no-transfer] [--plot out.png]
                       [--ray auto|ADDRESS]
    nestor tune --plot out.png        # plot the most recently tuned task of the database
    nestor tune model mlp|cnn --trials 256   # every kernel of a training step (see tune_model.py)
    nestor tune show [--db PATH] [--plot convergence.png]   # every task: trials, best, GFLOP/s
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .arguments import duration, finite_positive_float, non_negative_int, positive_int, shape
from .tune_model import add_arguments as add_model_arguments

#: element types a template can be tuned for
DTYPES = ("float32", "float64", "int32", "int64")


class ProgressBar:
    """One status line (redrawn in place on a terminal, a line per trial otherwise)."""

    def __init__(self, total: int, flops: float | None, stream=None, width: int = 24):
        self.total, self.flops, self.width = total, flops, width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._open_line = False

    def __call__(self, progress) -> None:
        filled = int(self.width * progress.done / max(1, progress.total))
        bar = "#" * filled + "." * (self.width - filled)
        best = "best -" if progress.best_s is None else f"best {_ms(progress.best_s)} ms{self._gflops(progress.best_s)}"
        minutes, seconds = divmod(int(progress.elapsed), 60)
        line = (f"[{bar}] {progress.done}/{progress.total}  {best}  errors {progress.errors}  "
                f"{minutes}:{seconds:02d}{_cluster(progress)}")
        if self.tty:
            self.stream.write("\r" + line)
            self._open_line = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False

    def _gflops(self, seconds: float) -> str:
        return f" ({self.flops / seconds / 1e9:.1f} GFLOP/s)" if self.flops and seconds else ""


def _cluster(progress) -> str:
    """Nodes and trials per minute, for a distributed run."""
    nodes = getattr(progress, "nodes", None)
    if nodes is None:
        return ""
    rate = 60.0 * progress.done / progress.elapsed if progress.elapsed > 0 else 0.0
    return f"  nodes {nodes}  {rate:.1f} trials/min"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def _parse_options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            from schedules.autotune import TuningError

            raise TuningError(f"--option {pair!r}: write NAME=VALUE, e.g. --option transpose_b=false")
        try:
            options[name] = json.loads(value.lower() if value.lower() in ("true", "false") else value)
        except json.JSONDecodeError:
            options[name] = value
    return options


def print_table(records, flops: float | None, top: int, stream=None) -> None:
    """The ``top`` fastest correct records, fastest first."""
    stream = stream or sys.stdout
    ranked = sorted((r for r in records if r.ok), key=lambda r: r.run_s)[:top]
    if not ranked:
        print("no correct candidate was measured", file=stream, flush=True)
        return
    header = f"{'rank':>4}  {'time (ms)':>10}  {'GFLOP/s':>8}  {'noise':>6}  config"
    print(header, file=stream, flush=True)
    for rank, record in enumerate(ranked, 1):
        gflops = f"{flops / record.run_s / 1e9:8.1f}" if flops else f"{'-':>8}"
        noise = f"{record.noise * 100:5.1f}%" if record.noise is not None else f"{'-':>6}"
        config = " ".join(f"{k}={v}" for k, v in record.kwargs.items())
        print(f"{rank:>4}  {_ms(record.run_s):>10}  {gflops}  {noise}  {config}", file=stream, flush=True)


def _summary(result, database) -> str:
    minutes, seconds = divmod(int(result.elapsed), 60)
    size = f"{result.space_size} valid configs" if result.space_size else "a space too large to enumerate"
    return (f"space: {size}; measured {len(result.records)} in {minutes}:{seconds:02d} "
            f"({result.trials_per_minute:.1f} trials/min), {result.errors} errors; stopped: {result.stopped}; "
            f"database: {database.path}\nlater builds use it: ns.autotune.apply_best({result.op!r}, "
            f"{tuple(result.sizes)}) or ns.autotune.lookup_config(...) for the keyword arguments")


def _check_plot(args: argparse.Namespace) -> None:
    """A ``--plot`` file that cannot be written is refused before tuning, not after it."""
    from schedules.autotune import TuningError

    if not args.plot:
        return
    path, where = Path(args.plot), f"--plot {args.plot}"
    if path.is_dir():
        raise TuningError(f"{where}: {path} is a folder; give a file name, e.g. {path / 'tuning.png'}")
    try:  # the plot would make its folder after tuning: make it now, or say why it cannot be
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TuningError(f"{where}: cannot make the folder {path.parent} ({error.strerror}); give another "
                          "path") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise TuningError(f"{where}: the folder {path.parent} is not writable; give another path")


def tune_command(args: argparse.Namespace) -> int:
    from schedules import autotune
    from schedules.autotune.plot import plot_records

    _check_plot(args)
    if args.op == "show":
        from .tune_show import show_command

        if args.model is not None:
            raise autotune.TuningError(f"nestor tune show: unexpected argument {args.model!r}; it shows every "
                                       "task of the database (choose it with --db PATH)")

        return show_command(args)
    if args.op == "model":
        from .tune_model import tune_model

        return tune_model(args)
    if args.model is not None:
        raise autotune.TuningError(f"nestor tune {args.op}: unexpected argument {args.model!r} (only "
                                   "`nestor tune model mlp|cnn` takes a second name)")
    if args.op is None:
        if not args.plot:
            raise autotune.TuningError("nestor tune: name an operator (e.g. nestor tune matmul --shape 64,64,64) "
                                       "or give --plot PNG to plot the latest tuned task")
        return _plot_latest(args)
    if args.shape is None:
        raise autotune.TuningError(f"nestor tune {args.op}: give the sizes with --shape, e.g. --shape 1024,1024,1024")
    spec = autotune.resolve_template(args.op, args.target)
    options = spec.task_options(_parse_options(args.option))
    with autotune.Database(args.db) as database:
        if args.trials > 0:
            _tune(args, spec, options, database)
        records = _valid(database, spec, args, options)
        flops = spec.flops(spec.check_sizes(args.shape), options) if spec.flops else None
        print_table(records, flops, args.top)
        if args.plot:
            title = f"{spec.name} {','.join(map(str, args.shape))} {args.dtype} on {args.target}"
            print(f"plot: {plot_records(records, args.plot, title)}", flush=True)
    return 0


def _valid(database, spec, args, options: dict) -> list:
    """The task's records that are valid points of its space (others are skipped with a warning)."""
    from schedules import autotune
    from schedules.autotune.driver import task_space
    from schedules.autotune.validate import valid_records

    records = database.records(spec.name, args.shape, args.dtype, args.target, options,
                               autotune.hardware_fingerprint(args.target))
    space = task_space(spec, spec.check_sizes(args.shape), args.dtype, options)
    return [record for record, _ in valid_records(database.path, spec, space, records)]


def _tune(args, spec, options: dict, database) -> None:
    from schedules import autotune

    flops = spec.flops(spec.check_sizes(args.shape), options) if spec.flops else None
    bar = ProgressBar(args.trials, flops)
    executor = _executor(args)
    where = f" on the Ray cluster {args.ray}" if executor else ""
    print(f"tuning {spec.name} {list(args.shape)} {args.dtype} on {args.target} with the {args.tuner} tuner, "
          f"{args.trials} trials{where}", file=sys.stderr)
    try:
        result = autotune.tune(spec, args.shape, dtype=args.dtype, target=args.target, trials=args.trials,
                               tuner=args.tuner, db=database, timeout=args.timeout, time_budget=args.time_budget,
                               early_stopping=args.early_stop, n_parallel=args.parallel, options=options,
                               seed=args.seed, progress=bar, executor=executor, transfer=args.transfer)
    finally:
        bar.close()
        if executor:
            executor.close()
    if result.transferred:
        print(f"transfer: the cost model started from {result.transferred} records of other shapes",
              file=sys.stderr)
    print(_summary(result, database), file=sys.stderr)


def _executor(args):
    """``--ray ADDRESS``: a Ray executor (which says how to install Ray where it is missing)."""
    if getattr(args, "ray", None) is None:
        return None
    from schedules.autotune.ray_executor import RayExecutor

    return RayExecutor(args.ray)


def _plot_latest(args) -> int:
    from schedules import autotune
    from schedules.autotune.plot import plot_records

    with autotune.Database(args.db) as database:
        tasks = database.tasks()
        if not tasks:
            raise autotune.TuningError(f"nestor tune --plot: the database {database.path} has no record yet")
        task = tasks[0]
        records = database.records(task["op"], task["shapes"], task["dtype"], task["target"], task["options"],
                                   task["hardware"])
        title = f"{task['op']} {','.join(map(str, task['shapes']))} {task['dtype']} on {task['target']}"
        print(f"plot: {plot_records(records, args.plot, title)}", flush=True)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("tune", help="search a template's knobs for the fastest config (tuning database)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("op", nargs="?", help="operator or template: matmul, conv2d, matmul_cpu, conv2d_cpu, matmul_gpu, "
                   "matmul_layout, matmul_dot; or `model` (whole-model tuning) or `show` (the database's tasks)")
    p.add_argument("--shape", type=shape, help="the template's sizes, e.g. 1024,1024,1024 (matmul m,n,k)")
    p.add_argument("--target", default="llvm", choices=["llvm", "cuda"], help="backend (default llvm)")
    p.add_argument("--dtype", default="float32", choices=DTYPES, help="element type (default float32)")
    p.add_argument("--trials", type=non_negative_int, default=64,
                   help="candidates to measure (default 64; 0: only report)")
    p.add_argument("--tuner", default="model", choices=["model", "random", "grid"], help="search (default model)")
    p.add_argument("--db", metavar="PATH", help="tuning database (default $NESTOR_TUNING_DB or "
                   "$XDG_DATA_HOME/nestor/tuning.db)")
    p.add_argument("--timeout", type=finite_positive_float, default=10.0,
                   help="seconds to compile, and to run, one candidate")
    p.add_argument("--time-budget", type=finite_positive_float, metavar="S", help="start no new batch after S seconds")
    p.add_argument("--time", type=duration, dest="time_budget", metavar="SPAN",
                   help="the same budget written with a unit: 30s, 10m, 1h (the best so far is always in the database)")
    p.add_argument("--transfer", action=argparse.BooleanOptionalAction, default=None,
                   help="pre-train the model on this template's other shapes (default: when the database has any)")
    p.add_argument("--early-stop", type=positive_int, metavar="N", help="stop after N trials without a new best")
    p.add_argument("--parallel", type=positive_int, metavar="N", help="compiling processes (default: the CPUs)")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a fixed template option, e.g. transpose_b=false (repeatable)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the tuner's random choices")
    p.add_argument("--top", type=positive_int, default=10, help="rows of the final table (default 10)")
    p.add_argument("--plot", metavar="PNG", help="write best time vs trials and knob sensitivity to PNG")
    p.add_argument("--ray", metavar="auto|ADDRESS", help="measure on a Ray cluster: auto (this machine's, or a "
                   "new local one), local, or a cluster address; needs pip install -e '.[distributed]'")
    add_model_arguments(p)
    p.set_defaults(func=tune_command)
