"""Random programs (:mod:`tests.frontend.random_graphs`): lazy, eager and numpy agree on every
read, made in random order with references dropped and leaves written in place between ops;
lazy and eager gradients agree, and match central differences where the program is smooth.

The default run draws small programs from a small vocabulary (its kernels are shared between
programs, so a few hundred run in seconds); the ``slow`` run draws many more, larger ones, from
everything the generator knows. A failure prints the program.
"""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import lazy_liveness

from . import random_graphs

#: (programs, ops per program) of the default run, split in chunks of equal size
FAST, FAST_SIZE, CHUNKS = 160, 3, 4


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_small_programs_agree(chunk):
    for seed in range(chunk, FAST, CHUNKS):
        random_graphs.check(seed, FAST_SIZE, smooth=seed % 3 == 0, vocabulary=random_graphs.SMALL)


@pytest.mark.parametrize("baseline", [None, 1000], ids=["fallback", "undercounting"])
def test_small_programs_agree_whatever_the_liveness_counts_say(monkeypatch, baseline):
    """The liveness decision forced to its fallback (no counts) or to miss every held value."""
    monkeypatch.setattr(lazy_liveness, "BASELINE", baseline)
    for seed in range(1, FAST, 8):
        random_graphs.check(seed, FAST_SIZE, smooth=seed % 3 == 0, vocabulary=random_graphs.SMALL)


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(8))
def test_many_programs_agree(chunk):
    for seed in range(10_000 + chunk, 10_000 + 1200, 8):
        random_graphs.check(seed, 4 + seed % 9, smooth=seed % 4 == 0)


# -- what the random programs found, each on its own ------------------------------------------

@pytest.mark.parametrize("on", [True, False], ids=["lazy", "eager"])
def test_the_mean_of_a_0d_tensor_has_a_gradient(on):
    """Seed 3: ``x.sum().mean(keepdims=True)`` failed in backward (a 0-d mean's gradient kernel)."""
    with nf.lazy(on):
        x = nf.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        total = x.sum().mean(None, keepdims=True)
        assert total.shape == () and total.item() == 15.0
        (total * 2.0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))


@pytest.mark.parametrize("on", [True, False], ids=["lazy", "eager"])
def test_a_0d_tensor_indexed_by_an_empty_index_has_a_gradient(on):
    """Seed 92: ``x.max()[()]`` failed in backward (a slice's gradient with no axis to slice)."""
    with nf.lazy(on):
        values = np.array([[1.0, 5.0, 2.0], [0.5, -1.0, 3.0]])
        x = nf.Tensor(values, requires_grad=True)
        top = x.max()[()]
        assert top.shape == () and top.item() == 5.0
        (top * 3.0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(values == 5.0, 3.0, 0.0))
