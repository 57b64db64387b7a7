"""``te.gradient`` of the topi computes TVM's autodiff unit tests differentiate
(tests/python/unittest/test_te_autodiff.py, test_topi), written as computes through
:mod:`te_shim`: ``concatenate`` and ``split`` along an axis,
``reshape``, and a dense layer under a softmax with its sum kept as a column. Each gradient is
checked against the known one or against central differences of the built forward. A subscript
that multiplies indices, or one read from a tensor (``take``), gets TVM's Jacobian: the
derivative where the subscript equals the element, summed over the reads."""

from __future__ import annotations

import numpy as np

from .helpers import close, empty
from .te_shim import te, tvm


def _gradients(out, inputs, feeds, args=(), head=None):
    """The built gradients of ``sum(head * out)`` with respect to ``inputs`` (head: ones)."""
    head_tensor = te.compute(out.shape, lambda *i: tvm.tir.const(1.0, "float32"), name="ones") if head is None \
        else te.placeholder(out.shape, name="head")
    grads = te.gradient(out, inputs, head=head_tensor)
    extra = [] if head is None else [head_tensor]
    built = tvm.build(te.create_schedule([g.op for g in grads]), [*grads, *inputs, *args, *extra])
    results = [empty(tuple(int(d) for d in t.shape), "float32") for t in inputs]
    built(*results, *feeds, *([] if head is None else [head]))
    return results


def _central_differences(out, inputs, feeds, position, eps=1e-2):
    forward = tvm.build(te.create_schedule(out.op), [out, *inputs])
    result = empty(tuple(int(d) for d in out.shape), "float32")

    def total(values):
        forward(result, *values)
        return result.astype(np.float64).sum()

    base = feeds[position]
    grad = np.zeros(base.shape)
    for index in np.ndindex(base.shape):
        shifted = []
        for sign in (1, -1):
            moved = base.copy()
            moved[index] += sign * eps
            shifted.append(total([moved if n == position else f for n, f in enumerate(feeds)]))
        grad[index] = (shifted[0] - shifted[1]) / (2 * eps)
    return grad


def test_subscripts_that_are_not_affine_get_tvms_jacobian():
    X = te.placeholder((16,), name="X")
    R = te.compute((4,), lambda i: X[i * i], name="R")
    x = np.random.default_rng(11).uniform(-1, 1, 16).astype(np.float32)
    (dx,) = _gradients(R, [X], [x])
    close(dx, np.isin(np.arange(16), [0, 1, 4, 9]).astype(np.float32))  # ones where R reads
    rows = te.placeholder((4,), name="I", dtype="int32")  # TVM's take: (|I[i]| == x) times the head
    T = te.compute((4,), lambda i: X[te.abs(rows[i])] * X[te.abs(rows[i])], name="T")
    picks = np.array([-3, 3, 15, 0], "int32")
    (dx,) = _gradients(T, [X], [x, picks], args=[rows])
    want = np.zeros(16)
    np.add.at(want, np.abs(picks), 2 * x[np.abs(picks)])
    close(dx, want)
    close(dx, _central_differences(T, [X, rows], [x, picks], 0), rtol=1e-3, atol=1e-3)


def test_concatenate_and_split_along_an_axis():
    X = te.placeholder((1, 2, 3, 5), name="X")
    Y = te.placeholder((1, 2, 7, 5), name="Y")
    joined = te.compute((1, 2, 10, 5), lambda n, c, h, w: te.if_then_else(
        h < 3, X[n, c, te.min(h, 2), w], Y[n, c, te.max(h - 3, 0), w]), name="concat")
    top = te.compute((1, 2, 4, 5), lambda n, c, h, w: joined[n, c, h, w], name="split0")
    bottom = te.compute((1, 2, 6, 5), lambda n, c, h, w: joined[n, c, h + 4, w], name="split1")
    R = te.compute((1, 2, 10, 5), lambda n, c, h, w: te.if_then_else(
        h < 6, bottom[n, c, te.min(h, 5), w] * 2.0, top[n, c, te.max(h - 6, 0), w] * 3.0), name="R")
    rng = np.random.default_rng(13)
    x = rng.uniform(-1, 1, (1, 2, 3, 5)).astype(np.float32)
    y = rng.uniform(-1, 1, (1, 2, 7, 5)).astype(np.float32)
    dx, dy = _gradients(R, [X, Y], [x, y])
    close(dx, np.full(x.shape, 3.0))  # rows 0..3 of the concatenation are the top part, tripled
    close(dy, np.concatenate([np.full((1, 2, 1, 5), 3.0), np.full((1, 2, 6, 5), 2.0)], axis=2))


def test_reshape_to_a_row():
    X = te.placeholder((1, 2, 5, 5), name="X")
    R = te.compute((1, 50), lambda i, j: X[i, j // 25, j // 5 % 5, j % 5] * (j + 1.0), name="R")
    (dx,) = _gradients(R, [X], [np.zeros((1, 2, 5, 5), np.float32)])
    close(dx, np.arange(1.0, 51.0).reshape(1, 2, 5, 5))


def test_a_dense_layer_under_a_softmax_with_its_sum_kept_as_a_column():
    X = te.placeholder((4, 5), name="X")
    W = te.placeholder((5, 5), name="W")
    k, k2 = te.reduce_axis((0, 5), "k"), te.reduce_axis((0, 5), "k2")
    dense = te.compute((4, 5), lambda i, j: te.sum(X[i, k] * W[j, k], axis=k), name="dense")
    exps = te.compute((4, 5), lambda i, j: te.exp(dense[i, j]), name="exps")
    sums = te.compute((4, 1), lambda i, _: te.sum(exps[i, k2], axis=k2), name="sums")
    R = te.compute((4, 5), lambda i, j: exps[i, j] / sums[i, 0] * (j + 1.0), name="R")
    rng = np.random.default_rng(14)
    feeds = [rng.uniform(-1, 1, (4, 5)).astype(np.float32), rng.uniform(-1, 1, (5, 5)).astype(np.float32)]
    grads = _gradients(R, [X, W], feeds)
    for position, grad in enumerate(grads):
        close(grad, _central_differences(R, [X, W], feeds, position), rtol=2e-2, atol=2e-3)
