"""Softmax and log-softmax along one axis, each one kernel forward and one backward.

The input is viewed as ``(A, K, B)`` with the axis ``K``; the kernel takes the maximum along
``K``, the sum of the shifted exponentials, and writes ``exp(x - max) / sum`` (softmax) or
``x - max - log(sum)`` (log-softmax). Unfused, that is a logsumexp, a subtract and an exp. The
backward kernels read the output ``y`` and the adjoint ``g``: ``y * (g - sum(g * y))`` and ``g -
exp(y) * sum(g)``. Under ``create_graph=True`` the gradient is built from the unfused ops, so it
can be differentiated again. (Softmax cross entropy, one kernel each way, is
:func:`frontend.ops.softmax_cross_entropy`.)
"""

from __future__ import annotations

import math

from schedules.templates.generic_cpu import generic
from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.tensor import compute, reduce_axis

from . import dispatch
from .autograd import grad, is_grad_enabled
from .ops.base import Op, contiguous
from .ops.shape import reshape
from .tensor import Tensor

KINDS = frozenset({"softmax", "log_softmax"})


def _row(x, reducer, body, name):
    rows, width, inner = x.shape
    k = reduce_axis(width, "k")
    return compute((rows, inner), lambda a, b: reducer(body(a, k, b), axis=k), name=name)


def _schedule_all(s, config) -> None:
    for stage in list(s.stages):
        if hasattr(stage.op, "body"):
            generic(s, stage.op.output, config)


class SoftmaxOp(Op):
    """``softmax`` or ``log_softmax`` of canonical ``(A, K, B)`` along ``K``."""

    def __init__(self, kind: str):
        self.kind = kind
        self.name = kind
        self.key = (kind,)

    def compute(self, request, x):
        top = _row(x, fn.max, lambda a, k, b: x[a, k, b], "top")
        total = _row(x, fn.sum, lambda a, k, b: fn.exp(x[a, k, b] - top[a, b]), "total")
        if self.kind == "softmax":
            return compute(x.shape, lambda a, k, b: fn.exp(x[a, k, b] - top[a, b]) / total[a, b], name="y")
        return compute(x.shape, lambda a, k, b: x[a, k, b] - top[a, b] - fn.log(total[a, b]), name="y")

    def schedule(self, request, s, outputs, config):
        _schedule_all(s, config)

    def gradient(self, g, node):
        (x,) = node.inputs
        if is_grad_enabled():  # create_graph: the unfused ops, differentiable again
            return tuple(grad(unfused(self.kind, x), [x], g, create_graph=True))
        arrays = [contiguous(t._storage(), x.device) for t in (g, node)]
        (dx,) = dispatch.run(SoftmaxBackward(self.kind), arrays, x.device)
        return (Tensor._wrap(dx, x.device),)


class SoftmaxBackward(Op):
    """Inputs ``(g, y)``; output the adjoint of the input."""

    def __init__(self, kind: str):
        self.kind = kind
        self.name = f"{kind}_backward"
        self.key = (self.name,)

    def compute(self, request, g, y):
        if self.kind == "softmax":
            dot = _row(g, fn.sum, lambda a, k, b: g[a, k, b] * y[a, k, b], "dot")
            return compute(g.shape, lambda a, k, b: y[a, k, b] * (g[a, k, b] - dot[a, b]), name="dx")
        total = _row(g, fn.sum, lambda a, k, b: g[a, k, b], "total")
        return compute(g.shape, lambda a, k, b: g[a, k, b] - fn.exp(y[a, k, b]) * total[a, b], name="dx")

    def schedule(self, request, s, outputs, config):
        _schedule_all(s, config)


def unfused(kind: str, x: Tensor) -> Tensor:
    """The unfused form on canonical ``x`` (the reference of :class:`SoftmaxOp`)."""
    from . import ops

    shifted = ops.subtract(x, ops.logsumexp(x, 1, keepdims=True))
    return ops.exp(shifted) if kind == "softmax" else shifted


def _apply(kind: str, x: Tensor, axis: int) -> Tensor:
    if not isinstance(axis, int) or not -x.ndim <= axis < x.ndim:
        raise DefinitionError(f"{kind}: axis {axis!r} is out of range for a tensor of {x.ndim} dimensions; "
                              f"use an int in [{-x.ndim}, {x.ndim})")
    if not x.dtype.startswith("float"):
        raise DefinitionError(f"{kind}: a {x.dtype} tensor; cast it with .astype('float32') first")
    axis %= x.ndim
    shape = x.shape
    canonical = (math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:]))
    return reshape(SoftmaxOp(kind)(reshape(x, canonical)), shape)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis`` (shifted by the maximum: stable), one kernel.

    Raises
    ------
    DefinitionError
        When ``axis`` is out of range or ``x`` is not a float tensor.
    """
    return _apply("softmax", x, axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``x - log(sum(exp(x)))`` along ``axis`` (stable), one kernel; see :func:`softmax`."""
    return _apply("log_softmax", x, axis)
