"""Bandwidth-bound kernels on the CPU (default elementwise/broadcast/row-reduction templates) vs numpy.

    python benchmarks/elementwise_cpu.py [--json]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks import roofline  # noqa: E402
from benchmarks.harness import Report, compare, parser  # noqa: E402


def _cases(ns, templates, rng):
    rows, cols = 4096, 4096
    a = rng.standard_normal((rows, cols), dtype=np.float32)
    b = rng.standard_normal((rows, cols), dtype=np.float32)
    bias = rng.standard_normal(cols, dtype=np.float32)
    out = np.empty_like(a)

    s, t = templates.elementwise_cpu((rows, cols))
    yield "add 4096x4096", ns.build(s, t, target="llvm"), (a, b, out), lambda: np.add(a, b, out=out), a + b
    s, t = templates.elementwise_cpu((rows, cols), lambda x, y: x * y + 1.0)
    yield "fma 4096x4096", ns.build(s, t, target="llvm"), (a, b, out), \
        lambda: np.add(np.multiply(a, b, out=out), 1.0, out=out), a * b + 1.0
    s, t = templates.elementwise_cpu((rows, cols), lambda x: ns.maximum(x, 0.0), inputs=1)
    yield "relu 4096x4096", ns.build(s, t, target="llvm"), (a, out), lambda: np.maximum(a, 0.0, out=out), \
        np.maximum(a, 0)
    s, t = templates.bias_add(rows, cols)
    yield "bias_add 4096x4096", ns.build(s, t, target="llvm"), (a, bias, out), lambda: np.add(a, bias, out=out), \
        a + bias
    row_out = np.empty(rows, np.float32)
    s, t = templates.row_sum_cpu(rows, cols)
    yield "row_sum 4096x4096", ns.build(s, t, target="llvm"), (a, row_out), lambda: np.sum(a, axis=1, out=row_out), \
        a.sum(axis=1)


def main() -> None:
    args = parser(__doc__).parse_args()
    import nestor as ns
    from schedules import templates

    report = Report("elementwise_cpu", args.json)
    for case, module, arrays, peer, expected in _cases(ns, templates, np.random.default_rng(0)):
        module(*arrays)
        if not np.allclose(arrays[-1], expected, rtol=1e-4, atol=1e-3):
            raise SystemExit(f"{case}: wrong result")
        ours, theirs, noise, peer_noise = compare(lambda: module(*arrays), peer, args.repeat)
        nbytes = sum(x.nbytes for x in arrays)
        flops = float(arrays[0].size) * (2 if case.startswith("fma") else 1)
        report.add(case, ours, "numpy", theirs, nestor_gbps=nbytes / ours / 1e9,
                   **roofline.fields(ours, theirs, flops, nbytes), noise=max(noise, peer_noise))


if __name__ == "__main__":
    main()
