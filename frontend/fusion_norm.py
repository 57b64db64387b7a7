"""Layer and batch normalisation fused: one kernel forward (two passes over the input: the
mean, then the variance and the output), one backward.

The input is viewed as ``(A, C, B)`` with the weight and bias along ``C``: a LayerNorm of
``(..., D)`` is ``(rows, D, 1)`` with statistics per row ``a``; a BatchNorm of ``(N, C, ...)``
is ``(N, C, spatial)`` with statistics per channel ``c``. Unfused, a normalisation is nine
kernels forward (two means, a subtract, a square, an add, a power, a divide, the affine pair)
and about twenty backward. The forward kernel also writes the batch mean and (biased) variance
that BatchNorm's running statistics need. Under ``create_graph=True`` the gradient is built
from the unfused ops, so it can be differentiated again.
"""

from __future__ import annotations

import math

from schedules.templates.generic_cpu import generic
from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.tensor import compute, reduce_axis

from . import dispatch
from .autograd import grad, is_grad_enabled
from .fusion import enabled
from .ops.base import Op, contiguous
from .ops.shape import reshape
from .tensor import Tensor

#: what the statistics are taken per: ``"row"`` (LayerNorm) or ``"channel"`` (BatchNorm)
PER = frozenset({"row", "channel"})


def _over_stats(per: str, shape, body, name: str):
    """``out[s] = sum(body(a, c, b) / count)`` over the ``count`` elements of one statistic ``s``."""
    rows, channels, inner = shape
    if per == "channel":
        ra, rb = reduce_axis(rows, "a"), reduce_axis(inner, "b")
        count = rows * inner
        return compute((channels,), lambda c: fn.sum(body(ra, c, rb) * (1.0 / count), axis=[ra, rb]), name=name)
    rc, rb = reduce_axis(channels, "c"), reduce_axis(inner, "b")
    count = channels * inner
    return compute((rows,), lambda a: fn.sum(body(a, rc, rb) * (1.0 / count), axis=[rc, rb]), name=name)


def _statistics(per: str, x, eps: float):
    """``(mean, var, pick, xhat)``: the stages of the mean and biased variance, ``pick(a, c)`` the
    statistic's index, and ``xhat(a, c, b)`` the normalised input as an expression."""
    def pick(a, c):
        return c if per == "channel" else a

    mean = _over_stats(per, x.shape, lambda a, c, b: x[a, c, b], "mean")
    var = _over_stats(per, x.shape, lambda a, c, b: (x[a, c, b] - mean[pick(a, c)]) * (x[a, c, b] - mean[pick(a, c)]),
                      "var")

    def xhat(a, c, b):
        s = pick(a, c)
        return (x[a, c, b] - mean[s]) / fn.sqrt(var[s] + eps)

    return mean, var, pick, xhat


def _schedule_all(s, config) -> None:
    for stage in list(s.stages):
        if hasattr(stage.op, "body"):
            generic(s, stage.op.output, config)


class NormOp(Op):
    """Inputs ``(x, weight, bias)`` of shapes ``(A, C, B)``, ``(C,)``, ``(C,)``; outputs ``y``,
    the mean and the biased variance."""

    def __init__(self, per: str, eps: float):
        self.per, self.eps = per, float(eps)
        self.name = f"{per}_norm"
        self.key = (self.name, self.eps)

    def compute(self, request, x, weight, bias):
        mean, var, _, xhat = _statistics(self.per, x, self.eps)
        y = compute(x.shape, lambda a, c, b: xhat(a, c, b) * weight[c] + bias[c], name="y")
        return y, mean, var

    def schedule(self, request, s, outputs, config):
        _schedule_all(s, config)

    def gradient(self, g, node):
        if is_grad_enabled():  # create_graph: the unfused ops, differentiable again
            x, weight, bias = node.inputs
            out = unfused_norm(self.per, x, weight, bias, self.eps)
            return tuple(grad(out, [x, weight, bias], g, create_graph=True))
        arrays = [contiguous(t._storage(), node.device) for t in (g, *node.inputs[:2])]
        found = dispatch.run(NormBackward(self.per, self.eps), arrays, node.device)
        return tuple(Tensor._wrap(a, node.device) if t.requires_grad else None for a, t in zip(found, node.inputs))


