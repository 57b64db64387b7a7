"""Softmax cross entropy as one op: per-row losses ``logsumexp(z_i) - z_i[y_i]`` from logits and
int labels, and its gradient ``g_i * (softmax(z_i) - onehot(y_i))``, each one kernel."""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.tensor import compute, reduce_axis

from ..data.loader import check_labels
from ..tensor import Tensor
from .base import Op


def _row_logsumexp(z):
    n, k = z.shape
    j1, j2 = reduce_axis(k, "j"), reduce_axis(k, "j")
    top = compute((n,), lambda i: fn.max(z[i, j1], axis=j1), name="row_max")
    total = compute((n,), lambda i: fn.sum(fn.exp(z[i, j2] - top[i]), axis=j2), name="row_sum")
    return top, total


def _is(labels, i, j, dtype):
    return (labels[i] == j.astype(labels.dtype.value)).astype(dtype.value)


class SoftmaxCrossEntropy(Op):
    """``loss[i] = log(sum_j exp(z[i, j])) - z[i, labels[i]]`` (stable: shifted by the row max)."""

    name = "softmax_cross_entropy"

    def compute(self, request, z, labels):
        top, total = _row_logsumexp(z)
        j = reduce_axis(z.shape[1], "j")
        picked = compute((z.shape[0],), lambda i: fn.sum(z[i, j] * _is(labels, i, j, z.dtype), axis=j),
                         name="picked")
        return compute((z.shape[0],), lambda i: fn.log(total[i]) + top[i] - picked[i], name="loss")

    def gradient(self, g, node):
        z, labels = node.inputs
        return SoftmaxCrossEntropyBackward()(g, z, labels), None


class SoftmaxCrossEntropyBackward(Op):
    """``dz[i, j] = g[i] * (softmax(z)[i, j] - (j == labels[i]))``."""

    name = "softmax_cross_entropy_backward"

    def compute(self, request, g, z, labels):
        top, total = _row_logsumexp(z)
        return compute(z.shape, lambda i, j: g[i] * (fn.exp(z[i, j] - top[i]) / total[i] - _is(labels, i, j, z.dtype)),
                       name="dz")

    def gradient(self, gg, node):
        from . import elementwise as ew
        from .reduce import logsumexp, summation
        from .shape import reshape

        g, z, labels = node.inputs
        column = (z.shape[0], 1)
        softmax = ew.exp(ew.subtract(z, logsumexp(z, 1, keepdims=True)))
        weighted = ew.multiply(gg, reshape(g, column))
        inner = summation(ew.multiply(softmax, weighted), 1, keepdims=True)
        dz = ew.multiply(softmax, ew.subtract(weighted, inner))
        from .creation import ones_like

        dg = summation(ew.multiply(gg, SoftmaxCrossEntropyBackward()(ones_like(g), z, labels)), 1)
        return dg, dz, None


def softmax_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-row cross entropy of ``logits`` (N, K) against int ``labels`` (N,), each in ``[0, K)``."""
    check_labels("softmax_cross_entropy", labels.numpy(), logits.shape[-1])
    return SoftmaxCrossEntropy()(logits, labels)
