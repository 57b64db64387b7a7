"""Which CPU kernel runs a frontend convolution, and the small layout kernels that let the input
gradient run as a forward convolution.

Forward (``Y = conv(X, W)``), by :func:`forward_method`, for float32 on the CPU with one group,
no dilation and a square kernel (everything else keeps the register-tiled kernel of
:mod:`schedules.templates.conv_variants`):

- ``TILED``: the register-tiled NCHW kernel, kept where the reduction per output
  (``C * R * S``) is below :data:`BLOCKED_MIN_REDUCTION`: the CNN step's first layer
  (1 -> 16 channels, 3x3: 9 products per output) ran 0.23 ms there against 0.49 ms blocked
  (strided convolutions never stay: the tiled kernel gathers their inputs, 14-20x the blocked
  kernel's time on ResNet-18); and below :data:`BLOCKED_MIN_OUT_CHANNELS` output channels;
- ``WINOGRAD2`` / ``WINOGRAD4``: Winograd F(2x2,3x3) / F(4x4,3x3) on NCHW arrays
  (:func:`schedules.templates.conv_winograd.conv2d_winograd`) for 3x3 stride-1 layers with at
  least 16 input and output channels; F(4x4,3x3) from :data:`WINOGRAD4_MIN_CHANNELS` input
  channels. At batch 8, one thread, ResNet-18's 3x3 layers ran 1.9-2.3x faster by F(4x4,3x3)
  than by the tiled kernel and 1.3-1.4x faster than by F(2x2,3x3); the CNN step's 16 -> 32
  layer (14x14, batch 64) ran 1.32 ms by F(2x2,3x3), 1.44 ms by F(4x4,3x3), 2.17 ms tiled;
- ``BLOCKED``: the direct ``NCHW16c`` kernel with its layout transforms fused
  (:func:`schedules.templates.conv2d_nchwc`) for the rest: ResNet-18's 7x7 stride-2 layer
  21.8 against 28.5 ms tiled, its 3x3 stride-2 layers 9.8 against 205 ms and 9.9 against
  19.5 ms, its 1x1 stride-2 layer 1.6 against 22.5 ms (torch: 21.4, 9.7, 9.5, 1.6 ms).

The input gradient ``dX`` (:func:`grad_input_plan`) is a stride-1 convolution of ``dY`` with
the weights flipped and transposed (:class:`FlipWeights`): with padding ``R - 1 - p`` directly
when ``p < R`` and the stride is 1, otherwise over ``dY`` spread out by the stride and padded
(:class:`SpreadGrad`, zeros between the rows and columns). Either runs through the forward's
rule above, so it gets Winograd or the blocked kernel: at ResNet-18's 3x3 stride-2 layers the
tiled ``dX`` kernel took 1.5 s against torch's 13 ms. A strided float32 ``dX`` takes the
spread form even where the forward rule keeps the tiled kernel (a stride-1 convolution, which
that kernel runs well); a stride-1 ``dX`` whose convolution would stay tiled keeps its own kernel.
"""

from __future__ import annotations

from enum import Enum

from tensorir import functions as fn
from tensorir.errors import ScheduleError
from tensorir.tensor import compute

from .base import Op

#: the least ``C * R * S`` that runs on the blocked or Winograd kernels
BLOCKED_MIN_REDUCTION = 27
#: the least output channels on the blocked or Winograd kernels, whose vectors hold 16: the
#: CNN step's first input gradient (16 -> 1 channel) ran 1.44 ms blocked, 0.86 ms tiled
BLOCKED_MIN_OUT_CHANNELS = 8
#: the least input channels for Winograd F(4x4,3x3) rather than F(2x2,3x3)
WINOGRAD4_MIN_CHANNELS = 64
#: the dtypes routed off the tiled kernel (Winograd's transforms are fractions; the blocked
#: kernel is measured on float32 only)
ROUTED_DTYPES = frozenset({"float32"})


class ConvMethod(Enum):
    TILED = "tiled"
    BLOCKED = "blocked"
    WINOGRAD2 = "winograd2"
    WINOGRAD4 = "winograd4"


def forward_method(x_shape: tuple, w_shape: tuple, params, dtype: str, target: str) -> ConvMethod:
    """The kernel of ``conv2d`` on an ``x_shape`` input and ``w_shape`` weights (see the module
    docstring for the rule and the measurements behind it)."""
    _, c, _, _ = x_shape
    k, cg, kr, ks = w_shape
    if (target != "llvm" or dtype not in ROUTED_DTYPES or params.groups != 1 or params.dilation != 1
            or kr != ks or k < BLOCKED_MIN_OUT_CHANNELS
            or (params.stride == 1 and c * kr * ks < BLOCKED_MIN_REDUCTION)):
        return ConvMethod.TILED
    if kr == 3 and params.stride == 1 and c >= 16 and k >= 16:
        return ConvMethod.WINOGRAD4 if c >= WINOGRAD4_MIN_CHANNELS else ConvMethod.WINOGRAD2
    return ConvMethod.BLOCKED


