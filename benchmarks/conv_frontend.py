"""The frontend's conv2d per layer: forward, input gradient (dX) and weight gradient (dW), each as
the frontend runs it (the kernel :mod:`frontend.ops.conv_routes` picks) against PyTorch CPU
(``torch.conv2d`` and ``aten.convolution_backward`` for one gradient at a time, NCHW), and
against the frontend's register-tiled kernels (``tiled``: the path before the routing), all
interleaved in one process. Layers: the CNN train step's two 3x3 convolutions
(:mod:`benchmarks.train_step`, batch 64) and with ``--resnet`` ResNet-18's distinct layers
(:data:`benchmarks.conv2d_cpu.RESNET18`, batch 8 by default). ``ratio`` is torch's time over
ours (above 1: we are faster); ``tiled`` is the tiled kernel's time over ours.

    python benchmarks/conv_frontend.py [--json] [--resnet] [--batch 8] [--cpu-time] [--no-tiled]
                                       [--only forward|grad_input|grad_weight]

``--cpu-time`` times CPU seconds over the thread count instead of the wall clock (with
``OMP_NUM_THREADS=1``: one thread each). ``--no-tiled`` leaves the tiled kernels out (at stride
2 they take seconds a call on ResNet's layers).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks import roofline  # noqa: E402
from benchmarks.conv2d_cpu import RESNET18, Conv  # noqa: E402
from benchmarks.harness import Report, parser, rounds_all, rounds_all_cpu  # noqa: E402

CNN = (Conv("cnn conv1 1->16 3x3", 1, 28, 16, 3, 1, 1), Conv("cnn conv2 16->32 3x3", 16, 14, 32, 3, 1, 1))
KINDS = ("forward", "grad_input", "grad_weight")


def _tiled_ops():
    """The frontend's conv ops with the routing off: the register-tiled kernels (own op names, so
    their kernels are cached apart from the routed ones)."""
    from frontend.ops.base import Op
    from frontend.ops.conv import Conv2d, Conv2dGradInput, Conv2dGradWeight

    class TiledForward(Conv2d):
        name = "conv2d_tiled_reference"

        def default_config(self, request) -> dict:
            return {**super().default_config(request), "method": "tiled"}

    class TiledGradWeight(Conv2dGradWeight):
        name = "conv2d_grad_weight_tiled_reference"

        def default_config(self, request) -> dict:
            return {**super().default_config(request), "method": "tiled"}

    class TiledGradInput(Conv2dGradInput):
        name = "conv2d_grad_input_tiled_reference"

        def forward(self, dy, w, device: str = "cpu"):
            return Op.forward(self, dy, w, device=device)

    return TiledForward, TiledGradInput, TiledGradWeight


def sides(conv: Conv, batch: int, kind: str, tiled: bool) -> dict:
    """``{"": ours, "torch": ..., "tiled": ...}`` calls of one layer's ``kind`` kernel."""
    import torch

    from frontend.ops.conv import Conv2d, Conv2dGradInput, Conv2dGradWeight
    from schedules.templates.conv_variants import ConvParams

    rng = np.random.default_rng(0)
    p = ConvParams(conv.stride, conv.padding)
    x = rng.standard_normal((batch, conv.in_channels, conv.size, conv.size), dtype=np.float32)
    w = rng.standard_normal((conv.out_channels, conv.in_channels, conv.kernel, conv.kernel), dtype=np.float32)
    dy = rng.standard_normal((batch, conv.out_channels, conv.out_size, conv.out_size), dtype=np.float32)
    tx, tw, tdy = (torch.from_numpy(a) for a in (x, w, dy))
    hw, kernel = (conv.size, conv.size), (conv.kernel, conv.kernel)
    forward, grad_input, grad_weight = _tiled_ops()
    mask = {"grad_input": [True, False, False], "grad_weight": [False, True, False]}.get(kind)

    def backward():
        return torch.ops.aten.convolution_backward(tdy, tx, tw, None, [conv.stride] * 2, [conv.padding] * 2, [1, 1],
                                                   False, [0, 0], 1, mask)

    if kind == "forward":
        calls = {"": lambda: Conv2d(p).forward(x, w), "torch": lambda: torch.conv2d(tx, tw, None, conv.stride,
                                                                                        conv.padding),
                 "tiled": lambda: forward(p).forward(x, w)}
    elif kind == "grad_input":
        calls = {"": lambda: Conv2dGradInput(p, hw).forward(dy, w), "torch": backward,
                 "tiled": lambda: grad_input(p, hw).forward(dy, w)}
    else:
        calls = {"": lambda: Conv2dGradWeight(p, kernel).forward(x, dy), "torch": backward,
                 "tiled": lambda: grad_weight(p, kernel).forward(x, dy)}
    if not tiled:
        del calls["tiled"]
    return calls


def measure(report: Report, conv: Conv, batch: int, kind: str, repeat: int, cpu_time: bool, tiled: bool) -> None:
    calls = sides(conv, batch, kind, tiled)
    ours, peers = calls.pop(""), calls
    if cpu_time:
        rounds = rounds_all_cpu(ours, peers, repeat, roofline.threads())
    else:
        rounds = rounds_all(ours, peers, repeat)
    q1, q2, q3 = rounds.ratio_quartiles("torch")
    extra = {"torch_q1": q1, "torch_q3": q3, "spread": rounds.spread()}
    if "tiled" in peers:
        extra["tiled"] = rounds.ratio_quartiles("tiled")[1]
    report.add(f"{conv.name} {kind}", rounds.median(), "torch", rounds.median("torch"), **extra)


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--resnet", action="store_true", help="also ResNet-18's conv layers")
    p.add_argument("--batch", type=int, default=8, help="ResNet-18's batch")
    p.add_argument("--cpu-time", action="store_true", help="CPU seconds over the threads, not the wall clock")
    p.add_argument("--no-tiled", action="store_true", help="leave the tiled kernels out")
    p.add_argument("--only", choices=KINDS, action="append", help="only these kernels")
    args = p.parse_args()
    import torch

    torch.set_num_threads(roofline.threads())
    report = Report("conv_frontend", args.json)
    layers = [(conv, 64) for conv in CNN] + ([(conv, args.batch) for conv in RESNET18] if args.resnet else [])
    for conv, batch in layers:
        for kind in args.only or KINDS:
            measure(report, conv, batch, kind, args.repeat, args.cpu_time, not args.no_tiled)


if __name__ == "__main__":
    main()
