"""Data augmentation with needle's transforms: random horizontal flips and random crops.

An image is ``(H, W, C)`` as in needle (``layout="HWC"``), or ``(C, H, W)`` as the frontend's
datasets and convolutions store it (``layout="CHW"``). Each draws from ``rng`` (a Generator, a
RandomState, or None for numpy's global generator) exactly what needle draws, so a seeded
``np.random`` gives needle's images. These move pixels on the host; they compute nothing.
"""

from __future__ import annotations

import numpy as np

from .. import random
from ..errors import DataError

LAYOUTS = ("HWC", "CHW")


def _axes(name: str, layout: str, image: np.ndarray) -> tuple[int, int]:
    if layout not in LAYOUTS:
        raise DataError(f"{name}: layout {layout!r} is unknown; use 'HWC' (needle's) or 'CHW'")
    if image.ndim != 3:
        raise DataError(f"{name}: an image must have 3 axes ({layout}), got shape {image.shape}")
    return (0, 1) if layout == "HWC" else (1, 2)


class Transform:
    """needle's base of a data transform: ``__call__(x)`` returns the transformed example."""

    def __call__(self, x):
        raise NotImplementedError(f"{type(self).__name__}: define __call__(self, x) returning the transformed "
                                  "example")


class RandomFlipHorizontal(Transform):
    """Mirror the image left to right with probability ``p``."""

    def __init__(self, p: float = 0.5, rng=None, layout: str = "HWC"):
        if not 0.0 <= p <= 1.0:
            raise DataError(f"RandomFlipHorizontal: p {p} is not a probability; give 0 <= p <= 1")
        self.p, self.rng, self.layout = p, random.check("RandomFlipHorizontal", rng), layout

    def __call__(self, image: np.ndarray) -> np.ndarray:
        _, width = _axes("RandomFlipHorizontal", self.layout, image)
        if random.random(self.rng, None) < self.p:
            return np.ascontiguousarray(np.flip(image, width))
        return image


class RandomCrop(Transform):
    """Shift the image by up to ``padding`` pixels along each spatial axis, filling with zeros
    (zero-pad by ``padding``, then crop the original size at a random offset)."""

    def __init__(self, padding: int = 3, rng=None, layout: str = "HWC"):
        if not isinstance(padding, int) or padding < 0:
            raise DataError(f"RandomCrop: padding must be a non-negative int, got {padding!r}")
        self.padding, self.rng, self.layout = padding, random.check("RandomCrop", rng), layout

    def __call__(self, image: np.ndarray) -> np.ndarray:
        rows, columns = _axes("RandomCrop", self.layout, image)
        p = self.padding
        shift_x, shift_y = (int(s) for s in random.integers(self.rng, -p, p + 1, 2))
        widths = [(0, 0)] * 3
        widths[rows], widths[columns] = (p, p), (p, p)
        padded = np.pad(image, widths)
        index = [slice(None)] * 3
        index[rows] = slice(p + shift_x, p + shift_x + image.shape[rows])
        index[columns] = slice(p + shift_y, p + shift_y + image.shape[columns])
        return np.ascontiguousarray(padded[tuple(index)])
