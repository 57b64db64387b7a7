"""Conv2d float32 on the CPU: Nestor's kernels vs PyTorch CPU in both memory layouts, NCHW and
channels-last (NHWC, its input converted before timing), all interleaved; ``peer`` is the faster
layout. Without PyTorch the peer is numpy im2col + matmul. Nestor's kernels, one row each: the
NCHW template (``conv2d_cpu``, or its tuned config), the blocked ``NCHW16c`` template
(``conv2d_nchwc``) on NCHW arrays with its layout transforms timed, and the same on arrays
already in the blocked layout (as a model in that layout keeps them; the fair match for
channels-last, whose conversion is not timed either), and for 3x3 stride-1 layers Winograd
(``conv2d_winograd``, the ``winograd`` knob of ``conv2d_nchwc``): F(2x2, 3x3) and F(4x4, 3x3) on
the blocked arrays, the same with the weights transformed once beforehand (``U data``: a
model's weights are constants, so a model transforms them when it is loaded, as TVM's
``conv2d_winograd_without_weight_transform``), F(4x4, 3x3) on NCHW arrays with its transforms
timed; for 3x3 stride-2 layers Winograd over the input's four phases (the ``winograd_s2`` knob):
F(4x4, 2x2) with raw blocked weights, F(4x4, 2x2) and F(7x7, 2x2) with ``U data``. Winograd's
GFLOP/s count the direct convolution's FLOPs. Each side runs enough calls per round to fill ``min_round`` (a
0.05 s round): a fast kernel is not timed as one cold call because a slow one sits beside it.
After the cases, a summary gives each case's best Nestor kernel on blocked arrays against the
faster torch layout (and, where a ``U data`` row exists, the best without weights transformed
beforehand: ``raw W``).

Cases: the benchmark case (batch 8, 64->64 channels, 56x56, 3x3, pad 1), then with ``--resnet``
the distinct conv layers of ResNet-18 at 224x224 (7x7 stride 2, 3x3 stride 1 and 2, 1x1
stride 2). Each row gives the share of the roofline bound for Nestor and the peer.

    python benchmarks/conv2d_cpu.py [--json] [--resnet] [--batch 8] [--cpu-time]

``--cpu-time`` times CPU seconds instead of the wall clock: on a machine shared with other jobs
the wall clock mostly measures who got the cores; CPU seconds (over the thread count, so the
GFLOP/s and roofline compare with the machine's) measure each kernel's work.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks import roofline  # noqa: E402
from benchmarks.harness import Report, _spread, parser, rounds_all, rounds_all_cpu, steady_call  # noqa: E402


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


def _blocked(x: np.ndarray, w: np.ndarray, conv: Conv, ib: int, ob: int) -> tuple[np.ndarray, np.ndarray]:
    """``x`` padded and blocked ``NCHW[ib]c``, ``w`` blocked ``KCRS[ib]c[ob]k`` (data preparation:
    a model in the blocked layout keeps its activations so)."""
    p = conv.padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    n, c, h, wd = xp.shape
    k, _, r, q = w.shape
    xb = np.ascontiguousarray(xp.reshape(n, c // ib, ib, h, wd).transpose(0, 1, 3, 4, 2))
    wb = np.ascontiguousarray(w.reshape(k // ob, ob, c // ib, ib, r, q).transpose(0, 2, 4, 5, 3, 1))
    return xb, wb


def _nestor_kernels(x: np.ndarray, w: np.ndarray, conv: Conv, batch: int) -> dict:
    """Nestor's kernels by name: the NCHW template, the NCHW16c template on NCHW arrays
    (layout transforms timed), on blocked arrays, and Winograd where it applies; each a
    (run, result as NCHW) pair."""
    import nestor as ns
    from schedules.templates import conv2d_cpu
    from schedules.templates.conv_nchwc import conv2d_nchwc

    sizes = (batch, conv.in_channels, conv.size, conv.size, conv.out_channels, conv.kernel)
    options = {"stride": conv.stride, "padding": conv.padding}
    shape = (batch, conv.out_channels, conv.out_size, conv.out_size)
    kernels = {}
    for name, template in (("template NCHW", conv2d_cpu), ("NCHW16c, transforms timed", conv2d_nchwc)):
        module = ns.build(*template(*sizes, **options), target="llvm", name="conv2d")
        y = np.empty(shape, np.float32)
        kernels[name] = (lambda module=module, y=y: module(x, w, y), lambda y=y: y)
    ib, ob = min(16, conv.in_channels), 16
    module = ns.build(*conv2d_nchwc(*sizes, **options, layout="NCHWc"), target="llvm", name="conv2d_blocked")
    xb, wb = _blocked(x, w, conv, ib, ob)
    yb = np.empty((batch, conv.out_channels // ob, conv.out_size, conv.out_size, ob), np.float32)
    kernels["NCHW16c data"] = (lambda: module(xb, wb, yb), lambda: yb.transpose(0, 1, 4, 2, 3).reshape(shape))
    if conv.kernel == 3 and conv.stride == 1:
        kernels.update(_winograd_kernels(x, w, xb, wb, conv, batch, shape))
    if conv.kernel == 3 and conv.stride == 2:
        kernels.update(_phase_kernels(xb, wb, conv, batch, shape))
    return kernels


def _phase_kernels(xb, wb, conv: Conv, batch: int, shape: tuple) -> dict:
    """Stride-2 Winograd over the input's phases on the blocked arrays: F(4x4,2x2) with the raw
    weights, F(4x4,2x2) and F(7x7,2x2) with the weights transformed beforehand."""
    import nestor as ns
    from schedules.templates.conv_winograd import conv2d_winograd

    sizes = (batch, conv.in_channels, conv.size, conv.size, conv.out_channels)
    module = ns.build(*conv2d_winograd(*sizes, padding=conv.padding, tile=4, stride=2, layout="NCHWc"),
                      target="llvm", name="conv2d_winograd_s2")
    yb = np.empty((batch, conv.out_channels // 16, conv.out_size, conv.out_size, 16), np.float32)
    kernels = {"winograd F(4x4,2x2) s2 data": (lambda: module(xb, wb, yb),
                                                lambda: yb.transpose(0, 1, 4, 2, 3).reshape(shape))}
    kernels.update(_transformed_kernels(xb, wb, conv, batch, shape, stride=2, tiles=(4, 7)))
    return kernels


def _winograd_kernels(x, w, xb, wb, conv: Conv, batch: int, shape: tuple) -> dict:
    """F(2x2,3x3) and F(4x4,3x3) on the blocked arrays, F(4x4,3x3) on NCHW arrays."""
    import nestor as ns
    from schedules.templates.conv_winograd import conv2d_winograd

    sizes = (batch, conv.in_channels, conv.size, conv.size, conv.out_channels)
    kernels = {}
    for tile in (2, 4):
        module = ns.build(*conv2d_winograd(*sizes, padding=conv.padding, tile=tile, layout="NCHWc"), target="llvm",
                          name=f"conv2d_winograd{tile}_blocked")
        yb = np.empty((batch, conv.out_channels // 16, conv.out_size, conv.out_size, 16), np.float32)
        kernels[f"winograd F({tile}x{tile},3x3) data"] = (
            lambda module=module, yb=yb: module(xb, wb, yb),
            lambda yb=yb: yb.transpose(0, 1, 4, 2, 3).reshape(shape))
    kernels.update(_transformed_kernels(xb, wb, conv, batch, shape))
    module = ns.build(*conv2d_winograd(*sizes, padding=conv.padding, tile=4), target="llvm", name="conv2d_winograd4")
    y = np.empty(shape, np.float32)
    kernels["winograd F(4x4,3x3), transforms timed"] = (lambda: module(x, w, y), lambda: y)
    return kernels


def _transformed_kernels(xb, wb, conv: Conv, batch: int, shape: tuple, stride: int = 1, tiles=(2, 4)) -> dict:
    """Winograd on blocked arrays with the weights transformed once beforehand (``U data``: a
    model's weights are constants, transformed when it is loaded, as TVM does at compile time)."""
    import nestor as ns
    from schedules.templates.conv_winograd import conv2d_winograd
    from schedules.templates.winograd_weights import conv2d_winograd_weights, weight_shape

    sizes = (batch, conv.in_channels, conv.size, conv.size, conv.out_channels)
    kernels = {}
    for tile in tiles:
        prepare = ns.build(*conv2d_winograd_weights(conv.in_channels, conv.out_channels, tile=tile, stride=stride,
                                                    layout="NCHWc"), target="llvm", name=f"winograd{tile}_weights")
        u = np.empty(weight_shape(conv.in_channels, conv.out_channels, tile, stride), np.float32)
        prepare(wb, u)
        module = ns.build(*conv2d_winograd(*sizes, padding=conv.padding, tile=tile, stride=stride, layout="NCHWc",
                                           weights="transformed"), target="llvm", name=f"conv2d_winograd{tile}_u")
        yb = np.empty((batch, conv.out_channels // 16, conv.out_size, conv.out_size, 16), np.float32)
        name = f"winograd F({tile}x{tile},3x3) U data" if stride == 1 else f"winograd F({tile}x{tile},2x2) s2 U data"
        kernels[name] = (
            lambda module=module, yb=yb, u=u: module(xb, u, yb),
            lambda yb=yb: yb.transpose(0, 1, 4, 2, 3).reshape(shape))
    return kernels


def _timed_rounds(sides: dict, repeat: int, cpu_time: bool) -> dict[str, list[float]]:
    """Seconds per call of each side (``(rounds, calls per round)``) in each interleaved round:
    :func:`benchmarks.harness.rounds_all`, or with ``cpu_time`` CPU seconds over the thread count
    (:func:`benchmarks.harness.rounds_all_cpu`, one call a round: each side's call already fills
    one)."""
    first, *others = sides
    if cpu_time:
        rounds = rounds_all_cpu(sides[first][0], {n: sides[n][0] for n in others}, repeat, roofline.threads(),
                                min_round=0.0)
    else:
        rounds = rounds_all(sides[first][0], {n: sides[n][0] for n in others}, repeat)
    return {name: [s / sides[name][1] for s in rounds.samples["" if name == first else name]] for name in sides}


def _ratio_quartiles(ours: list[float], theirs: list[float]) -> tuple[float, float]:
    """The first and third quartiles of the round-by-round ratio ``theirs / ours`` (both sides
    timed within the same seconds of each round)."""
    ratios = [b / a for a, b in zip(ours, theirs)]
    if len(ratios) < 2:
        return ratios[0], ratios[0]
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return q1, q3


def _repeated(run, min_round: float = 0.05):
    """``run`` repeated to fill about ``min_round`` seconds, and the count (sized from its steady
    call time, :func:`benchmarks.harness.steady_call`)."""
    number = max(1, int(min_round / steady_call(run)))

    def rounds():
        for _ in range(number):
            run()

    return rounds, number


def measure(report: Report, conv: Conv, batch: int, repeat: int, summary: list, cpu_time: bool = False) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, conv.in_channels, conv.size, conv.size), dtype=np.float32)
    w = rng.standard_normal((conv.out_channels, conv.in_channels, conv.kernel, conv.kernel), dtype=np.float32)
    kernels = _nestor_kernels(x, w, conv, batch)
    peers, reference = _peers(x, w, conv)
    expected = reference()
    for name, (run, result) in kernels.items():
        run()
        if not np.allclose(result(), expected, rtol=1e-3, atol=1e-3 * np.sqrt(conv.in_channels * conv.kernel**2)):
            raise SystemExit(f"conv2d {conv.name} ({name}): wrong result "
                             f"(max error {np.abs(result() - expected).max()})")
    sides = {name: _repeated(run) for name, run in [*((n, k[0]) for n, k in kernels.items()), *peers.items()]}
    samples = _timed_rounds(sides, repeat, cpu_time)
    timed = {name: (statistics.median(values), _spread(values)) for name, values in samples.items()}
    nestor = {n: timed.pop(n) for n in kernels}
    best = min(timed, key=lambda name: timed[name][0])
    theirs, flops = timed[best][0], conv.flops(batch)
    nbytes = 4.0 * (x.size + w.size + batch * conv.out_channels * conv.out_size**2)
    layouts = {("nhwc_s" if "channels-last" in name else "nchw_s" if "NCHW" in name else "numpy_s"): seconds
               for name, (seconds, _) in timed.items()}
    blocked = {name: value for name, value in nestor.items() if name.endswith("data")}
    best_name = min(blocked, key=lambda name: blocked[name][0])
    summary.append((conv.name, best_name, blocked[best_name][0], best, theirs,
                    _ratio_quartiles(samples[best_name], samples[best])))
    raw = {name: value for name, value in blocked.items() if not name.endswith("U data")}
    if len(raw) < len(blocked):  # also the best whose weights are not transformed beforehand
        raw_name = min(raw, key=lambda name: raw[name][0])
        summary.append((f"{conv.name} raw W", raw_name, raw[raw_name][0], best, theirs,
                        _ratio_quartiles(samples[raw_name], samples[best])))
    for name, (seconds, spread) in nestor.items():
        report.add(f"n{batch} {conv.name} [{name}]", seconds, best, theirs, nestor_gflops=flops / seconds / 1e9,
                   peer_gflops=flops / theirs / 1e9, **layouts, **roofline.fields(seconds, theirs, flops, nbytes),
                   noise=max(spread, *(s for _, s in timed.values())))


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--resnet", action="store_true", help="also the conv layers of ResNet-18")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--cpu-time", action="store_true",
                   help="time the process's CPU seconds (OpenMP threads wait asleep) instead of the wall clock")
    args = p.parse_args()
    if args.cpu_time:
        os.environ["OMP_WAIT_POLICY"] = "passive"  # read when the OpenMP runtimes start, below
    report = Report("conv2d_cpu", args.json)
    summary: list = []
    for conv in (BENCHMARK, *(RESNET18 if args.resnet else ())):
        measure(report, conv, args.batch, args.repeat, summary, args.cpu_time)
    _print_summary(summary, args.json)


def _print_summary(summary: list, as_json: bool) -> None:
    """Each case's best Nestor kernel on blocked arrays against the faster torch layout, with the
    quartiles of the round-by-round ratio."""
    for case, kernel, seconds, peer, peer_s, (q1, q3) in summary:
        row = {"bench": "conv2d_cpu", "summary": case, "best": kernel, "nestor_s": seconds, "peer": peer,
               "peer_s": peer_s, "ratio": peer_s / seconds, "ratio_q1": q1, "ratio_q3": q3}
        if as_json:
            print(json.dumps(row), flush=True)
        else:
            print(f"best  {case:<32} {kernel:<32} {seconds * 1e3:8.3f} ms   {peer:<32} {peer_s * 1e3:8.3f} ms   "
                  f"ratio {peer_s / seconds:5.2f}  (round ratios q1 {q1:5.2f}, q3 {q3:5.2f})", flush=True)


if __name__ == "__main__":
    main()
