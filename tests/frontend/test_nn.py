"""Modules against hand-computed references: Linear, activations, containers, LayerNorm,
BatchNorm (running statistics), Dropout (scaling), Conv2d and pooling layers."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import nn

from .helpers import gradient_check


def test_linear_matches_numpy_and_finds_its_parameters(rng):
    layer = nn.Linear(4, 3, rng=rng)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    out = layer(nf.Tensor(x)).numpy()
    np.testing.assert_allclose(out, x @ layer.weight.numpy() + layer.bias.numpy(), rtol=1e-5, atol=1e-6)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


def test_kaiming_uniform_bound():
    layer = nn.Linear(600, 300, rng=np.random.default_rng(0))
    bound = np.sqrt(2.0) * np.sqrt(3.0 / 600)
    weights = layer.weight.numpy()
    assert np.abs(weights).max() <= bound and np.abs(weights).max() > 0.95 * bound
    assert np.allclose(weights.var(), 2.0 / 600, rtol=0.05)


def test_parameter_discovery_is_recursive_and_unique():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(nn.Flatten(), shared, nn.ReLU(), nn.Residual(nn.Sequential(shared, nn.Tanh())),
                          nn.Linear(3, 2))
    names = [name for name, _ in model.named_parameters()]
    assert names == ["modules_list.1.weight", "modules_list.1.bias", "modules_list.4.weight", "modules_list.4.bias"]
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_activations_and_residual(rng):
    x = rng.standard_normal((2, 3))
    t = nf.Tensor(x)
    np.testing.assert_allclose(nn.Sigmoid()(t).numpy(), 1 / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(nn.Residual(nn.Tanh())(t).numpy(), np.tanh(x) + x, rtol=1e-12)
    np.testing.assert_allclose(nn.Sequential(nn.ReLU(), nn.Flatten())(nf.Tensor(x.reshape(2, 3, 1))).numpy(),
                               np.maximum(x, 0))


def test_softmax_loss(rng):
    logits, labels = rng.standard_normal((4, 5)), np.array([0, 3, 4, 1], dtype=np.int32)
    expected = np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(4), labels])
    got = nn.SoftmaxLoss()(nf.Tensor(logits), nf.Tensor(labels)).item()
    assert got == pytest.approx(expected, rel=1e-12)
    gradient_check(lambda z: nn.SoftmaxLoss()(z, nf.Tensor(labels)), logits)


def test_layer_norm(rng):
    x = rng.standard_normal((3, 6)) * 4 + 1
    norm = nn.LayerNorm(6, dtype="float64")
    expected = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(norm(nf.Tensor(x)).numpy(), expected, rtol=1e-10)
    gradient_check(lambda t: nn.LayerNorm(6, dtype="float64")(t), x, rtol=1e-4)


def test_batch_norm_running_statistics(rng):
    x = rng.standard_normal((8, 3)) * 2 + 5
    norm = nn.BatchNorm1d(3, momentum=0.1, dtype="float64")
    out = norm(nf.Tensor(x)).numpy()
    np.testing.assert_allclose(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-10)
    np.testing.assert_allclose(norm.running_mean, 0.1 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(norm.running_var, 0.9 + 0.1 * x.var(0), rtol=1e-12)
    norm.eval()
    y = rng.standard_normal((2, 3))
    expected = (y - norm.running_mean) / np.sqrt(norm.running_var + 1e-5)
    np.testing.assert_allclose(norm(nf.Tensor(y)).numpy(), expected, rtol=1e-10)
    assert set(norm.state_dict()) == {"weight", "bias", "running_mean", "running_var"}


def test_batch_norm_2d_normalises_each_channel(rng):
    x = rng.standard_normal((4, 2, 3, 3)) + np.array([3.0, -2.0]).reshape(1, 2, 1, 1)
    out = nn.BatchNorm2d(2, dtype="float64")(nf.Tensor(x)).numpy()
    np.testing.assert_allclose(out.mean((0, 2, 3)), 0, atol=1e-10)
    np.testing.assert_allclose(out.var((0, 2, 3)), 1, rtol=1e-3)
    gradient_check(lambda t: nn.BatchNorm2d(2, dtype="float64")(t) * 1.0, x, rtol=1e-4)


def test_dropout_scales_in_training_and_is_identity_in_eval():
    layer = nn.Dropout(0.5, rng=np.random.default_rng(3))
    x = nf.Tensor(np.ones((100, 10), dtype=np.float32))
    values = layer(x).numpy()
    assert set(np.unique(values)) == {0.0, 2.0}
    layer.eval()
    assert layer(x) is x


def test_conv_and_pool_layers(rng):
    conv = nn.Conv2d(2, 4, 3, rng=rng)
    x = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    y = conv(nf.Tensor(x))
    assert y.shape == (2, 4, 6, 6)
    assert nn.MaxPool2d(2)(y).shape == (2, 4, 3, 3)
    assert nn.AvgPool2d(3, 1)(y).shape == (2, 4, 4, 4)
    assert conv.weight.shape == (4, 2, 3, 3)


def test_state_dict_round_trip(rng):
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.BatchNorm1d(4))
    model(nf.Tensor(rng.standard_normal((5, 3)).astype(np.float32)))
    state = model.state_dict()
    other = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    other.load_state_dict(state)
    for name, value in other.state_dict().items():
        np.testing.assert_array_equal(value, state[name])
