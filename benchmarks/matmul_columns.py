"""The frontend's whole-reduction matmul form (``matmul_cpu(b3=None)`` over a symbolic batch M) at
column counts off a multiple of 32: the register tile over zero-padded columns
(:mod:`schedules.templates.matmul_whole`) against the guarded nest it replaced (``j < n`` in the
tile's vector loop) and numpy, in CPU seconds, interleaved round by round.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/matmul_columns.py
        [--repeat 7] [--k 784] [--columns 33,100,300,1000,1023] [--batches 1,7,128,256]
        [--transpose-b]

Each row: the median time of both builds, ``padded/guarded`` (the guarded time over the padded
one: above 1 the padded tile is faster) and ``numpy/padded``, each a median with its quartiles
over the rounds. The knobs are the frontend's (:meth:`frontend.ops.matmul.MatMul.default_config`):
8x32 register tiles in 8x128 cache tiles, B packed past 256 columns (and where transposed), so
up to 256 columns both builds are the same unpacked nest.

With ``--frontend`` it times the frontend's own calls instead, in CPU seconds, interleaved:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/matmul_columns.py --frontend
        [--products 1x784x1000,...] [--linear 1x784x1000,...]

- ``Tensor @ weight`` (``m x k @ k x n``) with the weight's packed copy kept
  (:mod:`frontend.packed_weights`), against the same call packing B every time
  (``NESTOR_PACKED_WEIGHTS_MB=0``) and numpy's ``a @ b``;
- ``nn.Linear(k, n)`` forward and backward (``y = x W + b``, then ``dx, dW, db`` from a given
  ``dy``; the weight unchanged, as between optimizer steps in inference or several backward
  passes) against numpy's three products and the bias sum.

Each row: the median microseconds of the kept, per-call and numpy timings, then
``per-call/kept`` and ``numpy/kept`` as medians with quartiles over the rounds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import nestor as ns  # noqa: E402
from frontend.ops.matmul import PARALLEL_PRODUCT_MIN, UNPACKED_N_MAX  # noqa: E402
from schedules import templates  # noqa: E402
from schedules.templates import matmul_whole  # noqa: E402
from schedules.templates.generic_cpu import worth_parallel  # noqa: E402
from tensorir.intmath import ceil_div  # noqa: E402


def build(m: int, n: int, k: int, padded: bool, transpose_b: bool):
    """The frontend's kernel for ``m x n x k`` with M symbolic; ``padded=False``: the guarded nest."""
    pack = transpose_b or not (n <= UNPACKED_N_MAX and (n < 32 or n % 32 == 0))
    parallel = m * n * k >= PARALLEL_PRODUCT_MIN and worth_parallel(m * n * k, ceil_div(m, 64))
    real = matmul_whole.pads_columns
    if not padded:
        matmul_whole.pads_columns = lambda *_: False
    try:
        s, args = templates.matmul_cpu(ns.size_var("M"), n, k, v1=8, v2=32, v3=4, b1=8, b2=128, b3=None,
                                       pack_b=pack, transpose_b=transpose_b, parallel=parallel)
    finally:
        matmul_whole.pads_columns = real
    return ns.build(s, args, target="llvm")


def cpu_seconds(fn, reps: int) -> float:
    start = time.process_time()
    for _ in range(reps):
        fn()
    return (time.process_time() - start) / reps


def quartiles(values) -> str:
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return f"{med:5.2f} [{q1:.2f},{q3:.2f}]"


def row(m: int, n: int, k: int, transpose_b: bool, rounds: int, rng) -> str:
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(np.float32)
    right = b.T if transpose_b else b
    kernels = {name: build(m, n, k, name == "padded", transpose_b) for name in ("guarded", "padded")}
    outs = {name: np.zeros((m, n), np.float32) for name in kernels}
    for name, kernel in kernels.items():
        kernel(a, b, outs[name])
        np.testing.assert_allclose(outs[name], a @ right, rtol=1e-4, atol=1e-3)
    fns = {name: (lambda kernel=kernel, out=outs[name]: kernel(a, b, out)) for name, kernel in kernels.items()}
    fns["numpy"] = lambda: a @ right
    reps = max(3, int(0.02 / max(cpu_seconds(fns["padded"], 3), 1e-6)))
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(cpu_seconds(fn, reps))
    guarded, padded, peer = (np.array(times[name]) for name in ("guarded", "padded", "numpy"))
    return (f"{m:>5}x{n:>5}x{k:>5} {np.median(guarded) * 1e6:10.1f} {np.median(padded) * 1e6:10.1f}  "
            f"{quartiles(guarded / padded):>18}  {quartiles(peer / padded):>18}")


