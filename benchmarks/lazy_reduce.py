"""Reductions fused with their elementwise producers (``frontend.lazy_reduce``) against the
unfused pair (the elementwise group's kernel, then the reduction's), in the same process,
interleaved, on float32 from warm kernel caches.

    python benchmarks/lazy_reduce.py [--json] [--repeat N]

"nestor" is the one fused kernel, the peer the two kernels; a ratio above 1 means fusing is
faster. The cases are the reductions of a training step: a loss's mean of squares, a bias
gradient's sum over the batch (the kept inner axis in vectors), a row sum of squares and a
softmax denominator (the reduced inner axis); and elementwise groups with reduction stages
(centering rows, a softmax over rows in one kernel) against the reductions realized before
their users.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.harness import report_fused_pairs  # noqa: E402


def _cases(rng):
    import frontend as nf

    def tensor(*shape):
        return nf.Tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=False)

    def pair(chain, reduce):
        def fused():
            return reduce(chain()).data

        def separate():
            value = chain()
            assert value.data is not None  # the group's kernel first: the reduction reads it realized
            return reduce(value).data

        return fused, separate

    y, t = tensor(128, 256), tensor(128, 256)
    g, h = tensor(128, 256), tensor(128, 256)
    x, m = tensor(128, 1024), tensor(128, 1)
    def staged(fused, separate):
        return lambda: fused().data, lambda: separate().data

    def softmax():
        e = (x - x.max(1, keepdims=True)).exp()
        return e / e.sum(1, keepdims=True)

    def softmax_unfused():
        top = x.max(1, keepdims=True)
        assert top.data is not None
        e = (x - top).exp()
        total = e.sum(1, keepdims=True)
        assert total.data is not None
        return e / total

    def center_unfused():
        top = x.max(1, keepdims=True)
        assert top.data is not None
        return x - top

    return {"x - max(x, 1) 128x1024": staged(lambda: x - x.max(1, keepdims=True), center_unfused),
            "softmax rows 128x1024": staged(softmax, softmax_unfused),
            "mean((y-t)^2) 128x256": pair(lambda: (y - t) ** 2, lambda v: v.mean()),
            "sum(g*(1-h*h), 0) 128x256": pair(lambda: g * (1.0 - h * h), lambda v: v.sum(0)),
            "sum(x*x, 1) 128x1024": pair(lambda: x * x, lambda v: v.sum(1)),
            "sum(exp(x-m), 1) 128x1024": pair(lambda: (x - m).exp(), lambda v: v.sum(1))}


def main() -> None:
    report_fused_pairs("lazy_reduce", __doc__.splitlines()[0], lambda: _cases(np.random.default_rng(0)),
                       "elementwise + reduction")


if __name__ == "__main__":
    main()
