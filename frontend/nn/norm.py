"""Normalisation layers (seed Lec9): LayerNorm over features, BatchNorm over the batch with
running statistics that evaluation uses."""

from __future__ import annotations

import numpy as np

from tensorir.errors import DefinitionError

from .. import fusion_norm, ops
from ..autograd import no_grad
from ..tensor import Tensor
from .module import Module, Parameter, check_input, check_sizes


def _normalize(x: Tensor, axes, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``((x - mean) / sqrt(var + eps), mean, var)`` over ``axes`` (biased variance, kept dims)."""
    mean = ops.mean(x, axes, keepdims=True)
    centered = ops.subtract(x, mean)
    var = ops.mean(ops.multiply(centered, centered), axes, keepdims=True)
    return ops.divide(centered, ops.power(ops.add(var, eps), 0.5)), mean, var


def _check_fraction(layer: str, name: str, value, low: float, high: float | None, closed: bool = False) -> None:
    """Refuse ``value`` unless it is a number above ``low`` (or from ``low`` with ``closed``) and
    at most ``high``, naming the layer and the argument."""
    number = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if not number or not (value >= low if closed else value > low) or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f"above {low}"
        raise DefinitionError(f"{layer}: {name} must be a number {bound}, got {value!r}")


class LayerNorm(Module):
    """``w * (x - E[x]) / sqrt(Var[x] + eps) + b`` over the last axis of ``x``."""

    def __init__(self, dim: int, eps: float = 1e-5, device: str = "cpu", dtype: str = "float32"):  # needle's order
        super().__init__()
        check_sizes(type(self).__name__, dim=dim)
        _check_fraction(type(self).__name__, "eps", eps, 0.0, None)
        self.dim, self.eps = dim, eps
        self.weight = Parameter(np.ones(dim, dtype=dtype), device=device)
        self.bias = Parameter(np.zeros(dim, dtype=dtype), device=device)

    def forward(self, x: Tensor) -> Tensor:
        check_input(type(self).__name__, x)
        if x.ndim < 1 or x.shape[-1] != self.dim:
            raise DefinitionError(f"{type(self).__name__}: input of shape {x.shape} does not end in the layer's "
                                  f"{self.dim} features; give (..., {self.dim})")
        if fusion_norm.fusable(x, self.weight, self.bias, "row"):  # one kernel (frontend.fusion_norm)
            return fusion_norm.norm("row", x, self.weight, self.bias, self.eps)[0]
        normed, _, _ = _normalize(x, -1, self.eps)
        return ops.add(ops.multiply(normed, self.weight), self.bias)


class BatchNorm(Module):
    """Normalises each feature (axis 1) over the batch and any spatial axes; in training keeps
    ``running = (1 - momentum) * running + momentum * batch`` of the mean and the (biased)
    variance, which evaluation uses instead of the batch's."""

    def __init__(self, dim: int, eps: float = 1e-5, momentum: float = 0.1, device: str = "cpu",
                 dtype: str = "float32"):  # needle's order
        super().__init__()
        check_sizes(type(self).__name__, dim=dim)
        _check_fraction(type(self).__name__, "eps", eps, 0.0, None)
        _check_fraction(type(self).__name__, "momentum", momentum, 0.0, 1.0, closed=True)
        self.dim, self.eps, self.momentum = dim, eps, momentum
        self.weight = Parameter(np.ones(dim, dtype=dtype), device=device)
        self.bias = Parameter(np.zeros(dim, dtype=dtype), device=device)
        self._buffers = {"running_mean": np.zeros(dim, dtype=dtype), "running_var": np.ones(dim, dtype=dtype)}

    @property
    def running_mean(self) -> Tensor:
        """The running mean, a Tensor over the stored buffer (needle's ``running_mean``)."""
        return Tensor._wrap(self._buffers["running_mean"])

    @running_mean.setter
    def running_mean(self, value) -> None:
        self._set_buffer("running_mean", value)

    @property
    def running_var(self) -> Tensor:
        """The running (biased) variance, a Tensor over the stored buffer."""
        return Tensor._wrap(self._buffers["running_var"])

    @running_var.setter
    def running_var(self, value) -> None:
        self._set_buffer("running_var", value)

    #: the input ranks the layer takes, and how to write them
    ranks, layout = range(2, 9), "(N, features, ...)"

    def _check(self, x: Tensor) -> None:
        check_input(type(self).__name__, x)
        if x.ndim not in self.ranks or x.shape[1] != self.dim:
            raise DefinitionError(f"{type(self).__name__}: input of shape {x.shape} does not fit the layer's "
                                  f"{self.dim} features; give {self.layout.replace('features', str(self.dim))}")

    def _set_buffer(self, key: str, value) -> None:
        array = np.array(value._storage() if isinstance(value, Tensor) else value, dtype=self._buffers[key].dtype)
        if array.size != self.dim:
            raise ValueError(f"{type(self).__name__}.{key}: {array.size} values given for {self.dim} features")
        self._buffers[key] = np.ascontiguousarray(array.reshape(self.dim))

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
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
            mean = Tensor._wrap(self._buffers["running_mean"].reshape(shape), x.device)
            var = Tensor._wrap(self._buffers["running_var"].reshape(shape), x.device)
            normed = ops.divide(ops.subtract(x, mean), ops.power(ops.add(var, self.eps), 0.5))
        weight, bias = ops.reshape(self.weight, shape), ops.reshape(self.bias, shape)
        return ops.add(ops.multiply(normed, weight), bias)

    def _update_running(self, mean: Tensor, var: Tensor) -> None:
        m = self.momentum
        with no_grad():
            for key, batch in (("running_mean", mean), ("running_var", var)):
                old = Tensor._wrap(self._buffers[key], batch.device)
                new = ops.add(ops.multiply(old, 1.0 - m), ops.multiply(ops.reshape(batch, (self.dim,)), m))
                self._buffers[key] = new._storage()


#: needle's name of the layer normalisation over the last axis of ``(N, features)`` inputs
LayerNorm1d = LayerNorm


class BatchNorm1d(BatchNorm):
    """BatchNorm of ``(N, features)`` inputs (or ``(N, features, length)``)."""

    ranks, layout = (2, 3), "(N, features)"


class BatchNorm2d(BatchNorm):
    """BatchNorm of ``(N, channels, H, W)`` inputs, over batch and space per channel."""

    ranks, layout = (4,), "(N, features, H, W)"
