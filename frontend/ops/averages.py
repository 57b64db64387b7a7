"""The mean over axes as one kernel, its gradient as another, with the count inside the kernel.

``mean`` used to be a sum followed by a multiplication by the constant ``1 / count``: a kernel
per count, so the loss of every batch size compiled one of its own. Here the count is the
product of the reduced extents of the kernel's own input: a symbolic-batch kernel
(:mod:`frontend.symbatch`) computes it from the batch extent it is called with.
"""

from __future__ import annotations

from schedules.templates.generic_cpu import generic
from tensorir import functions as fn
from tensorir.expr import const
from tensorir.symbolic import is_static, product, to_expr
from tensorir.tensor import compute

from .base import Op
from .reduce import Reduction, _reduce_compute, out_shape


def _reciprocal(extents, dtype):
    """``1 / prod(extents)`` in ``dtype``: a constant when static (as ``mul_scalar`` had it)."""
    count = product(extents)
    if is_static(count):
        return 1.0 / count if count else float("inf")
    return const(1.0, dtype) / to_expr(count).astype(dtype.value)


class Mean(Reduction):
    """``out = sum(x over axes) * (1 / count)``."""

    name = "mean"
    saves, saves_output = (), False  # the gradient reads the input's shape only

    def out_dtype(self, dtype: str) -> str:
        """Integers average to float32, as the kernel's ``total * (1 / count)`` promotes them."""
        return "float32" if dtype.startswith(("int", "uint")) else dtype

    def compute(self, request, x):
        (kinds,) = request.variant
        total = _reduce_compute(x, kinds, fn.sum, lambda value, kept: value, "mean_sum")
        scale = _reciprocal([n for n, k in zip(x.shape, kinds) if k == "R"], x.dtype)
        return compute(total.shape, lambda *i: total[i] * scale, name="mean")

    def schedule(self, request, s, outputs, config):
        (out,) = outputs
        (total,) = out.op.inputs
        super().schedule(request, s, [total], config)  # the sum as Sum's kernel has it
        generic(s, out, {})

    def gradient(self, g, node):
        from .shape import reshape

        x = node.inputs[0]
        if not x.shape:  # the mean of a 0-d tensor is the tensor: its gradient is g (a kernel has no 0-d form)
            return (reshape(g, ()),)
        return (MeanBackward(self.axes, x.shape)(reshape(g, out_shape(x.shape, self.axes, True))),)


class MeanBackward(Op):
    """``dx[idx] = g[idx with the reduced axes at 0] * (1 / count)`` over ``shape``, the input's."""

    name = "mean_backward"

    def __init__(self, axes: tuple[int, ...], shape: tuple):
        self.axes, self.shape = axes, shape
        self.key = (self.name, axes, shape)

    def compute(self, request, g):
        axes = self.axes
        scale = _reciprocal([self.shape[a] for a in axes], g.dtype)
        return compute(self.shape, lambda *idx: g[tuple(0 if a in axes else i for a, i in enumerate(idx))] * scale,
                       name="mean_backward")

    def gradient(self, gg, node):
        return (Mean(self.axes, True)(gg),)
