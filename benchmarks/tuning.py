"""Autotuning the CPU matmul: the best config each tuner finds in 64 trials against the best of an
exhaustive search over the same space, the tuned matmul against numpy, and trials per minute.

    python benchmarks/tuning.py [--json] [--sizes 1024,2048] [--trials 64] [--tuners model,random,grid]
                                [--replay [--seeds N]]
    python benchmarks/tuning.py --replay --transfer [--serial] --sizes 128,192,256,320 --trials 32 --seeds 5
                                [--db PATH]

The space (``BENCH_MATMUL``) is a sub-grid of the matmul template's knobs, small enough to
measure every point: v1, v2 (in vectors), b1, b2, b3. Each tuner runs on a fresh database. With
``--replay`` the tuners are scored against the exhaustive measurements instead of measuring
again (fast; the same numbers a tuner would see without measurement noise), over ``--seeds`` seeds;
a tuner ``model:library`` uses LightGBM/XGBoost as the cost model. ``of_exhaustive``
is the exhaustive best time over the exhaustive time of the tuner's pick (1.0: it found the best).

With ``--transfer`` every size is measured exhaustively into one database (``--db``, reused: a
rerun measures nothing again), then each size in turn is held out and replayed by the model tuner
pre-trained on the other sizes' records (``model+transfer``), by the model tuner without them
(``model``) and by ``random``; ``of_exhaustive`` is averaged over seeds and held-out sizes.
``--serial`` measures single-threaded kernels, whose timings a busy machine disturbs far less
than those of kernels that wait for each other at a parallel barrier.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.harness import Report, compare, parser  # noqa: E402
from schedules.autotune import Database, TunableTemplate, hardware_fingerprint, make_tuner, tune  # noqa: E402
from schedules.autotune.driver import task_space  # noqa: E402
from schedules.autotune.spaces import MATMUL_CPU, host_vectors  # noqa: E402
from schedules.autotune.transfer import transfer_prior  # noqa: E402


def _declare(cfg, sizes: tuple, options: dict, dtype: str) -> None:
    lanes, registers = host_vectors(dtype)
    cfg.define_knob("v1", [2, 4, 8])
    cfg.define_knob("v2", [lanes, 2 * lanes, 4 * lanes])
    # from register-tile-sized cache tiles (many short parallel chunks) to large ones
    cfg.define_knob("b1", [8, 32, 128])
    cfg.define_knob("b2", [32, 64, 256])
    cfg.define_knob("b3", [64, 128, 256])

    def vectors(c) -> int:
        return c["v2"] // lanes

    cfg.constrain(lambda c: c["b1"] % c["v1"] == 0 and c["b2"] % c["v2"] == 0,
                  "a cache tile holds whole register tiles")

    cfg.constrain(lambda c: c["v1"] * vectors(c) + vectors(c) + 1 <= registers,
                  f"the register tile fits the {registers} vector registers")


BENCH_MATMUL = TunableTemplate(
    "matmul_cpu_bench", MATMUL_CPU.function, ("m", "n", "k"), "llvm", _declare, dict, MATMUL_CPU.reference,
    {"transpose_b": True, "parallel": True}, MATMUL_CPU.flops, "benchmarks.tuning:BENCH_MATMUL")


def _tuned_vs_numpy(n: int, kwargs: dict, repeat: int) -> tuple[float, float, float]:
    """The config built here and timed against numpy, interleaved: (ours, numpy, noise)."""
    import nestor as ns

    s, args = BENCH_MATMUL.instantiate((n, n, n), kwargs)
    module = ns.build(s, args, target="llvm", name=f"matmul{n}")
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    c, out = np.empty((n, n), np.float32), np.empty((n, n), np.float32)
    module(a, b, c)
    if not np.allclose(c, a @ b.T, rtol=1e-3, atol=1e-2 * math.sqrt(n)):
        raise SystemExit(f"matmul {n} {kwargs}: wrong result")
    ours, theirs, noise, peer_noise = compare(lambda: module(a, b, c), lambda: np.matmul(a, b.T, out=out), repeat)
    return ours, theirs, max(noise, peer_noise)


def _tuner(kind: str, n: int, seed: int, prior=None):
    """``model``, ``random``, ``grid``, or ``model:library`` (the model tuner with another cost model)."""
    kind, _, model = kind.partition(":")
    space = task_space(BENCH_MATMUL, (n, n, n), "float32", BENCH_MATMUL.task_options())
    return make_tuner(kind, space, seed, **({"model": model} if model else {}), **({"prior": prior} if prior else {}))


def _replay(kind: str, n: int, table: dict, trials: int, seed: int, prior=None) -> tuple[dict, float]:
    """A tuner's search scored with the exhaustive measurements: (its best config, that time)."""
    tuner = _tuner(kind, n, seed, prior)
    while len(tuner.history) < trials and (batch := tuner.propose(min(8, trials - len(tuner.history)))):
        tuner.update(batch, [table.get(tuple(sorted(c.items()))) for c in batch])
    config, cost = min(((c, t) for c, t in tuner.history if t is not None), key=lambda pair: pair[1])
    return dict(config), cost


