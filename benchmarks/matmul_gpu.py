"""Matmul float32 on one GPU: the seed's shared-memory template (default parameters) vs
torch.matmul (cuBLAS, TF32 off), in the same process, interleaved rounds after a warm-up. Each
result is checked against a float64 product first; a wrong result stops the run (exit status 1).

    python benchmarks/matmul_gpu.py [--json] [--sizes 1024,2048,4096] [--repeat 7]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.harness import Report, parser  # noqa: E402

PEER = "torch.matmul (cuBLAS)"


def _torch():
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("matmul_gpu: torch sees no CUDA GPU")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return torch


def _round(launch, synchronize, number: int) -> float:
    """Seconds per launch over ``number`` launches queued back to back, then one synchronisation."""
    synchronize()
    start = time.perf_counter()
    for _ in range(number):
        launch()
    synchronize()
    return (time.perf_counter() - start) / number


def gpu_compare(ours, theirs, synchronize, repeat: int, min_round: float = 0.05) -> tuple[float, float]:
    """Median seconds per launch of ``ours`` and ``theirs``, rounds interleaved, after a warm-up."""
    for launch in (ours, theirs):
        _round(launch, synchronize, 3)
    once = max(_round(ours, synchronize, 1), _round(theirs, synchronize, 1), 1e-6)
    number = max(1, int(min_round / once))
    mine, peer = [], []
    for _ in range(repeat):
        mine.append(_round(ours, synchronize, number))
        peer.append(_round(theirs, synchronize, number))
    return statistics.median(mine), statistics.median(peer)


def _check(name: str, got: np.ndarray, want: np.ndarray, n: int) -> None:
    error = float(np.abs(got - want).max())
    if not np.isfinite(error) or error > 1e-5 * np.sqrt(n) * max(1.0, float(np.abs(want).max())):
        raise SystemExit(f"matmul_gpu n={n}: {name} gives a wrong result (max error {error:.3g})")


def bench(n: int, torch, report: Report, repeat: int) -> None:
    import nestor as ns
    from schedules.templates import matmul_gpu

    rng = np.random.default_rng(n)
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    s, tensors = matmul_gpu(n, n, n)
    module = ns.build(s, tensors, target="cuda", name=f"matmul_gpu_{n}")
    device = [ns.device_array(a), ns.device_array(b), ns.device_array(np.full((n, n), np.nan, np.float32))]
    ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
    tc = torch.empty((n, n), dtype=torch.float32, device="cuda")
    want = torch.matmul(ta.double(), tb.double()).cpu().numpy()
    module(*device)
    torch.matmul(ta, tb, out=tc)
    _check("nestor", device[2].numpy(), want, n)
    _check(PEER, tc.cpu().numpy(), want, n)
    ours, theirs = gpu_compare(lambda: module.launch(device), lambda: torch.matmul(ta, tb, out=tc),
                               torch.cuda.synchronize, repeat)
    _check("nestor (after timing)", device[2].numpy(), want, n)
    report.add(f"n={n}", ours, PEER, theirs, nestor_tflops=2 * n**3 / ours / 1e12,
               peer_tflops=2 * n**3 / theirs / 1e12)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--sizes", default="1024,2048,4096")
    args = p.parse_args()
    torch = _torch()
    report = Report("matmul_gpu", args.json)
    for n in (int(x) for x in args.sizes.split(",")):
        bench(n, torch, report, args.repeat)


if __name__ == "__main__":
    main()
