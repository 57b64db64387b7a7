"""Fused layer and batch normalisation (frontend/fusion_norm.py): values and running statistics
against numpy, gradients against finite differences and the unfused layers, kernel counts."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch, fusion, nn
from frontend.fusion_norm import norm, unfused_norm
from tensorir.errors import DefinitionError

from .helpers import gradient_check


def _numpy_norm(x, axes, w, b, eps=1e-5):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


CASES = [("row", (4, 3, 6), 6, (-1,), (6,)), ("channel", (4, 3, 2, 5), 3, (0, 2, 3), (1, 3, 1, 1)),
         ("channel", (7, 3), 3, (0,), (3,))]


@pytest.mark.parametrize("per, shape, dim, axes, wshape", CASES)
def test_values_match_numpy(per, shape, dim, axes, wshape):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(shape), rng.standard_normal(dim), rng.standard_normal(dim)
    y, mean, var = norm(per, nf.Tensor(x), nf.Tensor(w), nf.Tensor(b), 1e-5)
    np.testing.assert_allclose(y.numpy(), _numpy_norm(x, axes, w.reshape(wshape), b.reshape(wshape)), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(var.numpy().reshape(-1), x.var(axis=axes).reshape(-1), rtol=1e-12)
    np.testing.assert_allclose(mean.numpy().reshape(-1), x.mean(axis=axes).reshape(-1), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("per, shape, dim, axes, wshape", CASES)
def test_gradients_finite_differences(per, shape, dim, axes, wshape):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(shape), rng.standard_normal(dim), rng.standard_normal(dim)
    gradient_check(lambda x, w, b: norm(per, x, w, b, 1e-5)[0], x, w, b)


def test_second_derivative_matches_unfused():
    rng = np.random.default_rng(2)
    arrays = rng.standard_normal((5, 3, 1)), rng.standard_normal(3), rng.standard_normal(3)
    found = []
    for layer in (lambda *t: norm("channel", *t, 1e-5)[0], lambda *t: unfused_norm("channel", *t, 1e-5)):
        tensors = [nf.Tensor(a, requires_grad=True) for a in arrays]
        first = nf.grad((layer(*tensors) ** 3).sum(), tensors, create_graph=True)
        (first[0] * first[0]).sum().backward()
        found.append([t.grad.numpy() for t in tensors])
    for fused, plain in zip(*found):
        np.testing.assert_allclose(fused, plain, rtol=1e-9, atol=1e-12)


def _run(layer_fn, x, on):
    layer = layer_fn()
    layer.weight.data[:] = np.linspace(0.5, 1.5, layer.weight.shape[0])
    with fusion.fusion(on):
        xt = nf.Tensor(x, requires_grad=True)
        dispatch.stats.reset()
        out = layer(xt)
        forward = dispatch.stats.calls
        (out * out * out).sum().backward()
    return layer, out.numpy(), [xt.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()], forward


# unfused: each of the two means (the statistics) is one Mean kernel
@pytest.mark.parametrize("layer_fn, shape, unfused_forward", [
    (lambda: nn.LayerNorm(6, dtype="float64"), (4, 3, 6), 9),
    (lambda: nn.BatchNorm2d(3, dtype="float64"), (4, 3, 2, 5), 15)])
def test_layers_fused_match_unfused_in_fewer_kernels(layer_fn, shape, unfused_forward):
    x = np.random.default_rng(3).standard_normal(shape)
    plain_layer, plain, plain_grads, plain_forward = _run(layer_fn, x, False)
    fused_layer, fused, fused_grads, fused_forward = _run(layer_fn, x, True)
    np.testing.assert_allclose(fused, plain, rtol=1e-10, atol=1e-12)
    for mine, theirs in zip(fused_grads, plain_grads):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    # the normalisation is one kernel; BatchNorm's running statistics add two small fused ones
    # (six elementwise kernels eagerly: the lazy graph makes one per statistic)
    assert plain_forward == unfused_forward
    assert fused_forward == (1 if isinstance(fused_layer, nn.LayerNorm) else 3)
    if isinstance(fused_layer, nn.BatchNorm):
        np.testing.assert_allclose(fused_layer.running_mean, plain_layer.running_mean, rtol=1e-12)
        np.testing.assert_allclose(fused_layer.running_var, plain_layer.running_var, rtol=1e-12)
        np.testing.assert_allclose(fused_layer.running_var, 0.9 + 0.1 * x.var(axis=(0, 2, 3)), rtol=1e-6)


def test_misfitting_weights_are_refused():
    x, w = nf.Tensor(np.ones((2, 3))), nf.Tensor(np.ones(4))
    with pytest.raises(DefinitionError, match=r"norm: weight \(4,\) and bias \(4,\) do not fit the last axis of the "
                                              r"input \(2, 3\); give both as vectors of that length"):
        norm("row", x, w, w, 1e-5)
    with pytest.raises(DefinitionError, match=r"norm: per='col' is unknown; use one of channel, row"):
        norm("col", x, w, w, 1e-5)
    with pytest.raises(DefinitionError, match=r"LayerNorm: input of shape \(2, 3\) does not end in the layer's 4 "
                                              r"features; give \(\.\.\., 4\)"):  # the layer's own error
        nn.LayerNorm(4, dtype="float64")(x)
