"""Initialisers: needle's signatures and draws, Generator and RandomState sources, and the random
sources of dropout and the DataLoader."""

from __future__ import annotations

import math

import numpy as np
import pytest

import frontend as nf
from frontend import data, init, nn, ops
from tensorir.errors import ArgumentError, DefinitionError


def test_rand_draws_what_needle_draws_from_the_global_generator():
    np.random.seed(4)
    got = init.rand(3, 5, low=-2.0, high=3.0).numpy()
    np.random.seed(4)
    np.testing.assert_allclose(got, (np.random.rand(3, 5) * 5.0 - 2.0).astype(np.float32))


def test_randn_and_randb_follow_the_global_generator():
    np.random.seed(5)
    normal, bits = init.randn(4, 2, mean=1.0, std=0.5).numpy(), init.randb(6, p=0.3).numpy()
    np.random.seed(5)
    np.testing.assert_allclose(normal, (np.random.randn(4, 2) * 0.5 + 1.0).astype(np.float32))
    np.testing.assert_array_equal(bits, (np.random.rand(6) <= 0.3).astype(np.float32))


@pytest.mark.parametrize("source", [np.random.default_rng, np.random.RandomState])
def test_generators_and_random_states_reproduce(source):
    a = init.uniform((50, 40), low=-1.0, high=2.0, rng=source(7)).numpy()
    b = init.uniform((50, 40), low=-1.0, high=2.0, rng=source(7)).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.min() >= -1.0 and a.max() < 2.0 and abs(a.mean() - 0.5) < 0.05
    n = init.normal((200, 100), 2.0, mean=3.0, rng=source(1)).numpy()
    assert abs(n.mean() - 3.0) < 0.05 and abs(n.std() - 2.0) < 0.05
    bits = init.bernoulli((200, 100), 0.25, rng=source(2)).numpy()
    assert set(np.unique(bits)) <= {0.0, 1.0} and abs(bits.mean() - 0.25) < 0.01


def test_constants():
    np.testing.assert_array_equal(init.constant(2, 3, c=4.5).numpy(), np.full((2, 3), 4.5, np.float32))
    np.testing.assert_array_equal(init.zeros((2, 2), dtype="float64").numpy(), np.zeros((2, 2)))
    assert init.ones(3).dtype == "float32" and init.ones(3).numpy().sum() == 3
    np.testing.assert_array_equal(init.one_hot(4, [1, 3]).numpy(), np.eye(4, dtype=np.float32)[[1, 3]])
    assert init.zeros_like(init.ones(2, 2)).shape == (2, 2)


def test_kaiming_uniform_takes_needle_fans():
    np.random.seed(0)
    w = init.kaiming_uniform(5, 8).numpy()
    bound = math.sqrt(2.0) * math.sqrt(3.0 / 5)
    np.random.seed(0)
    np.testing.assert_allclose(w, (np.random.rand(5, 8) * 2 * bound - bound).astype(np.float32), rtol=1e-6)
    shaped = init.kaiming_uniform(9, 4, shape=(3, 3, 1, 4), rng=np.random.default_rng(0))
    assert shaped.shape == (3, 3, 1, 4) and np.abs(shaped.numpy()).max() <= math.sqrt(6.0 / 9)


def test_fan_scaled_initialisers_have_their_variance():
    rng = np.random.default_rng(0)
    assert abs(init.xavier_uniform(300, 200, rng=rng).numpy().var() - 2.0 / 500) < 2e-4
    assert abs(init.xavier_normal(300, 200, gain=2.0, rng=rng).numpy().var() - 4 * 2.0 / 500) < 1e-3
    assert abs(init.kaiming_normal(300, 200, rng=rng).numpy().var() - 2.0 / 300) < 4e-4
    assert init.kaiming_uniform((4, 6), 4, rng=rng).shape == (4, 6)  # the frontend's (shape, fan_in)


def test_bad_random_source():
    with pytest.raises(ArgumentError, match="init.uniform: rng=42 is not a random source; pass a "
                                            "numpy.random.Generator"):
        init.uniform((2,), rng=42)


def test_bad_initialiser_arguments():
    with pytest.raises(DefinitionError, match="init.bernoulli: p 1.5 is not a probability"):
        init.bernoulli((2,), 1.5)
    with pytest.raises(DefinitionError, match=r"init.kaiming_uniform: give fan_in and fan_out, e.g. "):
        init.kaiming_uniform(3)


@pytest.mark.parametrize("source", [np.random.default_rng, np.random.RandomState])
def test_dropout_uses_the_given_generator(source):
    x = nf.Tensor(np.ones((40, 50), dtype=np.float32))
    a = ops.dropout(x, 0.5, source(3)).numpy()
    b = nn.Dropout(0.5, rng=source(3))(x).numpy()
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, 2.0} and abs((a == 0).mean() - 0.5) < 0.05


@pytest.mark.parametrize("source", [np.random.default_rng, np.random.RandomState])
def test_data_loader_shuffles_with_the_given_generator(source):
    dataset = data.ArrayDataset(np.arange(10, dtype=np.float32).reshape(10, 1), np.arange(10))
    loader = data.DataLoader(dataset, 4, shuffle=True, rng=source(9))
    order = np.concatenate([y.numpy() for _, y in loader])
    np.testing.assert_array_equal(order, source(9).permutation(10))


def test_dropout_draws_needles_mask_from_the_global_generator():
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    np.random.seed(3)
    got = nn.Dropout(0.45)(nf.Tensor(x)).numpy()
    np.random.seed(3)
    keep = np.random.rand(3, 4) <= 0.55
    np.testing.assert_allclose(got, np.where(keep, x / 0.55, 0.0), rtol=1e-6)
