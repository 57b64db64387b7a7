"""Conv2d float32 on the CPU: the default template (or the tuning database's best config) vs
PyTorch CPU in both memory layouts, NCHW and channels-last (NHWC), all interleaved; ``peer`` is
the faster layout. Without PyTorch the peer is numpy im2col + matmul.

Cases: the benchmark case (batch 8, 64->64 channels, 56x56, 3x3, pad 1), then with ``--resnet``
the distinct conv layers of ResNet-18 at 224x224 (7x7 stride 2, 3x3 stride 1 and 2, 1x1
stride 2). Each row gives the share of the roofline bound for Nestor and the peer.

    python benchmarks/conv2d_cpu.py [--json] [--resnet] [--batch 8]
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks import roofline  # noqa: E402
from benchmarks.harness import Report, compare_all, parser  # noqa: E402


@dataclass(frozen=True)
class Conv:
    name: str
    in_channels: int
    size: int
    out_channels: int
    kernel: int
    stride: int
    padding: int

    @property
    def out_size(self) -> int:
        return (self.size + 2 * self.padding - self.kernel) // self.stride + 1

    def flops(self, batch: int) -> float:
        return 2.0 * batch * self.out_channels * self.out_size**2 * self.in_channels * self.kernel**2


BENCHMARK = Conv("c64->64 56x56 k3 p1", 64, 56, 64, 3, 1, 1)
#: the distinct conv layers of ResNet-18 (224x224 input)
RESNET18 = (
    Conv("resnet18 conv1 7x7 s2", 3, 224, 64, 7, 2, 3),
    Conv("resnet18 layer2 3x3 s2", 64, 56, 128, 3, 2, 1),
    Conv("resnet18 layer2 1x1 s2", 64, 56, 128, 1, 2, 0),
    Conv("resnet18 layer2 3x3", 128, 28, 128, 3, 1, 1),
    Conv("resnet18 layer3 3x3 s2", 128, 28, 256, 3, 2, 1),
    Conv("resnet18 layer3 1x1 s2", 128, 28, 256, 1, 2, 0),
    Conv("resnet18 layer3 3x3", 256, 14, 256, 3, 1, 1),
    Conv("resnet18 layer4 3x3 s2", 256, 14, 512, 3, 2, 1),
    Conv("resnet18 layer4 1x1 s2", 256, 14, 512, 1, 2, 0),
    Conv("resnet18 layer4 3x3", 512, 7, 512, 3, 1, 1),
)


def _peers(x: np.ndarray, w: np.ndarray, conv: Conv) -> tuple[dict, object]:
    """The peers by name, and a reference function for the result."""
    try:
        import torch
    except ImportError:
        run = _im2col_conv(x, w, conv)
        return {"numpy im2col": run}, run
    torch.set_num_threads(roofline.threads())
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    lx, lw = tx.to(memory_format=torch.channels_last), tw.to(memory_format=torch.channels_last)

    def nchw():
        with torch.no_grad():
            return torch.nn.functional.conv2d(tx, tw, stride=conv.stride, padding=conv.padding)

    def nhwc():
        with torch.no_grad():
            return torch.nn.functional.conv2d(lx, lw, stride=conv.stride, padding=conv.padding)

    return {f"torch {torch.__version__} NCHW": nchw, f"torch {torch.__version__} channels-last": nhwc}, \
        lambda: nchw().numpy()


def _im2col_conv(x: np.ndarray, w: np.ndarray, conv: Conv):
    n, c = x.shape[:2]
    k, r = w.shape[0], w.shape[2]
    pad, stride, out = conv.padding, conv.stride, conv.out_size
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    wm = w.reshape(k, -1)

    def run():
        windows = np.lib.stride_tricks.sliding_window_view(xp, (r, r), axis=(2, 3))
        cols = windows[:, :, ::stride, ::stride][:, :, :out, :out]
        cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * out * out, c * r * r)
        return (cols @ wm.T).reshape(n, out, out, k).transpose(0, 3, 1, 2)

    return run


def measure(report: Report, conv: Conv, batch: int, repeat: int) -> None:
    import nestor as ns
    from schedules.templates import conv2d_cpu

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, conv.in_channels, conv.size, conv.size), dtype=np.float32)
    w = rng.standard_normal((conv.out_channels, conv.in_channels, conv.kernel, conv.kernel), dtype=np.float32)
    y = np.empty((batch, conv.out_channels, conv.out_size, conv.out_size), np.float32)
    s, tensors = conv2d_cpu(batch, conv.in_channels, conv.size, conv.size, conv.out_channels, conv.kernel,
                            stride=conv.stride, padding=conv.padding)
    module = ns.build(s, tensors, target="llvm", name="conv2d")
    peers, reference = _peers(x, w, conv)
    module(x, w, y)
    expected = reference()
    if not np.allclose(y, expected, rtol=1e-3, atol=1e-3 * np.sqrt(conv.in_channels * conv.kernel**2)):
        raise SystemExit(f"conv2d {conv.name}: wrong result (max error {np.abs(y - expected).max()})")
    ours, noise, timed = compare_all(lambda: module(x, w, y), peers, repeat)
    best = min(timed, key=lambda name: timed[name][0])
    theirs, flops = timed[best][0], conv.flops(batch)
    layouts = {("nhwc_s" if "channels-last" in name else "nchw_s" if "NCHW" in name else "numpy_s"): seconds
               for name, (seconds, _) in timed.items()}
    report.add(f"n{batch} {conv.name}", ours, best, theirs, nestor_gflops=flops / ours / 1e9,
               peer_gflops=flops / theirs / 1e9, **layouts,
               **roofline.fields(ours, theirs, flops, 4.0 * (x.size + w.size + y.size)),
               noise=max(noise, *(spread for _, spread in timed.values())))


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--resnet", action="store_true", help="also the conv layers of ResNet-18")
    p.add_argument("--batch", type=int, default=8)
    args = p.parse_args()
    report = Report("conv2d_cpu", args.json)
    for conv in (BENCHMARK, *(RESNET18 if args.resnet else ())):
        measure(report, conv, args.batch, args.repeat)


if __name__ == "__main__":
    main()