def _fresh_tune(trials: int, tuner, n: int, timeout: float, seed: int = 0):
    """One tuning run on its own database and its own empty kernel cache (so that trials per minute
    include every compilation)."""
    with tempfile.TemporaryDirectory() as folder:
        saved = os.environ.get("NESTOR_CACHE_DIR")
        os.environ["NESTOR_CACHE_DIR"] = os.path.join(folder, "kernels")
        try:
            return tune(BENCH_MATMUL, (n, n, n), trials=trials, tuner=tuner, seed=seed,
                        db=os.path.join(folder, "t.db"), timeout=timeout)
        finally:
            if saved is None:
                os.environ.pop("NESTOR_CACHE_DIR")
            else:
                os.environ["NESTOR_CACHE_DIR"] = saved


def _table(records) -> dict:
    return {tuple(sorted(r.kwargs.items())): r.run_s for r in records if r.ok}


def run_size(n: int, args, report: Report) -> None:
    exhaustive = _fresh_tune(10**6, "grid", n, args.timeout)
    table = _table(exhaustive.records)
    best = exhaustive.time
    ours, numpy_s, noise = _tuned_vs_numpy(n, exhaustive.config, args.repeat)
    report.add(f"n={n} exhaustive ({len(exhaustive.records)})", ours, "numpy (OpenBLAS)", numpy_s,
               of_exhaustive=1.0, trials_per_min=exhaustive.trials_per_minute, errors=exhaustive.errors,
               noise=noise, config=_text(exhaustive.config))
    for kind in args.tuners.split(","):
        if args.replay:
            picks = [_replay(kind, n, table, args.trials, seed)[0] for seed in range(args.seed, args.seed + args.seeds)]
            config, rate = picks[0], exhaustive.trials_per_minute
        else:
            result = _fresh_tune(args.trials, _tuner(kind, n, args.seed), n, args.timeout)
            picks, rate = [result.config], result.trials_per_minute
            config = result.config
        quality = [best / table.get(tuple(sorted(pick.items())), math.inf) for pick in picks]
        ours, numpy_s, noise = _tuned_vs_numpy(n, config, args.repeat)
        report.add(f"n={n} {kind} {args.trials} trials", ours, "numpy (OpenBLAS)", numpy_s,
                   of_exhaustive=float(np.mean(quality)), worst_of_exhaustive=min(quality), trials_per_min=rate,
                   noise=noise, config=_text(config))


def run_transfer(sizes: list[int], args, report: Report) -> None:
    """Hold each size out in turn: replay it with a model pre-trained on the others' exhaustive records."""
    with tempfile.TemporaryDirectory() as folder:
        path = args.db or os.path.join(folder, "exhaustive.db")
        options = BENCH_MATMUL.task_options({"parallel": False} if args.serial else None)
        for n in sizes:  # resumes: configs already in the database are not measured again
            # every candidate timed in full (no cutoff): the median of its rounds resists a busy machine
            tune(BENCH_MATMUL, (n, n, n), trials=10**6, tuner="grid", db=path, timeout=args.timeout, transfer=False,
                 cutoff=None, repeat=5, options=options)
        with Database(path) as database:
            hardware = hardware_fingerprint("llvm")
            tables = {n: _table(database.records(BENCH_MATMUL.name, (n, n, n), "float32", "llvm", options, hardware))
                      for n in sizes}
            priors = {n: transfer_prior(database, BENCH_MATMUL, (n, n, n), "float32", "llvm", options, hardware,
                                        True, "model") for n in sizes}
    seeds = range(args.seed, args.seed + args.seeds)
    for label, kind, transfer in (("model+transfer", "model", True), ("model", "model", False),
                                  ("random", "random", False)):
        quality, picked, best = [], [], []
        for n in sizes:
            table = tables[n]
            for seed in seeds:
                _, cost = _replay(kind, n, table, args.trials, seed, priors[n] if transfer else None)
                quality.append(min(table.values()) / cost)
                picked.append(cost)
                best.append(min(table.values()))
        report.add(f"holdout {label} {args.trials} trials", float(np.mean(picked)), "exhaustive best",
                   float(np.mean(best)), of_exhaustive=float(np.mean(quality)), worst_of_exhaustive=min(quality),
                   sizes=",".join(map(str, sizes)), seeds=len(seeds), space=len(tables[sizes[0]]),
                   threads=1 if args.serial else "all")


def _text(config: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in config.items())


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--sizes", default="1024,2048")
    p.add_argument("--trials", type=int, default=64, help="trials per tuner (default 64)")
    p.add_argument("--tuners", default="model,random,grid")
    p.add_argument("--replay", action="store_true", help="score tuners on the exhaustive measurements")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds to compile, and to run, one candidate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=1, help="with --replay: seeds per tuner (mean reported)")
    p.add_argument("--transfer", action="store_true",
                   help="with --replay: hold out each size, replay it with a model pre-trained on the others")
    p.add_argument("--db", help="with --transfer: database of the exhaustive measurements (kept and reused)")
    p.add_argument("--serial", action="store_true",
                   help="with --transfer: single-threaded kernels (steadier timings on a busy machine)")
    args = p.parse_args()
    report = Report("tuning", args.json)
    if args.transfer:
        if not args.replay:
            p.error("--transfer scores replays: add --replay")
        run_transfer([int(x) for x in args.sizes.split(",")], args, report)
        return
    for n in (int(x) for x in args.sizes.split(",")):
        run_size(n, args, report)


if __name__ == "__main__":
    main()
