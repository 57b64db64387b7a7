"""Dropout (seed Lec9): zero each element with probability ``p`` and scale the rest by 1/(1-p)."""

from __future__ import annotations

import numpy as np

from .. import random
from ..tensor import Tensor
from .elementwise import Elementwise, mask


class Dropout(Elementwise):
    """``x / (1 - p)`` where the element is kept, else 0; the second input is 1 where it is
    dropped (needle's mask ``randb(p=1-p)`` inverted, drawn on the host in float64 as needle's,
    so a seeded program gets needle's exact mask); the same mask scales the gradient."""

    name = "dropout"
    saves, saves_output = (1,), False

    def __init__(self, p: float):
        self.p = float(p)
        self.key = (self.name, self.p)

    def scalar(self, x, dropped):
        return x * mask(dropped < 0.5, x.dtype) * (1.0 / (1.0 - self.p))

    def gradient(self, g, node):
        return Dropout(self.p)(g, node.inputs[1]), None


def dropout(x: Tensor, p: float, rng: np.random.Generator | np.random.RandomState | None = None) -> Tensor:
    """``x`` with elements zeroed with probability ``p`` (``0 <= p < 1``), the rest scaled by
    1/(1-p); the mask is drawn from ``rng`` (a Generator, a RandomState, or None for numpy's
    global generator)."""
    if p == 0:
        return x
    # needle's draw: a uniform float64 sample per element, kept where it is <= 1 - p
    dropped = random.random(random.check("dropout", rng), x.shape) > 1.0 - p
    dropped = Tensor._wrap(np.ascontiguousarray(dropped, dtype=x.dtype), x.device)
    return Dropout(p)(x, dropped)
