"""Dropout (seed Lec9): zero each element with probability ``p`` and scale the rest by 1/(1-p)."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .elementwise import Elementwise, mask


class Dropout(Elementwise):
    """``x / (1 - p)`` where the uniform sample ``u >= p``, else 0; the same mask scales the gradient."""

    name = "dropout"

    def __init__(self, p: float):
        self.p = float(p)
        self.key = (self.name, self.p)

    def scalar(self, x, u):
        return x * mask(u >= self.p, x.dtype) * (1.0 / (1.0 - self.p))

    def gradient(self, g, node):
        return Dropout(self.p)(g, node.inputs[1]), None


def dropout(x: Tensor, p: float, rng: np.random.Generator | None = None) -> Tensor:
    """``x`` with elements zeroed with probability ``p`` (``0 <= p < 1``), the rest scaled by 1/(1-p)."""
    if p == 0:
        return x
    rng = rng or np.random.default_rng()
    noise = Tensor.wrap(rng.random(x.shape, dtype=np.float64).astype(x.dtype), x.device)
    return Dropout(p)(x, noise)
