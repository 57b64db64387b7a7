"""Convolution and pooling layers (seed Lec10)."""

from __future__ import annotations

import numpy as np

from .. import init, ops
from ..tensor import Tensor
from .module import Module, Parameter


class Conv2d(Module):
    """2-D convolution of ``(N, in_channels, H, W)`` inputs; ``padding=None`` keeps the size
    (``dilation * (kernel - 1) // 2``). Kaiming-uniform weights, zero bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | None = None, dilation: int = 1, groups: int = 1, bias: bool = True,
                 dtype: str = "float32", device: str = "cpu", rng: np.random.Generator | None = None):
        super().__init__()
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.padding = dilation * (kernel_size - 1) // 2 if padding is None else padding
        fan_in = in_channels // groups * kernel_size * kernel_size
        shape = (out_channels, in_channels // groups, kernel_size, kernel_size)
        self.weight = Parameter.of(init.kaiming_uniform(shape, fan_in, dtype=dtype, device=device, rng=rng))
        self.bias = Parameter(np.zeros(out_channels, dtype=dtype), device=device) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if self.bias is None:
            return ops.conv2d(x, self.weight, self.stride, self.padding, self.dilation, self.groups)
        return self.affine_activation(x, None)

    def affine_activation(self, x: Tensor, activation: str | None) -> Tensor:
        """``activation(conv(x) + b)``, the convolution, bias and activation one kernel where
        fusion is on (:func:`frontend.fusion_epilogue.conv_affine`)."""
        from ..fusion_epilogue import conv_affine

        return conv_affine(x, self.weight, self.bias, activation, self.stride, self.padding, self.dilation,
                           self.groups)


class MaxPool2d(Module):
    def __init__(self, kernel_size: int = 2, stride: int | None = None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: Tensor) -> Tensor:
        return ops.max_pool2d(x, self.kernel_size, self.stride)


class AvgPool2d(Module):
    def __init__(self, kernel_size: int = 2, stride: int | None = None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: Tensor) -> Tensor:
        return ops.avg_pool2d(x, self.kernel_size, self.stride)