def config_method(config: dict, op: str) -> ConvMethod:
    """The ``method`` a kernel config names (``"tiled"`` when it names none).

    Raises
    ------
    ScheduleError
        When a registered config names no method of :class:`ConvMethod`.
    """
    value = config.get("method", "tiled")
    try:
        return ConvMethod(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in ConvMethod)
        raise ScheduleError(f"{op}: the config's method {value!r} is not one of {choices}; register one of "
                            f"them (or leave it out for the rule's choice)") from None


def method_knobs(method: ConvMethod) -> dict:
    """The :func:`schedules.templates.conv2d_nchwc` knobs of a routed ``method``."""
    return {ConvMethod.BLOCKED: {}, ConvMethod.WINOGRAD2: {"winograd": 2},
            ConvMethod.WINOGRAD4: {"winograd": 4}}[method]


def grad_weight_method(x_shape: tuple, kernel: tuple, params, dtypes: tuple, target: str) -> ConvMethod:
    """``BLOCKED`` (:func:`schedules.templates.conv_grad_weight.conv2d_grad_weight`, the output
    channels in vectors) for every float32 CPU ``dW`` of one group, no dilation and a square
    kernel, else ``TILED``. At batch 8, one thread, it took 0.7-1.0x torch's time on ResNet-18's
    layers (1.3x on the 7x7 RGB layer), where the tiled kernel had taken 5x (33x at stride 2);
    on the CNN step's layers 0.55 and 1.8 ms against the tiled kernel's 0.87 and 3.4 ms."""
    if (target != "llvm" or set(dtypes) - ROUTED_DTYPES or params.groups != 1 or params.dilation != 1
            or kernel[0] != kernel[1]):
        return ConvMethod.TILED
    return ConvMethod.BLOCKED


def grad_input_plan(dy_shape: tuple, w_shape: tuple, params, in_hw: tuple, dtype: str, target: str):
    """How ``dX`` runs as a forward convolution: ``None`` (the tiled ``dX`` kernel), ``"pad"``
    (``dY`` padded by ``R - 1 - p`` inside the convolution), ``"spread"`` (over
    :class:`SpreadGrad`'s output) or, for a strided 1x1 kernel, ``"scatter"`` (the 1x1
    convolution of ``dY`` itself, then spread: ``dX[h] = (W^T dY)[(h + p) / st]``)."""
    k, c, kr, ks = w_shape
    if target != "llvm" or dtype not in ROUTED_DTYPES or params.groups != 1 or params.dilation != 1 or kr != ks:
        return None
    if params.stride > 1 and kr == 1:  # the product at dY's pixels, spread out: a quarter of "spread"'s work
        return "scatter"
    if params.stride > 1:  # the tiled dX kernel tests every tap for a whole dY element: 30-100x torch
        return "spread"
    n, _, h, w = (dy_shape[0], c, *in_hw)
    x_shape = (n, k, h + kr - 1, w + ks - 1)  # what the stride-1 convolution reads, padded
    if forward_method(x_shape, (c, k, kr, ks), type(params)(), dtype, target) is ConvMethod.TILED:
        return None
    return "pad" if params.padding <= kr - 1 else "spread"


class FlipWeights(Op):
    """``W'[c, k, r, s] = W[k, c, R-1-r, S-1-s]``: the weights of ``dX`` as a forward convolution."""

    name = "conv_flip_weights"

    def compute(self, request, w):
        k, c, kr, ks = w.shape
        return compute((c, k, kr, ks), lambda i, j, r, s: w[j, i, kr - 1 - r, ks - 1 - s], name="W.flipped")


class SpreadGrad(Op):
    """``Z[n, k, u, v] = dY[n, k, (u - e) / st, (v - e) / st]`` where the divisions are exact and
    land inside ``dY``, else 0 (``e = R - 1 - p``), over ``(H + R - 1) x (W + S - 1)``: ``dX`` is
    the unpadded stride-1 convolution of ``Z`` with :class:`FlipWeights`' output."""

    name = "conv_spread_grad"

    def __init__(self, stride: int, padding: int, kernel: int, in_hw: tuple[int, int]):
        self.stride, self.padding, self.kernel_side, self.in_hw = stride, padding, kernel, tuple(in_hw)
        self.key = (self.name, stride, padding, kernel, self.in_hw)

    def compute(self, request, dy):
        n, k, oh, ow = dy.shape
        st, edge = self.stride, self.kernel_side - 1 - self.padding
        h, w = (extent + self.kernel_side - 1 for extent in self.in_hw)

        def body(b, j, u, v):
            ty, tx = u - edge, v - edge
            inside = ((ty >= 0) & (ty < oh * st) & (tx >= 0) & (tx < ow * st)
                      & (ty % st == 0) & (tx % st == 0))
            return fn.value_or_zero(inside, dy[b, j, ty // st, tx // st])

        return compute((n, k, h, w), body, name="dY.spread")
