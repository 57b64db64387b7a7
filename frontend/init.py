"""Weight initialisation (seed Lec6): Xavier and Kaiming, each uniform or normal.

Kaiming keeps the variance of ReLU activations from layer to layer: ``Var[w] = 2 / fan_in``;
Xavier balances forward and backward signals: ``Var[w] = 2 / (fan_in + fan_out)``. The random
numbers are drawn on the host; nothing else is computed here.
"""

from __future__ import annotations

import math

import numpy as np

from .tensor import Tensor

_default_rng = np.random.default_rng(0)


def seed(value: int) -> None:
    """Reseed the generator that initialisers use when none is passed."""
    global _default_rng
    _default_rng = np.random.default_rng(value)


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return rng if rng is not None else _default_rng


def _gain(nonlinearity: str) -> float:
    gains = {"relu": math.sqrt(2.0), "linear": 1.0, "tanh": 5.0 / 3.0, "sigmoid": 1.0}
    if nonlinearity not in gains:
        raise ValueError(f"init: unknown nonlinearity {nonlinearity!r}; use one of {sorted(gains)}")
    return gains[nonlinearity]


def uniform(shape, bound: float, dtype: str = "float32", device: str = "cpu", rng=None,
            requires_grad: bool = True) -> Tensor:
    """Values drawn uniformly from ``[-bound, bound)``."""
    values = _rng(rng).uniform(-bound, bound, size=shape).astype(dtype)
    return Tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def normal(shape, std: float, dtype: str = "float32", device: str = "cpu", rng=None,
           requires_grad: bool = True) -> Tensor:
    """Values drawn from a normal distribution of mean 0 and deviation ``std``."""
    values = _rng(rng).normal(0.0, std, size=shape).astype(dtype)
    return Tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def xavier_uniform(shape, fan_in: int, fan_out: int, gain: float = 1.0, **kwargs) -> Tensor:
    """``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    return uniform(shape, gain * math.sqrt(6.0 / (fan_in + fan_out)), **kwargs)


def xavier_normal(shape, fan_in: int, fan_out: int, gain: float = 1.0, **kwargs) -> Tensor:
    """``N(0, std^2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    return normal(shape, gain * math.sqrt(2.0 / (fan_in + fan_out)), **kwargs)


def kaiming_uniform(shape, fan_in: int, nonlinearity: str = "relu", **kwargs) -> Tensor:
    """``U(-b, b)`` with ``b = gain * sqrt(3 / fan_in)`` (``gain = sqrt(2)`` for ReLU)."""
    return uniform(shape, _gain(nonlinearity) * math.sqrt(3.0 / fan_in), **kwargs)


def kaiming_normal(shape, fan_in: int, nonlinearity: str = "relu", **kwargs) -> Tensor:
    """``N(0, std^2)`` with ``std = gain / sqrt(fan_in)``: ``Var = 2 / fan_in`` for ReLU."""
    return normal(shape, _gain(nonlinearity) / math.sqrt(fan_in), **kwargs)
