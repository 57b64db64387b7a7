"""Where a Winograd convolution spends its time: each stage of the pipeline (weight transform,
input transform, the alpha^2 matrix products, output transform) timed as a kernel of its own
(:mod:`schedules.templates.winograd_stages`), interleaved with the whole Winograd kernel (weights
transformed beforehand, and raw) and the direct NCHW16c kernel on the same blocked arrays; the
products' GFLOP/s (their own FLOPs) and the direct kernel's beside the measured FMA peak
(:mod:`benchmarks.peak`).

    python benchmarks/conv2d_winograd_stages.py [--layer "resnet18 layer4 3x3"] [--tiles 2,4]
        [--batch 8] [--cpu-time] [--json]

``--layer`` names a case of :mod:`benchmarks.conv2d_cpu` (a 3x3 layer; stride 2 takes the tiles
4 and 7 of the phase variant).
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks import roofline  # noqa: E402
from benchmarks.conv2d_cpu import BENCHMARK, RESNET18, _blocked  # noqa: E402
from benchmarks.harness import parser, rounds_all, rounds_all_cpu  # noqa: E402


def _kernel(schedule_args, inputs, name):
    import nestor as ns

    s, args = schedule_args
    module = ns.build(s, args, target="llvm", name=name)
    out = np.empty(args[-1].shape, np.float32)
    module(*inputs, out)
    return (lambda: module(*inputs, out)), out


def _sides(conv, batch: int, tile: int, x, w) -> tuple[dict, dict]:
    """The kernels by name, and the FLOPs each does (the Winograd products their own)."""
    from schedules.templates.conv_nchwc import conv2d_nchwc
    from schedules.templates.conv_winograd import conv2d_winograd
    from schedules.templates.winograd_stages import winograd_stage

    sizes = (batch, conv.in_channels, conv.size, conv.size, conv.out_channels)
    options = {"padding": conv.padding, "tile": tile, "stride": conv.stride}
    xb, wb = _blocked(x, w, conv, min(16, conv.in_channels), 16)
    sides, flops = {}, {}
    sides["direct NCHW16c"], _ = _kernel(conv2d_nchwc(*sizes, 3, stride=conv.stride, padding=conv.padding,
                                                      layout="NCHWc"), [xb, wb], "direct")
    flops["direct NCHW16c"] = conv.flops(batch)
    u_run, u = _kernel(winograd_stage("weights", *sizes, **options), [wb], "weights")
    v_run, v = _kernel(winograd_stage("input", *sizes, **options), [xb], "input")
    m_run, m = _kernel(winograd_stage("products", *sizes, **options), [v, u], "products")
    y_run, _ = _kernel(winograd_stage("output", *sizes, **options), [m], "output")
    sides["winograd, U given"], _ = _kernel(conv2d_winograd(*sizes, **options, layout="NCHWc",
                                                            weights="transformed"), [xb, u], "winograd_u")
    sides["winograd, raw weights"], _ = _kernel(conv2d_winograd(*sizes, **options, layout="NCHWc"), [xb, wb],
                                                "winograd_raw")
    sides.update({"stage weights": u_run, "stage input": v_run, "stage products": m_run, "stage output": y_run})
    flops["stage products"] = 2.0 * m.shape[0] * m.shape[1] * m.shape[2] * m.shape[3] * v.shape[3] * v.shape[4]
    return sides, flops


def measure(conv, batch: int, tile: int, repeat: int, cpu_time: bool, as_json: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, conv.in_channels, conv.size, conv.size), dtype=np.float32)
    w = rng.standard_normal((conv.out_channels, conv.in_channels, 3, 3), dtype=np.float32)
    sides, flops = _sides(conv, batch, tile, x, w)
    first, *others = sides
    if cpu_time:
        rounds = rounds_all_cpu(sides[first], {n: sides[n] for n in others}, repeat, roofline.threads())
    else:
        rounds = rounds_all(sides[first], {n: sides[n] for n in others}, repeat)
    peak = roofline.machine().flops
    whole = rounds.median("winograd, U given")
    for name in sides:
        seconds = rounds.median("" if name == first else name)
        row = {"bench": "conv2d_winograd_stages", "case": conv.name, "tile": tile, "kernel": name,
               "seconds": seconds, "share_of_winograd_u": seconds / whole, "spread": rounds.spread(
                   "" if name == first else name)}
        if name in flops:
            row.update(gflops=flops[name] / seconds / 1e9, peak_share=flops[name] / seconds / peak)
        if as_json:
            print(json.dumps(row), flush=True)
            continue
        extra = f"  {row['gflops']:6.0f} GFLOP/s = {row['peak_share']:.2f} of peak" if name in flops else ""
        print(f"{conv.name:<24} F({tile}) {name:<22} {seconds * 1e3:8.3f} ms  {seconds / whole:5.2f} of Winograd "
              f"(U given)  spread {row['spread']:.2f}{extra}", flush=True)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--layer", default="resnet18 layer4 3x3")
    p.add_argument("--tiles", default=None, help="comma-separated Winograd tiles (2,4 for stride 1; 4,7 for 2)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--cpu-time", action="store_true")
    args = p.parse_args()
    cases = {conv.name: conv for conv in (BENCHMARK, *RESNET18) if conv.kernel == 3}
    if args.layer not in cases:
        raise SystemExit(f"conv2d_winograd_stages: --layer must be one of {sorted(cases)}, got {args.layer!r}")
    conv = cases[args.layer]
    tiles = args.tiles or ("2,4" if conv.stride == 1 else "4,7")
    for tile in (int(t) for t in tiles.split(",")):
        measure(conv, args.batch, tile, args.repeat, args.cpu_time, args.json)


if __name__ == "__main__":
    main()
