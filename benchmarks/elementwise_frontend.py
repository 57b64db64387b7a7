"""Run time of the frontend's fused elementwise kernels vs numpy: the kernel the lazy graph
builds for an expression on first use, timed at its launch (the call the graph makes once the
group is known: arrays in, outputs out), next to numpy evaluating the same expression.

It watches the code of the kernels whose build time ``compile_time.py`` reports: they are
built with a short LLVM pass list (``backends/llvm/map_kernels.py``), and this shows what they
run at. ``--shape`` sets the operands' shape (default 257x1000, the compile benchmark's).

    python benchmarks/elementwise_frontend.py [--json] [--repeat 7] [--shape 257x1000]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.harness import Report, compare, parser  # noqa: E402


def _cases(x: np.ndarray, y: np.ndarray, bias: np.ndarray) -> dict[str, tuple[Callable, Callable]]:
    """Per case: the frontend expression over tensors (a, b, bias), and numpy's over arrays."""
    return {
        "a*b+a": (lambda a, b, c: a * b + a, lambda: x * y + x),
        "a+bias": (lambda a, b, c: a + c, lambda: x + bias),
        "relu(a)*b": (lambda a, b, c: a.relu() * b, lambda: np.maximum(x, 0) * y),
        "a*2-1": (lambda a, b, c: a * 2.0 - 1.0, lambda: x * 2.0 - 1.0),
    }


def _launch_of(expression: Callable[[], object]) -> Callable[[], object]:
    """The last kernel launch ``expression()`` makes when it is read, as a call of the compiled
    kernel on the same arrays (compiled by this first read)."""
    from frontend import dispatch

    dispatch.cache.clear()  # every case compiles its kernels afresh, through the one entry point
    seen = []
    real = dispatch.cache.run

    def run(op, request, arrays):
        seen.append((request, arrays))
        return real(op, request, arrays)

    dispatch.cache.run = run
    try:
        expression().numpy()
    finally:
        del dispatch.cache.run
    request, arrays = seen[-1]
    kernel = dispatch.cache.kernels[request]
    return lambda: kernel(arrays)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--shape", default="257x1000", help="rows x columns of the operands")
    args = p.parse_args()
    import frontend

    rows, cols = (int(n) for n in args.shape.lower().split("x"))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((rows, cols), dtype=np.float32), rng.standard_normal((rows, cols), dtype=np.float32)
    bias = rng.standard_normal(cols, dtype=np.float32)
    a, b, c = frontend.Tensor(x), frontend.Tensor(y), frontend.Tensor(bias)
    report = Report("elementwise_frontend", args.json)
    with frontend.no_grad():
        for case, (ours, theirs) in _cases(x, y, bias).items():
            call = _launch_of(lambda ours=ours: ours(a, b, c))
            np.testing.assert_allclose(call()[0].reshape(rows, cols), theirs(), rtol=1e-5, atol=1e-5)
            nestor_s, peer_s, spread_ours, spread_theirs = compare(call, theirs, repeat=args.repeat, settle=0.05)
            report.add(f"{case} {rows}x{cols}", nestor_s, "numpy", peer_s, spread=max(spread_ours, spread_theirs))


if __name__ == "__main__":
    main()
