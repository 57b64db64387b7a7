"""Max and average pooling over ``kernel x kernel`` windows with a stride (NCHW), and their adjoints.

A window position ``(h, w)`` of the input belongs to the outputs ``((h - r) / stride, (w - s) /
stride)`` for the taps ``(r, s)`` where that division is exact and lands inside the output; the
adjoints gather over those taps, so each input element is written once.
"""

from __future__ import annotations

from schedules.templates.generic_cpu import VECTOR, generic, innermost_vector
from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.expr import Reduce
from tensorir.tensor import compute, reduce_axis

from ..tensor import Tensor
from .base import Op


def _out(extent: int, kernel: int, stride: int) -> int:
    return (extent - kernel) // stride + 1


def _taps_gather(shape, out_hw, kernel: int, stride: int, term):
    """``out[n, c, h, w] = sum over taps of term(n, c, h, w, oy, ox)`` where ``(h, w)`` lies in the
    window of output ``(oy, ox)``."""
    oh, ow = out_hw
    r, s = reduce_axis(kernel, "r"), reduce_axis(kernel, "s")

    def body(n, c, h, w):
        ty, tx = h - r, w - s
        inside = (ty >= 0) & (ty < oh * stride) & (tx >= 0) & (tx < ow * stride)
        if stride > 1:
            inside = inside & (ty % stride == 0) & (tx % stride == 0)
        return fn.sum(fn.if_then_else(inside, term(n, c, h, w, ty // stride, tx // stride), 0.0), axis=[r, s])

    return compute(shape, body, name="pool_backward")


def _window_scatter(g, x, y, size: int):
    """Non-overlapping windows: each input element lies in exactly one window (or none, past the
    last whole window), so ``dX[h, w] = g[h/k, w/k] * (x[h, w] == y[h/k, w/k])``: no reduction,
    and a multiply by the mask, which vectorizes."""
    _, _, oh, ow = g.shape
    _, _, h, w = x.shape

    def body(n, c, i, j):
        oy = i // size if h == oh * size else fn.minimum(i // size, oh - 1)
        ox = j // size if w == ow * size else fn.minimum(j // size, ow - 1)
        keep = x[n, c, i, j] == y[n, c, oy, ox]
        if h != oh * size:
            keep = keep & (i < oh * size)
        if w != ow * size:
            keep = keep & (j < ow * size)
        return g[n, c, oy, ox] * keep.astype(g.dtype.value)

    return compute(x.shape, body, name="pool_backward")


#: rows up to this wide are vectorized whole
WHOLE_ROW_MAX = 64


def row_vector(width: int) -> int:
    """The vector width for rows of ``width``: the whole row when it is at most
    :data:`WHOLE_ROW_MAX` wide. The default 16 left a guarded remainder on the CNN's 28-wide rows
    (max_pool2d's gradient 1725 -> 222 us) and 14-wide rows unvectorized (541 -> 106 us)."""
    return width if width <= WHOLE_ROW_MAX else VECTOR


class Pool2d(Op):
    def __init__(self, kernel: int, stride: int):
        self.size, self.stride = kernel, stride
        self.key = (self.name, kernel, stride)

    def out_hw(self, h: int, w: int) -> tuple[int, int]:
        return _out(h, self.size, self.stride), _out(w, self.size, self.stride)

    def default_config(self, request) -> dict:
        """The innermost (width) axis of the output in one vector where it is narrow."""
        return {"vector": row_vector(self.out_width(request))}

    def out_width(self, request) -> int:
        """The extent of the output's last axis (the forward pools the input's)."""
        return self.out_hw(*request.shapes[0][2:])[1]

    def schedule(self, request, s, outputs, config):
        """The output's rows in vectors, the window's taps outside them (the generic schedule
        leaves a reduction's nest scalar: max_pool2d of the CNN 348 -> 128 us, 215 -> 106 us)."""
        for out in outputs:
            if isinstance(out.op.body, Reduce):
                innermost_vector(s, out, config.get("vector", VECTOR))
            else:
                generic(s, out, config)


class MaxPool2d(Pool2d):
    name = "max_pool2d"

    def compute(self, request, x):
        n, c, h, w = x.shape
        r, s = reduce_axis(self.size, "r"), reduce_axis(self.size, "s")
        st = self.stride
        return compute((n, c, *self.out_hw(h, w)), lambda b, j, y, v: fn.max(
            x[b, j, y * st + r, v * st + s], axis=[r, s]), name="max_pool")

    def gradient(self, g, node):
        return (MaxPool2dBackward(self.size, self.stride)(g, node.inputs[0], node),)


class MaxPool2dBackward(Pool2d):
    """``dX[h, w] = sum of g over the windows whose maximum is x[h, w]``."""

    name = "max_pool2d_backward"

    def out_width(self, request) -> int:
        return request.shapes[1][3]  # the input's

    def compute(self, request, g, x, y):
        if self.size == self.stride:
            return _window_scatter(g, x, y, self.size)
        return _taps_gather(x.shape, g.shape[2:], self.size, self.stride, lambda n, c, h, w, oy, ox: fn.if_then_else(
            x[n, c, h, w] == y[n, c, oy, ox], g[n, c, oy, ox], 0.0))

    def gradient(self, gg, node):
        raise DefinitionError("max_pool2d: second derivatives are not implemented")


class AvgPool2d(Pool2d):
    name = "avg_pool2d"

    def compute(self, request, x):
        n, c, h, w = x.shape
        r, s = reduce_axis(self.size, "r"), reduce_axis(self.size, "s")
        st, scale = self.stride, 1.0 / (self.size * self.size)
        return compute((n, c, *self.out_hw(h, w)), lambda b, j, y, v: fn.sum(
            x[b, j, y * st + r, v * st + s] * scale, axis=[r, s]), name="avg_pool")

    def gradient(self, g, node):
        return (AvgPool2dBackward(self.size, self.stride, node.inputs[0].shape[2:])(g),)


class AvgPool2dBackward(Pool2d):
    """``dX[h, w] = sum of g / kernel^2 over the windows holding (h, w)``; its adjoint is AvgPool2d."""

    name = "avg_pool2d_backward"

    def __init__(self, kernel: int, stride: int, in_hw: tuple[int, int]):
        super().__init__(kernel, stride)
        self.in_hw = tuple(in_hw)
        self.key = (self.name, kernel, stride, self.in_hw)

    def out_width(self, request) -> int:
        return self.in_hw[1]

    def compute(self, request, g):
        n, c = g.shape[:2]
        scale = 1.0 / (self.size * self.size)
        return _taps_gather((n, c, *self.in_hw), g.shape[2:], self.size, self.stride,
                            lambda b, j, h, w, oy, ox: g[b, j, oy, ox] * scale)

    def gradient(self, gg, node):
        return (AvgPool2d(self.size, self.stride)(gg),)


def _check(name: str, x: Tensor, kernel: int, stride: int) -> None:
    if x.ndim != 4:
        raise DefinitionError(f"{name}: input must be 4-D (N, C, H, W), got shape {x.shape}")
    if not isinstance(kernel, int) or not isinstance(stride, int) or kernel < 1 or stride < 1:
        raise DefinitionError(f"{name}: kernel and stride must be positive ints, got {kernel!r} and {stride!r}")
    if kernel > x.shape[2] or kernel > x.shape[3]:
        raise DefinitionError(f"{name}: a {kernel}x{kernel} window does not fit the input of shape {x.shape}")


def max_pool2d(x: Tensor, kernel: int = 2, stride: int | None = None) -> Tensor:
    """The maximum over each ``kernel x kernel`` window, windows ``stride`` apart (default: kernel)."""
    stride = kernel if stride is None else stride
    _check("max_pool2d", x, kernel, stride)
    return MaxPool2d(kernel, stride)(x)


def avg_pool2d(x: Tensor, kernel: int = 2, stride: int | None = None) -> Tensor:
    """The mean over each ``kernel x kernel`` window, windows ``stride`` apart (default: kernel)."""
    stride = kernel if stride is None else stride
    _check("avg_pool2d", x, kernel, stride)
    return AvgPool2d(kernel, stride)(x)
