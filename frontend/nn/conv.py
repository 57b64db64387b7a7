"""Convolution and pooling layers (seed Lec10)."""

from __future__ import annotations

import numpy as np

from tensorir.errors import DefinitionError

from .. import init, ops
from ..tensor import Tensor
from .module import Module, Parameter, check_input, check_sizes


class Conv2d(Module):
    """2-D convolution of ``(N, in_channels, H, W)`` inputs; ``padding=None`` keeps the size
    (``dilation * (kernel - 1) // 2``). Kaiming-uniform weights, zero bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | None = None, dilation: int = 1, groups: int = 1, bias: bool = True,
                 dtype: str = "float32", device: str = "cpu", rng: np.random.Generator | None = None):
        super().__init__()
        check_sizes("Conv2d", in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                    groups=groups)
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.padding = dilation * (kernel_size - 1) // 2 if padding is None else padding
        fan_in = in_channels // groups * kernel_size * kernel_size
        shape = (out_channels, in_channels // groups, kernel_size, kernel_size)
        self.weight = Parameter.of(init.kaiming_uniform(shape, fan_in, dtype=dtype, device=device, rng=rng))
        self.bias = Parameter(np.zeros(out_channels, dtype=dtype), device=device) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if self.bias is None:
            check_input("Conv2d", x)
            return ops.conv2d(x, self.weight, self.stride, self.padding, self.dilation, self.groups)
        return self.affine_activation(x, None)

    def affine_activation(self, x: Tensor, activation: str | None) -> Tensor:
        """``activation(conv(x) + b)``, the convolution, bias and activation one kernel where
        fusion is on (:func:`frontend.fusion_epilogue.conv_affine`)."""
        from ..fusion_epilogue import conv_affine

        check_input("Conv2d", x)
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


class Conv(Module):
    """needle's convolution layer: ``(N, in_channels, H, W)`` in and out, the size kept (padding
    ``kernel_size // 2``) at stride 1. The weight is stored as needle stores it, ``(K, K,
    in_channels, out_channels)``, Kaiming-uniform with fan_in ``in_channels * K * K``; the bias
    ``(out_channels,)`` uniform in ``+-1 / sqrt(in_channels * K * K)`` (drawn after the weight,
    so a seeded generator gives needle's values). It runs as :class:`Conv2d` does, through views
    of the weight."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, bias: bool = True,
                 device: str = "cpu", dtype: str = "float32", rng: np.random.Generator | None = None):
        super().__init__()
        kernel_size = kernel_size[0] if isinstance(kernel_size, tuple) else kernel_size
        stride = stride[0] if isinstance(stride, tuple) else stride
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("kernel_size", kernel_size), ("stride", stride)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise DefinitionError(f"Conv: {name} must be a positive integer, got {value!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, kernel_size // 2
        fan = in_channels * kernel_size * kernel_size
        shape = (kernel_size, kernel_size, in_channels, out_channels)
        self.weight = Parameter.of(init.kaiming_uniform(fan, out_channels * kernel_size * kernel_size, shape=shape,
                                                        dtype=dtype, device=device, rng=rng))
        bound = 1.0 / fan ** 0.5
        self.bias = Parameter.of(init.uniform(out_channels, low=-bound, high=bound, dtype=dtype, device=device,
                                              rng=rng)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        from ..fusion_epilogue import conv_affine

        check_input("Conv", x)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise DefinitionError(f"Conv: input of shape {x.shape} should be (N, {self.in_channels}, H, W)")
        weight = ops.permute(self.weight, (3, 2, 0, 1))  # (K, K, C_in, C_out) -> (C_out, C_in, K, K)
        return conv_affine(x, weight, self.bias, None, self.stride, self.padding)