class NormBackward(Op):
    """Inputs ``(g, x, weight)``; outputs the adjoints of ``x``, ``weight`` and ``bias``."""

    def __init__(self, per: str, eps: float):
        self.per, self.eps = per, eps
        self.name = f"{per}_norm_backward"
        self.key = (self.name, eps)

    def compute(self, request, g, x, weight):
        per = self.per
        mean, var, pick, xhat = _statistics(per, x, self.eps)
        m1 = _over_stats(per, x.shape, lambda a, c, b: g[a, c, b] * weight[c], "m1")
        m2 = _over_stats(per, x.shape, lambda a, c, b: g[a, c, b] * weight[c] * xhat(a, c, b), "m2")

        def dx(a, c, b):
            s = pick(a, c)
            return (g[a, c, b] * weight[c] - m1[s] - xhat(a, c, b) * m2[s]) / fn.sqrt(var[s] + self.eps)

        rows, channels, inner = x.shape
        ra, rb = reduce_axis(rows, "a"), reduce_axis(inner, "b")
        dweight = compute((channels,), lambda c: fn.sum(g[ra, c, rb] * xhat(ra, c, rb), axis=[ra, rb]), name="dw")
        ra2, rb2 = reduce_axis(rows, "a"), reduce_axis(inner, "b")
        dbias = compute((channels,), lambda c: fn.sum(g[ra2, c, rb2], axis=[ra2, rb2]), name="db")
        return compute(x.shape, dx, name="dx"), dweight, dbias

    def schedule(self, request, s, outputs, config):
        _schedule_all(s, config)


def unfused_norm(per: str, x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    """The normalisation of canonical ``x`` from the unfused ops (the reference of :class:`NormOp`)."""
    from . import ops

    axes = (0, 2) if per == "channel" else (1, 2)
    mean = ops.mean(x, axes, keepdims=True)
    centered = ops.subtract(x, mean)
    var = ops.mean(ops.multiply(centered, centered), axes, keepdims=True)
    normed = ops.divide(centered, ops.power(ops.add(var, eps), 0.5))
    shape = (1, x.shape[1], 1)
    return ops.add(ops.multiply(normed, ops.reshape(weight, shape)), ops.reshape(bias, shape))


def fusable(x: Tensor, weight: Tensor, bias: Tensor, per: str = "row") -> bool:
    """Whether :func:`norm` applies: fusion on, on the CPU, one float dtype, weight and bias
    fitting the axis ``per`` normalises along (else the unfused layer, which names the misfit)."""
    dtype = x.dtype
    return (enabled() and x.device == "cpu" and dtype.startswith("float") and weight.dtype == bias.dtype == dtype
            and _fits(per, x, weight, bias))


def _fits(per: str, x: Tensor, weight: Tensor, bias: Tensor) -> bool:
    axis = -1 if per == "row" else 1
    return x.ndim >= (1 if per == "row" else 2) and weight.shape == bias.shape == (x.shape[axis],)


def norm(per: str, x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``(y, mean, var)``: ``x`` normalised per row (``per="row"``: over its last axis) or per
    channel (``"channel"``: over every axis but 1), then scaled by ``weight`` and shifted by
    ``bias``; one kernel. ``mean`` and ``var`` (biased) are plain tensors off the graph.

    Raises
    ------
    DefinitionError
        When ``per`` is unknown, or ``weight`` and ``bias`` are not vectors as long as that axis.
    """
    if per not in PER:
        raise DefinitionError(f"norm: per={per!r} is unknown; use one of {', '.join(sorted(PER))}")
    if not _fits(per, x, weight, bias):
        axis = "the last axis" if per == "row" else "axis 1"
        raise DefinitionError(f"norm: weight {weight.shape} and bias {bias.shape} do not fit {axis} of the input "
                              f"{x.shape}; give both as vectors of that length")
    shape = x.shape
    if per == "row":
        canonical = (math.prod(shape[:-1]), shape[-1], 1)
    else:
        canonical = (shape[0], shape[1], math.prod(shape[2:]))
    op = NormOp(per, eps)
    inputs = (reshape(x, canonical), weight, bias)
    y, mean, var = dispatch.run(op, [contiguous(t._storage(), x.device) for t in inputs], x.device)
    return reshape(_record(op, inputs, y), shape), Tensor._wrap(mean, x.device), Tensor._wrap(var, x.device)


def _record(op: Op, inputs: tuple[Tensor, ...], array) -> Tensor:
    """A tensor over ``array``, the output of ``op`` already run on ``inputs``, in the graph
    where gradients are wanted (as :meth:`Tensor.from_op` records it)."""
    result = Tensor._wrap(array, inputs[0].device)
    if is_grad_enabled() and any(t.requires_grad for t in inputs):
        result.op, result.inputs, result.requires_grad = op, inputs, True
    return result
