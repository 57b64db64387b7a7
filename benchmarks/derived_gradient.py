"""Backward time of gradients derived from index expressions (``frontend.custom_op`` of the op's
forward compute: the adjoint built by ``ns.gradient``, generic CPU schedule) against the
frontend's hand-written gradient kernels of the same op, in the same process.

    python benchmarks/derived_gradient.py [--json] [--repeat N]

"nestor" is the derived gradient, the peer the hand-written one; a ratio above 1 means the
derived kernel is faster. Each side times ``frontend.grad(y, [x], head)`` for one input.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.harness import Report, compare, parser  # noqa: E402


def _cases():
    import frontend as nf
    import nestor as ns
    from schedules.templates.conv_variants import ConvParams, conv_forward

    def conv(stride, padding):
        return (lambda x, w: nf.conv2d(x, w, stride=stride, padding=padding),
                lambda x, w: conv_forward(x, w, ConvParams(stride, padding)))

    def pool(x):
        n, c, h, w = x.shape
        r, s = ns.reduce_axis(2, "r"), ns.reduce_axis(2, "s")
        return ns.compute((n, c, h // 2, w // 2), lambda b, j, y, v: ns.max(x[b, j, y * 2 + r, v * 2 + s],
                                                                             axis=[r, s]), name="max_pool")

    def tanh(a):
        return ns.compute(a.shape, lambda i, j: ns.tanh(a[i, j]), name="tanh")

    def matmul(a, b):
        k = ns.reduce_axis(a.shape[1], "k")
        return ns.compute((a.shape[0], b.shape[1]), lambda i, j: ns.sum(a[i, k] * b[k, j], axis=k), name="mm")

    yield "conv2d dX 16->32 s1 p1 b8", *conv(1, 1), [(8, 16, 28, 28), (32, 16, 3, 3)]
    yield "conv2d dX 16->32 s2 p1 b8", *conv(2, 1), [(8, 16, 28, 28), (32, 16, 3, 3)]
    yield "max_pool2d 2x2 dX b16", lambda x: nf.max_pool2d(x, 2), pool, [(16, 16, 28, 28)]
    yield "tanh dX 512x512", nf.tanh, tanh, [(512, 512)]
    yield "matmul dA 128x784x256", nf.matmul, matmul, [(128, 784), (784, 256)]


def run(args) -> None:
    import frontend as nf

    report = Report("derived_gradient", args.json)
    rng = np.random.default_rng(0)
    for case, hand, compute_fn, shapes in _cases():
        x, *rest = [nf.Tensor(rng.standard_normal(s).astype("float32"), requires_grad=False) for s in shapes]
        x.requires_grad = True
        derived = nf.custom_op(compute_fn, name=case.split()[0])
        y_hand, y_derived = hand(x, *rest), derived(x, *rest)
        head = nf.Tensor(rng.standard_normal(y_hand.shape).astype("float32"), requires_grad=False)
        (check_hand,) = nf.grad(y_hand, [x], head)
        (check_derived,) = nf.grad(y_derived, [x], head)
        error = float(np.abs(check_hand.numpy() - check_derived.numpy()).max())
        ours, theirs, _, _ = compare(lambda: nf.grad(y_derived, [x], head), lambda: nf.grad(y_hand, [x], head),
                                     repeat=args.repeat)
        report.add(case, ours, "hand-written", theirs, max_abs_diff=error)


if __name__ == "__main__":
    run(parser(__doc__.splitlines()[0]).parse_args())
