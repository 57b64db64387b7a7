"""Conv2d float32 NCHW on the CPU (batch 8, 64->64 channels, 56x56, 3x3, pad 1): the default
template vs PyTorch CPU when installed, else numpy im2col + matmul.

    python benchmarks/conv2d_cpu.py [--json]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.harness import Report, compare, parser  # noqa: E402


def _peer(x: np.ndarray, w: np.ndarray, pad: int):
    try:
        import torch
    except ImportError:
        return "numpy im2col", _im2col_conv(x, w, pad)
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    torch.set_num_threads(os.cpu_count() or 1)

    def run():
        with torch.no_grad():
            return torch.nn.functional.conv2d(tx, tw, padding=pad).numpy()

    return f"torch {torch.__version__}", run


def _im2col_conv(x: np.ndarray, w: np.ndarray, pad: int):
    n, c, h, wd = x.shape
    k, _, r, q = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - r + 1, wd + 2 * pad - q + 1
    wm = w.reshape(k, -1)

    def run():
        cols = np.lib.stride_tricks.sliding_window_view(xp, (r, q), axis=(2, 3))[:, :, :oh, :ow]
        cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * r * q)
        return (cols @ wm.T).reshape(n, oh, ow, k).transpose(0, 3, 1, 2)

    return run


def main() -> None:
    args = parser(__doc__).parse_args()
    import nestor as ns
    from schedules.templates import conv2d_cpu

    batch, channels, size, out_channels, kernel, pad = 8, 64, 56, 64, 3, 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size), dtype=np.float32)
    w = rng.standard_normal((out_channels, channels, kernel, kernel), dtype=np.float32)
    y = np.empty((batch, out_channels, size, size), np.float32)
    s, tensors = conv2d_cpu(batch, channels, size, size, out_channels, kernel, padding=pad)
    module = ns.build(s, tensors, target="llvm", name="conv2d")
    peer_name, peer = _peer(x, w, pad)
    module(x, w, y)
    expected = peer()
    if not np.allclose(y, expected, rtol=1e-3, atol=1e-3):
        raise SystemExit(f"conv2d: wrong result (max error {np.abs(y - expected).max()})")
    ours, theirs, noise, peer_noise = compare(lambda: module(x, w, y), peer, args.repeat)
    flops = 2 * batch * out_channels * size * size * channels * kernel * kernel
    Report("conv2d_cpu", args.json).add(
        f"n{batch} c{channels}->{out_channels} {size}x{size} k{kernel} p{pad}", ours, peer_name, theirs,
        nestor_gflops=flops / ours / 1e9, peer_gflops=flops / theirs / 1e9, noise=max(noise, peer_noise))


if __name__ == "__main__":
    main()
