"""This machine's roofline: the float32 FMA peak (a Nestor kernel of independent vector FMA chains)
and the memory bandwidth (the STREAM triad ``C = A + 3 * B`` as a Nestor kernel), each next to a
peer: PyTorch's ``mm`` at 2048 (its FLOP rate, its time scaled to the same FLOPs) and
``torch.add(A, B, alpha=3, out=C)`` (numpy when PyTorch is missing).

``best_*`` fields are the best round (what the other benchmarks' roofline uses), the medians
are the contract's ``nestor_s``/``peer_s``.

    python benchmarks/peak.py [--json] [--steps 2000000] [--size 33554432]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks import roofline  # noqa: E402
from benchmarks.harness import Report, compare, parser  # noqa: E402

MM = 2048


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(roofline.threads())
    return torch


def fma_case(report: Report, steps: int, repeat: int) -> None:
    module, arrays, flops = roofline.fma_kernel(roofline.threads(), steps)
    module(*arrays)
    a, w, y = arrays
    expected = a[:, :, None] * w[None, None, :] * (steps * (steps - 1) / 2)
    if not np.allclose(y, expected, rtol=1e-2):
        raise SystemExit(f"fma peak kernel: wrong result (max error {np.abs(y - expected).max()})")
    torch = _torch()
    rng = np.random.default_rng(0)
    left, right = (rng.standard_normal((MM, MM), dtype=np.float32) for _ in range(2))
    out = np.empty((MM, MM), np.float32)
    if torch is None:
        name, peer = "numpy matmul 2048", lambda: np.matmul(left, right, out=out)
    else:
        tl, tr, to = (torch.from_numpy(x) for x in (left, right, out))
        name, peer = f"torch {torch.__version__} mm 2048", lambda: torch.mm(tl, tr, out=to)
    scale = flops / (2 * MM**3)  # the peer's time for the same FLOPs
    ours, theirs, noise, peer_noise = compare(lambda: module(*arrays), peer, repeat)
    best = flops / roofline._best(lambda: module(*arrays), repeat)
    report.add(f"fma peak {roofline.threads()} threads", ours, name, theirs * scale, gflops=flops / ours / 1e9,
               best_gflops=best / 1e9, peer_gflops=flops / (theirs * scale) / 1e9, noise=max(noise, peer_noise))


def triad_case(report: Report, size: int, repeat: int) -> None:
    module, arrays, nbytes = roofline.triad_kernel(size)
    a, b, c = arrays
    module(*arrays)
    if not np.allclose(c, a + 3.0 * b, rtol=1e-5, atol=1e-5):
        raise SystemExit("triad kernel: wrong result")
    torch = _torch()
    if torch is None:
        scratch = np.empty_like(c)
        name = "numpy multiply+add"

        def peer():
            np.multiply(b, 3.0, out=scratch)
            np.add(a, scratch, out=c)
    else:
        ta, tb, tc = (torch.from_numpy(x) for x in arrays)
        name = f"torch {torch.__version__} add(alpha=3)"

        def peer():
            torch.add(ta, tb, alpha=3.0, out=tc)
    ours, theirs, noise, peer_noise = compare(lambda: module(*arrays), peer, repeat)
    best = nbytes / roofline._best(lambda: module(*arrays), repeat)
    report.add(f"triad {size * 4 >> 20} MiB x3", ours, name, theirs, gbps=nbytes / ours / 1e9,
               best_gbps=best / 1e9, peer_gbps=nbytes / theirs / 1e9, noise=max(noise, peer_noise))


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=2_000_000, help="FMA steps per accumulator per call")
    p.add_argument("--size", type=int, default=1 << 25, help="triad elements per array")
    args = p.parse_args()
    report = Report("peak", args.json)
    fma_case(report, args.steps, args.repeat)
    triad_case(report, args.size, args.repeat)


if __name__ == "__main__":
    main()
