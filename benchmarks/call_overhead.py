"""The frontend's per-call cost on small tensors: ``x @ W``, ``x + y``, ``relu(x)``, ``x.sum(axis)``.

    OMP_NUM_THREADS=1 python benchmarks/call_overhead.py [--processes 5] [--calls 10000]
        [--profile OP]

Each op runs on small float32 operands (8 x 64 by 64 x 33, 8 x 33; the kernel itself takes well
under a microsecond to a few), once eager (``lazy(False)``: the kernel runs at the call) and once
lazy (recorded, then realized by reading the result's storage: one fused group of one op), the
mode entered once around the timed calls. What is timed is the call and the read of its result,
in CPU microseconds a call over ``--calls`` calls (median of 3 rounds of 3 blocks, interleaved
with numpy's same expression, timed beside it). With ``--processes N`` each
figure is the median over N fresh processes with the interquartile range beside it.

``--profile OP`` (e.g. ``matmul/eager``) prints a cProfile of 10^4 calls of that case instead,
sorted by own time: where each microsecond of the Python path goes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

#: the operands' sizes: small enough that the Python path, not the kernel, is the cost
ROWS, K, COLUMNS = 8, 64, 33


def cases() -> dict:
    """``name -> (ours, numpy, lazy)``: two no-argument calls returning the result's array, and
    whether ours runs in lazy mode (entered once around the timed calls, not per call)."""
    import frontend as nf
    from frontend.lazy_graph import lazy

    rng = np.random.default_rng(0)
    a = rng.standard_normal((ROWS, K)).astype(np.float32)
    w = rng.standard_normal((K, COLUMNS)).astype(np.float32)
    y = rng.standard_normal((ROWS, COLUMNS)).astype(np.float32)
    p = a @ w
    tx, tw, tp, ty = (nf.Tensor(v, requires_grad=False) for v in (a, w, p, y))
    exprs = {
        "matmul": (lambda: tx @ tw, lambda: a @ w),
        "add": (lambda: tp + ty, lambda: p + y),
        "relu": (lambda: nf.ops.relu(tp), lambda: np.maximum(p, 0)),
        "sum": (lambda: tp.sum(axis=1), lambda: p.sum(axis=1)),
    }
    found = {}
    for mode in ("eager", "lazy"):
        for name, (ours, peer) in exprs.items():
            found[f"{name}/{mode}"] = (_read(ours), peer, mode == "lazy")
    for ours, peer, on in found.values():  # compiled and checked once
        with lazy(on):
            np.testing.assert_allclose(ours(), peer(), rtol=1e-5, atol=1e-5)
    return found


def _read(expression):
    return lambda: expression()._storage()  # a lazy result realized: the whole cost of the call


def per_call_us(fn, calls: int, blocks: int = 5, on: bool = False) -> float:
    """Median over ``blocks`` blocks of ``calls`` calls (lazy mode ``on``): microseconds a call."""
    from frontend.lazy_graph import lazy

    with lazy(on):
        return _per_call_us(fn, calls, blocks)


def _per_call_us(fn, calls: int, blocks: int) -> float:
    for _ in range(min(calls, 1000)):
        fn()
    times = []
    for _ in range(blocks):
        start = time.process_time()  # CPU time: another process holding the core does not count
        for _ in range(calls):
            fn()
        times.append((time.process_time() - start) / calls * 1e6)
    return statistics.median(times)


def one_process(calls: int) -> dict:
    """``case -> {"ours_us", "numpy_us"}`` in this process, the sides interleaved block by block."""
    rows = {}
    for name, (ours, peer, on) in cases().items():
        ours_t, peer_t = [], []
        for _ in range(3):
            ours_t.append(per_call_us(ours, calls // 3, 3, on))
            peer_t.append(per_call_us(peer, calls // 3, 3))
        rows[name] = {"ours_us": statistics.median(ours_t), "numpy_us": statistics.median(peer_t)}
    return rows


def quartiles(values: list[float]) -> str:
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return f"{q2:7.2f} ({q1:.2f}-{q3:.2f})"


def many_processes(n: int, calls: int) -> None:
    runs = []
    for _ in range(n):
        out = subprocess.run([sys.executable, __file__, "--calls", str(calls), "--json"], check=True,
                             capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{'case':<14} {'ours us/call (q1-q3)':>24} {'numpy us/call (q1-q3)':>24}   over {n} processes")
    for name in runs[0]:
        ours = [run[name]["ours_us"] for run in runs]
        peer = [run[name]["numpy_us"] for run in runs]
        print(f"{name:<14} {quartiles(ours):>24} {quartiles(peer):>24}")


def profile(name: str, calls: int) -> None:
    import cProfile
    import pstats

    from frontend.lazy_graph import lazy

    fn, _, on = cases()[name]
    with lazy(on):
        for _ in range(1000):
            fn()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            fn()
        profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=0, help="fresh processes (median and quartiles)")
    parser.add_argument("--calls", type=int, default=10000, help="calls per case")
    parser.add_argument("--profile", default=None, help="cProfile one case, e.g. matmul/eager")
    parser.add_argument("--json", action="store_true", help="one JSON line (used by --processes)")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.calls)
    elif args.processes:
        many_processes(args.processes, args.calls)
    else:
        rows = one_process(args.calls)
        if args.json:
            print(json.dumps(rows))
        else:
            for name, row in rows.items():
                print(f"{name:<14} {row['ours_us']:8.2f} us   numpy {row['numpy_us']:8.2f} us")


if __name__ == "__main__":
    main()
