"""Softmax cross entropy as one op: per-row losses ``logsumexp(z_i) - z_i[y_i]`` from logits and
int labels, and its gradient ``g_i * (softmax(z_i) - onehot(y_i))``, each one kernel.

:func:`softmax_cross_entropy_mean` (``nn.SoftmaxLoss``) takes the mean over the rows inside the
same kernels: one kernel forward (the 0-d loss) and one backward (``g / N * (softmax -
onehot)``), where a per-row loss followed by ``mean`` runs four. The count ``N`` is the kernel's
own row extent, so a symbolic-batch kernel serves every batch size.
"""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.tensor import compute, reduce_axis

from ..autograd import grad, is_grad_enabled
from ..data.loader import check_labels
from ..tensor import Tensor
from .averages import _reciprocal
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


class SoftmaxCrossEntropyMean(Op):
    """``loss = mean_i(logsumexp(z[i]) - z[i, labels[i]])``, a 0-d output (the kernel's is ``(1,)``)."""

    name = "softmax_cross_entropy_mean"
    saves, saves_output = True, False

    def forward(self, z, labels, device: str = "cpu"):
        return super().forward(z, labels, device=device).reshape(())

    def compute(self, request, z, labels):
        rows = SoftmaxCrossEntropy().compute(request, z, labels)
        i = reduce_axis(z.shape[0], "i")
        scale = _reciprocal([z.shape[0]], z.dtype)
        total = compute((1,), lambda _: fn.sum(rows[i], axis=i), name="loss_sum")
        return compute((1,), lambda o: total[o] * scale, name="loss_mean")

    def gradient(self, g, node):
        z, labels = node.inputs
        if is_grad_enabled():  # create_graph: the per-row op and mean, differentiable again
            from .reduce import mean

            return grad(mean(SoftmaxCrossEntropy()(z, labels)), [z], g, create_graph=True)[0], None
        return SoftmaxCrossEntropyMeanBackward()(g, z, labels), None


class SoftmaxCrossEntropyMeanBackward(Op):
    """``dz[i, j] = g / N * (softmax(z)[i, j] - (j == labels[i]))``, ``g`` 0-d."""

    name = "softmax_cross_entropy_mean_backward"

    def forward(self, g, z, labels, device: str = "cpu"):
        return super().forward(g.reshape(1), z, labels, device=device)

    def compute(self, request, g, z, labels):
        top, total = _row_logsumexp(z)
        scale = _reciprocal([z.shape[0]], z.dtype)
        return compute(z.shape, lambda i, j: g[0] * scale * (fn.exp(z[i, j] - top[i]) / total[i]
                                                             - _is(labels, i, j, z.dtype)), name="dz")


def softmax_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-row cross entropy of ``logits`` (N, K) against int ``labels`` (N,), each in ``[0, K)``."""
    check_labels("softmax_cross_entropy", labels.numpy(), logits.shape[-1])
    return SoftmaxCrossEntropy()(logits, labels)


def softmax_cross_entropy_mean(logits: Tensor, labels: Tensor) -> Tensor:
    """The mean over the rows of :func:`softmax_cross_entropy` (needle's ``SoftmaxLoss``), 0-d;
    one kernel forward and one backward."""
    check_labels("softmax_cross_entropy", labels.numpy(), logits.shape[-1])
    return SoftmaxCrossEntropyMean()(logits, labels)
