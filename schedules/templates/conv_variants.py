"""The frontend's convolutions as compute definitions (NCHW input, KCRS weights; padding, stride,
dilation, groups) and their register-tiled CPU schedule as a tunable template.

The forward and its two adjoints (:mod:`frontend.ops.conv` keeps each op's gradient beside them)::

    Y[n, k, y, x]   = sum_{c<Cg, r, s} Xp[n, g(k)*Cg + c, y*st + r*d, x*st + s*d] * W[k, c, r, s]
    dX[n, i, h, w]  = sum_{k in group of i, r, s} dY[n, k, (h+p-r*d)/st, (w+p-s*d)/st] * W[k, i%Cg, r, s]
    dW[k, c, r, s]  = sum_{n, y, x} dY[n, k, y, x] * Xp[n, g(k)*Cg + c, y*st + r*d, x*st + s*d]

:func:`conv2d_tiled` builds any of the three (``which``) with the schedule the frontend gives it
(:func:`schedules.templates.generic_cpu.register_tiled`: ``tile_c`` channels x ``tile_v`` output
columns in registers, and ``tile_2`` input channels of ``dW``), so the tuner measures exactly the
frontend's kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir import functions as fn
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule
from .generic_cpu import register_tiled
from .gpu_generic import schedule_gpu

#: what conv2d_tiled builds
CONV_KERNELS = ("forward", "grad_input", "grad_weight")


@dataclass(frozen=True)
class ConvParams:
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1

    def out_extent(self, extent: int, kernel: int) -> int:
        return (extent + 2 * self.padding - self.dilation * (kernel - 1) - 1) // self.stride + 1


def _pad(x, padding: int, name: str):
    """``x`` with a zero border of ``padding`` on both spatial axes (or ``x`` itself)."""
    if not padding:
        return x
    n, c, h, w = x.shape
    return compute((n, c, h + 2 * padding, w + 2 * padding), lambda i, j, y, v: fn.if_then_else(
        (y >= padding) & (y < h + padding) & (v >= padding) & (v < w + padding),
        x[i, j, y - padding, v - padding], 0.0), name=name)


def conv_forward(x, w, p: ConvParams):
    n, _, h, wd = x.shape
    k, cg, kr, ks = w.shape
    kg = k // p.groups
    oh, ow = p.out_extent(h, kr), p.out_extent(wd, ks)
    xp = _pad(x, p.padding, "X.pad")
    c, r, s = reduce_axis(cg, "c"), reduce_axis(kr, "r"), reduce_axis(ks, "s")

    def channel(kk):
        return c if p.groups == 1 else (kk // kg) * cg + c

    return compute((n, k, oh, ow), lambda b, kk, y, v: fn.sum(
        xp[b, channel(kk), y * p.stride + r * p.dilation, v * p.stride + s * p.dilation] * w[kk, c, r, s],
        axis=[c, r, s]), name="Y")


def conv_grad_input(dy, w, p: ConvParams, in_hw: tuple[int, int]):
    n, k, oh, ow = dy.shape
    _, cg, kr, ks = w.shape
    kg = k // p.groups
    h, wd = in_hw
    kk, r, s = reduce_axis(kg, "k"), reduce_axis(kr, "r"), reduce_axis(ks, "s")

    def out_channel(i):
        return kk if p.groups == 1 else (i // cg) * kg + kk

    def in_channel(i):
        return i if p.groups == 1 else i % cg

    if p.stride == 1:  # a full convolution with the flipped kernel over dY padded on both sides
        edge_y, edge_x = p.dilation * (kr - 1) - p.padding, p.dilation * (ks - 1) - p.padding
        dyp = compute((n, k, h + p.dilation * (kr - 1), wd + p.dilation * (ks - 1)),
                      lambda b, j, y, v: fn.if_then_else(
                          (y >= edge_y) & (y < oh + edge_y) & (v >= edge_x) & (v < ow + edge_x),
                          dy[b, j, y - edge_y, v - edge_x], 0.0), name="dY.pad")
        return compute((n, k // kg * cg, h, wd), lambda b, i, y, v: fn.sum(
            dyp[b, out_channel(i), y + (kr - 1 - r) * p.dilation, v + (ks - 1 - s) * p.dilation]
            * w[out_channel(i), in_channel(i), r, s], axis=[kk, r, s]), name="dX")

    def body(b, i, y, v):
        ty, tx = y + p.padding - r * p.dilation, v + p.padding - s * p.dilation
        inside = ((ty >= 0) & (ty < oh * p.stride) & (ty % p.stride == 0)
                  & (tx >= 0) & (tx < ow * p.stride) & (tx % p.stride == 0))
        value = dy[b, out_channel(i), ty // p.stride, tx // p.stride] * w[out_channel(i), in_channel(i), r, s]
        return fn.sum(fn.value_or_zero(inside, value), axis=[kk, r, s])

    return compute((n, k // kg * cg, h, wd), body, name="dX")


def conv_grad_weight(x, dy, p: ConvParams, kernel: tuple[int, int]):
    """``dW`` as ``sum_v P[k, c, r, s, v]``: the partial sums ``P`` keep the output columns ``v`` as a
    vector axis, so the long reduction over ``(n, y)`` runs on whole vectors."""
    n, _, _, _ = x.shape
    _, k, oh, ow = dy.shape
    kr, ks = kernel
    cg = x.shape[1] // p.groups
    kg = k // p.groups
    xp = _pad(x, p.padding, "X.pad")
    b, y = reduce_axis(n, "n"), reduce_axis(oh, "y")

    def channel(kk, c):
        return c if p.groups == 1 else (kk // kg) * cg + c

    partial = compute((k, cg, kr, ks, ow), lambda kk, c, r, s, v: fn.sum(
        dy[b, kk, y, v] * xp[b, channel(kk, c), y * p.stride + r * p.dilation, v * p.stride + s * p.dilation],
        axis=[b, y]), name="dW.partial")
    v = reduce_axis(ow, "v")
    return compute((k, cg, kr, ks), lambda kk, c, r, s: fn.sum(partial[kk, c, r, s, v], axis=v), name="dW")


def conv_operands(sizes: tuple, params: ConvParams, which: str) -> tuple[tuple, tuple]:
    """The shapes of the two inputs of ``which`` kernel for the forward sizes
    ``(batch, in_channels, height, width, out_channels, kernel)``."""
    n, c, h, w, k, kernel = sizes
    x, weight = (n, c, h, w), (k, c // params.groups, kernel, kernel)
    dy = (n, k, params.out_extent(h, kernel), params.out_extent(w, kernel))
    return {"forward": (x, weight), "grad_input": (dy, weight), "grad_weight": (x, dy)}[which]


def conv2d_tiled(batch: int, in_channels: int, height: int, width: int, out_channels: int, kernel: int = 3, *,
                 stride: int = 1, padding: int = 1, which: str = "forward", tile_c: int = 8, tile_v: int = 16,
                 tile_2: int = 1, dtype: str = "float32", target: str = "llvm"):
    """The frontend's ``which`` convolution kernel (``"forward"``: ``[X, W, Y]``, ``"grad_input"``:
    ``[dY, W, dX]``, ``"grad_weight"``: ``[X, dY, dW]``) for a square ``kernel`` and one group, in
    ``tile_c x tile_v`` register tiles (``tile_c x tile_2 x tile_v`` for ``dW``'s partial sums)."""
    if which not in CONV_KERNELS:
        raise ValueError(f"conv2d_tiled: which must be one of {CONV_KERNELS}, got {which!r}")
    params = ConvParams(stride, padding)
    sizes = (batch, in_channels, height, width, out_channels, kernel)
    first, second = (placeholder(shape, dtype, name=name) for shape, name in
                     zip(conv_operands(sizes, params, which), _NAMES[which]))
    if which == "forward":
        out = conv_forward(first, second, params)
    elif which == "grad_input":
        out = conv_grad_input(first, second, params, (height, width))
    else:
        out = conv_grad_weight(first, second, params, (kernel, kernel))
    s = create_schedule(out)
    config = {"tile_c": tile_c, "tile_v": tile_v, "tile_2": tile_2}
    if target == "cuda":
        schedule_gpu(s)
    elif which == "grad_weight":
        register_tiled(s, out.op.inputs[0], 0, 4, config, second=1)
    else:
        register_tiled(s, out, 1, 3, config)
    return s, [first, second, out]


_NAMES = {"forward": ("X", "W"), "grad_input": ("dY", "W"), "grad_weight": ("X", "dY")}
