"""GPU code quality without a GPU: the generated kernels compiled with
``nvcc -arch=sm_90 -cubin -Xptxas -v`` and read back with ``cuobjdump -sass``.

Per kernel: registers, spills, shared memory, resident blocks and occupancy from the sm_90
limits, the FFMA share of the hot loop (the loop with the most FFMAs), global and shared load
widths in bits (counts), barriers per step of the tile loop (the loop around the hot loop that
meets a barrier), whether the tiles are double-buffered (the tile loop issues global loads and
meets a single barrier), and the worst shared-memory bank-conflict
degree over the kernel's shared accesses (from their index expressions, see
:mod:`backends.cuda.banks`). Kernels: matmul_gpu's default config and chosen candidates of its
tuning space, a softmax, a row sum, and conv2d through the GPU template.

    python benchmarks/gpu_sass.py [--json] [--size 4096]

Needs nvcc and cuobjdump (``pip install 'nestor[gpu-tools]'``). With ``--json``, one object per
kernel: the benchmark contract's keys (``nestor_s``/``peer_s`` are null: nothing is timed) and
the figures above.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: matmul_gpu candidates compiled beside the default: the SGEMM-shaped points of its tuning space
#: (128 x 128 block tiles, 8 x 8 or 8 x 4 thread tiles, k-steps 8 to 32, double buffering on and
#: off), and the seed's tiles (64 x 64, 4 x 4 per thread) in the new template
CANDIDATES = (
    {"L": 128, "S": 16, "V": 8, "W": 8, "double_buffer": True},
    {"L": 128, "S": 32, "V": 8, "W": 8, "double_buffer": False},
    {"L": 128, "S": 8, "V": 8, "W": 4, "double_buffer": True},
    {"L": 128, "S": 16, "V": 8, "W": 4, "double_buffer": True},
    {"L": 128, "S": 8, "V": 8, "W": 8, "double_buffer": False},
    {"L": 64, "S": 8, "V": 8, "W": 8, "double_buffer": True},
    {"L": 64, "S": 8, "V": 4, "W": 4, "double_buffer": True},
)


def _matmul(n: int, **knobs):
    from schedules.templates import matmul_gpu

    return matmul_gpu(n, n, n, **knobs)


def _row_sum(rows: int, cols: int):
    import tensorir.functions as fn
    from schedules.templates.gpu_generic import gpu_generic
    from tensorir.tensor import compute, placeholder, reduce_axis

    x = placeholder((rows, cols), "float32", name="X")
    k = reduce_axis(cols, "k")
    total = compute((rows,), lambda i: fn.sum(x[i, k], axis=k), name="RowSum")
    return gpu_generic(total), [x, total]


def _softmax(rows: int, cols: int):
    import tensorir.functions as fn
    from schedules.templates.gpu_generic import gpu_generic
    from tensorir.tensor import compute, placeholder, reduce_axis

    x = placeholder((rows, cols), "float32", name="X")
    k1, k2 = reduce_axis(cols, "k1"), reduce_axis(cols, "k2")
    peak = compute((rows,), lambda i: fn.max(x[i, k1], axis=k1), name="Peak")
    e = compute((rows, cols), lambda i, j: fn.exp(x[i, j] - peak[i]), name="E")
    total = compute((rows,), lambda i: fn.sum(e[i, k2], axis=k2), name="Total")
    y = compute((rows, cols), lambda i, j: e[i, j] / total[i], name="Y")
    return gpu_generic(y), [x, y]


def _conv2d():
    from schedules.templates.conv_variants import conv2d_tiled

    return conv2d_tiled(32, 64, 56, 56, 64, 3, target="cuda")


def workloads(size: int) -> list[tuple[str, object]]:
    """(case name, builder of ``(schedule, args)``) of every kernel the benchmark reads."""
    cases = [(f"matmul_gpu default n={size}", lambda: _matmul(size))]
    for knobs in CANDIDATES:
        label = f"L{knobs['L']} S{knobs['S']} {knobs['V']}x{knobs['W']} " \
            f"{'dbuf' if knobs['double_buffer'] else 'single'}"
        cases.append((f"matmul_gpu {label}", lambda knobs=knobs: _matmul(size, **knobs)))
    cases += [("softmax 4096x4096", lambda: _softmax(4096, 4096)),
              ("row_sum 4096x4096", lambda: _row_sum(4096, 4096)),
              ("conv2d 32x64x56x56 k64 3x3", _conv2d)]
    return cases


def analyse(case: str, build) -> list[dict]:
    """The figures of every kernel of one workload."""
    import nestor as ns
    from backends.cuda.banks import shared_accesses
    from backends.cuda.sass import (
        blocks_per_sm,
        compile_and_disassemble,
        double_buffered,
        hot_loop,
        load_widths,
        tile_loop,
    )

    s, args = build()
    module = ns.build(s, args, target="cuda", name="sass_case")
    compiled = compile_and_disassemble(module.source)
    rows = []
    for kernel, launch in zip(module.kernels, module.launches):
        used, code = compiled.resources[kernel.name], compiled.sass[kernel.name]
        loop = hot_loop(code)
        body = loop.body if loop else ()
        tile = tile_loop(code, loop) if loop else None
        blocks = blocks_per_sm(launch.threads, used.registers, launch.shared_bytes)
        conflicts = shared_accesses(kernel)
        rows.append({
            "bench": "gpu_sass", "case": case if len(module.kernels) == 1 else f"{case} [{kernel.name}]",
            "nestor_s": None, "peer": None, "peer_s": None, "ratio": None,
            "threads": launch.threads, "registers": used.registers,
            "spill_bytes": used.spill_stores + used.spill_loads, "shared_bytes": launch.shared_bytes,
            "blocks_per_sm": blocks, "occupancy": blocks * -(-launch.threads // 32) / 64,
            "hot_loop_ffma": round(loop.ffma_share, 3) if loop else None,
            "hot_loop_instructions": len(body), "tile_loop_barriers": tile.count("BAR") if tile else 0,
            "global_loads": load_widths(code, "LDG"), "shared_loads": load_widths(code, "LDS"),
            "hot_shared_loads": load_widths(body, "LDS"),
            "double_buffered": bool(tile) and double_buffered(tile),
            "bank_conflict_degree": max((a.degree for a in conflicts), default=1),
            "shared_accesses": [f"{a.kind} {a.text} {a.bits}b x{a.degree}" for a in conflicts],
        })
    return rows


def _widths(widths: dict) -> str:
    return ",".join(f"{bits}:{count}" for bits, count in widths.items()) or "-"


def _print(row: dict) -> None:
    ffma = "-" if row["hot_loop_ffma"] is None else f"{row['hot_loop_ffma'] * 100:.0f}%"
    print(f"{row['case']:<44} thr {row['threads']:>4} reg {row['registers']:>3} spill {row['spill_bytes']:>4} "
          f"smem {row['shared_bytes']:>6} blk/SM {row['blocks_per_sm']:>2} occ {row['occupancy'] * 100:>3.0f}% "
          f"FFMA {ffma:>4} LDG {_widths(row['global_loads']):<14} LDS {_widths(row['shared_loads']):<14} "
          f"bar {row['tile_loop_barriers']} dbuf {'yes' if row['double_buffered'] else 'no':<3} "
          f"banks x{row['bank_conflict_degree']}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object per kernel")
    p.add_argument("--size", type=int, default=4096, help="matmul size n (n x n times n x n)")
    p.add_argument("--only", default="", help="analyse only the cases whose name contains this text")
    p.add_argument("--accesses", action="store_true", help="list each shared access with its conflict degree")
    args = p.parse_args()
    from tensorir.errors import BackendUnavailable

    try:
        for case, build in workloads(args.size):
            if args.only not in case:
                continue
            for row in analyse(case, build):
                if args.json:
                    print(json.dumps(row), flush=True)
                    continue
                _print(row)
                if args.accesses:
                    for access in row["shared_accesses"]:
                        print(f"    {access}")
    except BackendUnavailable as error:
        raise SystemExit(f"gpu_sass: {error}") from None


if __name__ == "__main__":
    main()