def _frontend_calls(m: int, n: int, k: int, linear: bool, rng) -> dict:
    """The timed calls of one frontend row, each checked against numpy once first."""
    import frontend as nf

    a = rng.standard_normal((m, k)).astype(np.float32)
    if linear:
        layer = nf.nn.Linear(k, n, rng=rng)
        w, bias = layer.weight.numpy(), layer.bias.numpy()
        g = rng.standard_normal((m, n)).astype(np.float32)
        x, dy = nf.Tensor(a), nf.Tensor(g)

        def ours():
            layer.weight.grad = layer.bias.grad = x.grad = None
            layer(x).backward(dy)
            return x.grad.numpy(), layer.weight.grad.numpy()

        def peer():
            _ = a @ w + bias
            return g @ w.T, a.T @ g, g.sum(axis=0)
        want = peer()[:2]
    else:
        b = rng.standard_normal((k, n)).astype(np.float32)
        x, weight = nf.Tensor(a, requires_grad=False), nf.Tensor(b, requires_grad=False)

        def ours():
            return ((x @ weight)._storage(),)

        def peer():
            return (a @ b,)
        want = peer()
    for got, expected in zip(ours(), want):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)

    def per_call():
        os.environ["NESTOR_PACKED_WEIGHTS_MB"] = "0"
        try:
            return ours()
        finally:
            os.environ.pop("NESTOR_PACKED_WEIGHTS_MB")
    return {"kept": ours, "per-call": per_call, "numpy": peer}


def frontend_row(m: int, n: int, k: int, linear: bool, rounds: int, rng) -> str:
    """One row of ``--frontend``: kept / per-call / numpy medians (us) and the two ratios."""
    fns = _frontend_calls(m, n, k, linear, rng)
    for fn in fns.values():  # the kept copy is made on the second sighting
        fn(), fn()
    reps = max(3, int(0.02 / max(cpu_seconds(fns["per-call"], 3), 1e-6)))
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(cpu_seconds(fn, reps))
    kept, per_call, peer = (np.array(times[name]) for name in ("kept", "per-call", "numpy"))
    what = "linear" if linear else "matmul"
    return (f"{what:>6} {m:>5}x{k:>5}x{n:>5} {np.median(kept) * 1e6:9.1f} {np.median(per_call) * 1e6:9.1f} "
            f"{np.median(peer) * 1e6:9.1f}  {quartiles(per_call / kept):>18}  {quartiles(peer / kept):>18}")


def _shapes(text: str) -> list[tuple[int, int, int]]:
    return [tuple(int(size) for size in item.split("x")) for item in text.split(",") if item]


def frontend_main(args) -> None:
    rng = np.random.default_rng(0)
    print(f"{'':>6} {'m x k x n':>17} {'kept us':>9} {'call us':>9} {'numpy us':>9}  {'per-call/kept':>18}  "
          f"{'numpy/kept':>18}")
    for linear, text in ((False, args.products), (True, args.linear)):
        for m, k, n in _shapes(text):
            print(frontend_row(m, n, k, linear, args.repeat, rng), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--k", type=int, default=784, help="the reduction length")
    parser.add_argument("--columns", default="33,100,300,1000,1023")
    parser.add_argument("--batches", default="1,7,128,256")
    parser.add_argument("--transpose-b", action="store_true", help="B stored n x k (a layer's dX = dZ @ W^T)")
    parser.add_argument("--frontend", action="store_true", help="time the frontend's calls (module docstring)")
    parser.add_argument("--products", default="1x784x1000,8x784x1000,32x784x1000,128x784x1000,1x512x33,8x512x33,"
                        "32x512x33,1x512x100,8x512x100,32x512x100,128x512x100",
                        help="m x k x n of the frontend's products")
    parser.add_argument("--linear", default="1x784x1000,8x784x1000,32x784x1000,128x784x256",
                        help="batch x in x out of the nn.Linear rows")
    args = parser.parse_args()
    if args.frontend:
        frontend_main(args)
        return
    rng = np.random.default_rng(0)
    print(f"{'m x n x k':>17} {'guarded us':>10} {'padded us':>10}  {'guarded/padded':>18}  {'numpy/padded':>18}")
    for n in (int(text) for text in args.columns.split(",")):
        for m in (int(text) for text in args.batches.split(",")):
            print(row(m, n, args.k, args.transpose_b, args.repeat, rng), flush=True)


if __name__ == "__main__":
    main()
