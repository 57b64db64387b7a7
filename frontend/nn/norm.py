"""Normalisation layers (seed Lec9): LayerNorm over features, BatchNorm over the batch with
running statistics that evaluation uses."""

from __future__ import annotations

import numpy as np

from .. import fusion_norm, ops
from ..lazy_graph import share
from ..tensor import Tensor, no_grad
from .module import Module, Parameter


def _normalize(x: Tensor, axes, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``((x - mean) / sqrt(var + eps), mean, var)`` over ``axes`` (biased variance, kept dims)."""
    mean = ops.mean(x, axes, keepdims=True)
    centered = ops.subtract(x, mean)
    var = ops.mean(ops.multiply(centered, centered), axes, keepdims=True)
    return ops.divide(centered, ops.power(ops.add(var, eps), 0.5)), mean, var


class LayerNorm(Module):
    """``w * (x - E[x]) / sqrt(Var[x] + eps) + b`` over the last axis of ``x``."""

    def __init__(self, dim: int, eps: float = 1e-5, dtype: str = "float32", device: str = "cpu"):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = Parameter(np.ones(dim, dtype=dtype), device=device)
        self.bias = Parameter(np.zeros(dim, dtype=dtype), device=device)

    def forward(self, x: Tensor) -> Tensor:
        if fusion_norm.fusable(x, self.weight, self.bias, "row"):  # one kernel (frontend.fusion_norm)
            return fusion_norm.norm("row", x, self.weight, self.bias, self.eps)[0]
        normed, _, _ = _normalize(x, -1, self.eps)
        return ops.add(ops.multiply(normed, self.weight), self.bias)


class BatchNorm(Module):
    """Normalises each feature (axis 1) over the batch and any spatial axes; in training keeps
    ``running = (1 - momentum) * running + momentum * batch`` of the mean and the (biased)
    variance, which evaluation uses instead of the batch's."""

    def __init__(self, dim: int, eps: float = 1e-5, momentum: float = 0.1, dtype: str = "float32",
                 device: str = "cpu"):
        super().__init__()
        self.dim, self.eps, self.momentum = dim, eps, momentum
        self.weight = Parameter(np.ones(dim, dtype=dtype), device=device)
        self.bias = Parameter(np.zeros(dim, dtype=dtype), device=device)
        self._buffers = {"running_mean": np.zeros(dim, dtype=dtype), "running_var": np.ones(dim, dtype=dtype)}

    @property
    def running_mean(self) -> np.ndarray:
        """The running mean (the array itself: pending ops reading it run first, and ops reading
        it later run at once, so that writing into it changes no pending value)."""
        return share(self._buffers["running_mean"])

    @property
    def running_var(self) -> np.ndarray:
        """The running variance (the array itself, as :attr:`running_mean`)."""
        return share(self._buffers["running_var"])

    def forward(self, x: Tensor) -> Tensor:
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, self.dim) + (1,) * (x.ndim - 2)
        if self.training and fusion_norm.fusable(x, self.weight, self.bias, "channel"):
            y, mean, var = fusion_norm.norm("channel", x, self.weight, self.bias, self.eps)
            self._update_running(mean, var)
            return y
        if self.training:
            normed, mean, var = _normalize(x, axes, self.eps)
            self._update_running(mean, var)
        else:
            mean = Tensor.wrap(self._buffers["running_mean"].reshape(shape), x.device)
            var = Tensor.wrap(self._buffers["running_var"].reshape(shape), x.device)
            normed = ops.divide(ops.subtract(x, mean), ops.power(ops.add(var, self.eps), 0.5))
        weight, bias = ops.reshape(self.weight, shape), ops.reshape(self.bias, shape)
        return ops.add(ops.multiply(normed, weight), bias)

    def _update_running(self, mean: Tensor, var: Tensor) -> None:
        m = self.momentum
        with no_grad():
            for key, batch in (("running_mean", mean), ("running_var", var)):
                old = Tensor.wrap(self._buffers[key], batch.device)
                new = ops.add(ops.multiply(old, 1.0 - m), ops.multiply(ops.reshape(batch, (self.dim,)), m))
                self._buffers[key] = new._storage()


class BatchNorm1d(BatchNorm):
    """BatchNorm of ``(N, features)`` inputs."""


class BatchNorm2d(BatchNorm):
    """BatchNorm of ``(N, channels, H, W)`` inputs, over batch and space per channel."""
