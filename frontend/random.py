"""Random numbers for initialisers, dropout, shuffling and transforms, from any numpy source.

Every function takes ``rng``: a ``numpy.random.Generator``, a legacy ``numpy.random.RandomState``,
or None for numpy's global generator (what ``np.random.seed`` seeds, as needle's tests expect).
The draws are host data, like a dataset; the arithmetic that uses them runs in kernels.
"""

from __future__ import annotations

import numpy as np

from tensorir.errors import ArgumentError

RandomSource = np.random.Generator | np.random.RandomState | None


def check(what: str, rng) -> RandomSource:
    """``rng`` if it is a Generator, a RandomState or None; an ArgumentError naming ``what`` otherwise."""
    if rng is None or isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    raise ArgumentError(f"{what}: rng={rng!r} is not a random source; pass a numpy.random.Generator "
                        f"(np.random.default_rng(seed)), a numpy.random.RandomState(seed) or None")


def _legacy(rng) -> np.random.RandomState:
    return np.random.mtrand._rand if rng is None else rng


def random(rng: RandomSource, shape) -> np.ndarray:
    """Uniform float64 samples from ``[0, 1)`` of ``shape``."""
    if isinstance(rng, np.random.Generator):
        return rng.random(shape)
    return _legacy(rng).random_sample(shape)


def standard_normal(rng: RandomSource, shape) -> np.ndarray:
    """float64 samples of the standard normal distribution."""
    if isinstance(rng, np.random.Generator):
        return rng.standard_normal(shape)
    return _legacy(rng).standard_normal(shape)


def integers(rng: RandomSource, low: int, high: int, size=None):
    """Integers from ``[low, high)``."""
    if isinstance(rng, np.random.Generator):
        return rng.integers(low, high, size)
    return _legacy(rng).randint(low, high, size)


def permutation(rng: RandomSource, n: int) -> np.ndarray:
    """A random order of ``0 .. n-1``."""
    return (rng if rng is not None else np.random).permutation(n)
