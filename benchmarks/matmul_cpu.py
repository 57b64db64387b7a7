"""Matmul float32 on the CPU: the seed's tiled template (default parameters) vs numpy (OpenBLAS),
and the same template with a symbolic row count M (one kernel for every M) vs the static one.

    python benchmarks/matmul_cpu.py [--json] [--sizes 512,1024,2048] [--no-symbolic]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.harness import Report, compare, parser  # noqa: E402


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--sizes", default="512,1024,2048")
    p.add_argument("--layout", choices=["A@B", "A@B.T"], default="A@B")
    p.add_argument("--no-symbolic", action="store_true", help="skip the symbolic-M cases")
    args = p.parse_args()
    import nestor as ns
    from schedules.templates import matmul_cpu

    report = Report("matmul_cpu", args.json)
    rng = np.random.default_rng(0)
    transpose_b = args.layout == "A@B.T"
    for n in (int(x) for x in args.sizes.split(",")):
        s, tensors = matmul_cpu(n, n, n, transpose_b=transpose_b)
        module = ns.build(s, tensors, target="llvm", name=f"matmul{n}")
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), np.float32)
        module(a, b, c)
        expected = a @ (b.T if transpose_b else b)
        if not np.allclose(c, expected, rtol=1e-3, atol=1e-2 * np.sqrt(n)):
            raise SystemExit(f"matmul {n}: wrong result (max error {np.abs(c - expected).max()})")
        out = np.empty_like(c)
        peer = (lambda: np.matmul(a, b.T, out=out)) if transpose_b else (lambda: np.matmul(a, b, out=out))
        ours, theirs, noise, peer_noise = compare(lambda: module(a, b, c), peer, args.repeat)
        report.add(f"n={n} {args.layout}", ours, "numpy (OpenBLAS)", theirs,
                   nestor_gflops=2 * n**3 / ours / 1e9, peer_gflops=2 * n**3 / theirs / 1e9,
                   noise=max(noise, peer_noise))
        if not args.no_symbolic:
            symbolic_case(report, args, module, a, b, c, n, transpose_b)


def symbolic_case(report, args, static, a, b, c, n: int, transpose_b: bool) -> None:
    """The template built once for a symbolic M, run at M = n, against the static build (peer)."""
    import nestor as ns
    from schedules.templates import matmul_cpu

    s, tensors = matmul_cpu(ns.size_var("M"), n, n, transpose_b=transpose_b)
    module = ns.build(s, tensors, target="llvm", name=f"matmul_m{n}")
    out = np.empty_like(c)
    module(a, b, out)
    if not np.allclose(out, c, rtol=1e-4, atol=1e-3):
        raise SystemExit(f"symbolic matmul {n}: result differs from the static kernel")
    ours, theirs, noise, peer_noise = compare(lambda: module(a, b, out), lambda: static(a, b, c), args.repeat)
    report.add(f"n={n} {args.layout} symbolic M", ours, "nestor static M", theirs,
               nestor_gflops=2 * n**3 / ours / 1e9, noise=noise, peer_noise=peer_noise)


if __name__ == "__main__":
    main()
