"""Affine layers with their epilogue in the product's kernel (frontend/fusion_epilogue.py): values
against numpy and the unfused graph in every form a product takes, gradients against finite
differences, one kernel per forward, the symbolic batch, and the fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch, fusion, nn, ops
from frontend.fusion_epilogue import affine, conv_affine
from tensorir.errors import DefinitionError

from .helpers import gradient_check

ACT = {None: lambda z: z, "relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh,
       "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}

SHAPES = {  # the form of the product each shape takes (frontend/ops/matmul.py)
    "template": ((20, 24), (24, 40)),       # matmul_cpu, edge tiles padded
    "transposed_a": ((64, 1040), (1040, 32)),  # A stored transposed (k > WHOLE_K_MAX): matmul_layout
    "dot": ((6, 12), (12, 3)),              # under DOT_MAX columns: dot products of rows
    "narrow": ((6, 12), (12, 8)),           # few columns: the template, its vectors padded
    "batched": ((2, 5, 12), (12, 20)),      # a shared weight: one 2-D product
}


def _forward_calls(fn):
    dispatch.stats.reset()
    out = fn()
    return out, dispatch.stats.calls


@pytest.mark.parametrize("form, activation", [("template", "relu"), ("template", None), ("transposed_a", "tanh"),
                                              ("dot", "sigmoid"), ("narrow", "relu"), ("batched", None),
                                              ("batched", "relu")])
def test_affine_matches_numpy_and_unfused(form, activation):
    x_shape, w_shape = SHAPES[form]
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[1])
    tensors = [nf.Tensor(a) for a in (x, w, b)]
    out, calls = _forward_calls(lambda: affine(*tensors, activation))
    np.testing.assert_allclose(out.numpy(), ACT[activation](x @ w + b), rtol=1e-10, atol=1e-12)
    with fusion.fusion(False):
        plain, plain_calls = _forward_calls(lambda: affine(*tensors, activation))
    np.testing.assert_allclose(out.numpy(), plain.numpy(), rtol=1e-10, atol=1e-12)
    copies = 1 if form in ("dot", "transposed_a") else 0  # the weight (or input) copied transposed
    assert calls == 1 + copies and plain_calls == calls + (2 if activation else 1)


def test_flipped_product_adds_the_bias_along_its_rows():
    rng = np.random.default_rng(2)
    x_store, w, b = rng.standard_normal((12, 40)), rng.standard_normal((12, 6)), rng.standard_normal(6)
    x = ops.swapaxes(nf.Tensor(x_store), 0, 1)  # a transposed view with few columns: (W^T X^T)^T
    dispatch.stats.reset()
    out = affine(x, nf.Tensor(w), nf.Tensor(b), "tanh")
    np.testing.assert_allclose(out.numpy(), np.tanh(x_store.T @ w + b), rtol=1e-12)
    assert dispatch.stats.calls == 1
    assert any(r.op == "matmul_bias_tanh" and r.variant[-1] for r in dispatch.cache.kernels)


@pytest.mark.parametrize("activation", ["relu", None])
def test_affine_gradients_finite_differences(activation):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((5, 7)), rng.standard_normal((7, 18)), rng.standard_normal(18)
    gradient_check(lambda x, w, b: affine(x, w, b, activation), x, w, b)


def test_affine_without_bias_and_its_gradient():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((5, 7)), rng.standard_normal((7, 18))
    out, calls = _forward_calls(lambda: affine(nf.Tensor(x), nf.Tensor(w), None, "relu"))
    np.testing.assert_allclose(out.numpy(), np.maximum(x @ w, 0), rtol=1e-12)
    assert calls == 1
    gradient_check(lambda x, w: affine(x, w, None, "sigmoid"), x, w)


def test_second_derivative_through_the_fused_product():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 17)), rng.standard_normal(17)
    grads = {}
    for on in (False, True):
        with fusion.fusion(on):
            xt, wt, bt = (nf.Tensor(a, requires_grad=True) for a in (x, w, b))
            (gx,) = nf.grad(affine(xt, wt, bt, "tanh").sum(), [xt], create_graph=True)
            gx.sum().backward()
            grads[on] = bt.grad.numpy(), wt.grad.numpy()
    for mine, theirs in zip(grads[True], grads[False]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10)


@pytest.mark.parametrize("activation, stride, padding, dilation, groups", [
    ("relu", 1, 1, 1, 1), ("sigmoid", 2, 0, 1, 1), (None, 1, 1, 1, 1), ("tanh", 1, 2, 2, 2)])
def test_conv_affine_values_and_gradients(activation, stride, padding, dilation, groups):
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal((2, 4, 6, 7)), rng.standard_normal((6, 4 // groups, 3, 3)), rng.standard_normal(6)
    tensors = [nf.Tensor(a) for a in (x, w, b)]
    args = (stride, padding, dilation, groups)
    out, calls = _forward_calls(lambda: conv_affine(*tensors, activation, *args))
    with fusion.fusion(False):
        plain = conv_affine(*tensors, activation, *args)
    np.testing.assert_allclose(out.numpy(), plain.numpy(), rtol=1e-10, atol=1e-12)
    assert calls == 1
    gradient_check(lambda x, w, b: conv_affine(x, w, b, activation, *args), x, w, b)


def test_plain_linear_and_conv_layers_add_their_bias_in_the_kernel():
    rng = np.random.default_rng(7)
    linear = nn.Linear(12, 20, dtype="float64", rng=rng)
    conv = nn.Conv2d(3, 4, 3, dtype="float64", rng=rng)
    x, image = rng.standard_normal((6, 12)), rng.standard_normal((2, 3, 5, 5))
    out, calls = _forward_calls(lambda: linear(nf.Tensor(x)))
    np.testing.assert_allclose(out.numpy(), x @ linear.weight.numpy() + linear.bias.numpy(), rtol=1e-12)
    assert calls == 1
    _, calls = _forward_calls(lambda: conv(nf.Tensor(image)))
    assert calls == 1


def test_fused_kernels_take_a_symbolic_batch_and_the_products_tuning_task():
    rng = np.random.default_rng(8)
    model = nn.Sequential(nn.Linear(12, 24, rng=rng), nn.ReLU())
    model(nf.Tensor(rng.standard_normal((32, 12)).astype(np.float32)))
    compiled = dispatch.stats.compiled
    for batch in (13, 70, 5):
        out = model(nf.Tensor(rng.standard_normal((batch, 12)).astype(np.float32)))
        assert out.shape == (batch, 24)
    assert dispatch.stats.compiled == compiled
    kernels = [k for r, k in dispatch.cache.kernels.items() if r.op == "matmul_bias_relu" and r.shapes[1] == (12, 24)]
    assert kernels and all(k.task is not None and k.task[0] == "matmul_cpu" for k in kernels)


def test_fallbacks_keep_the_unfused_errors():
    with pytest.raises(DefinitionError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not align: 3 != 4"):
        affine(nf.Tensor(np.ones((2, 3))), nf.Tensor(np.ones((4, 5))), nf.Tensor(np.ones(5)), "relu")
    ints = nf.Tensor(np.ones((2, 2), dtype=np.int32))
    with pytest.raises(DefinitionError, match=r"bias_activation: int32 inputs; activations need a float dtype"):
        affine(ints, ints, nf.Tensor(np.ones(2, dtype=np.int32)), "relu")
    with pytest.raises(DefinitionError, match=r"conv2d: stride must be a positive int, got 0"):
        conv_affine(nf.Tensor(np.ones((1, 1, 3, 3))), nf.Tensor(np.ones((1, 1, 3, 3))), None, "relu", stride=0)


def test_fused_conv_layers_take_a_symbolic_batch():
    rng = np.random.default_rng(9)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, rng=rng), nn.Tanh())
    model(nf.Tensor(rng.standard_normal((8, 2, 6, 6)).astype(np.float32)))
    compiled = dispatch.stats.compiled
    images = [rng.standard_normal((batch, 2, 6, 6)).astype(np.float32) for batch in (3, 11)]
    outs = [model(nf.Tensor(image)).numpy() for image in images]
    assert dispatch.stats.compiled == compiled
    assert any(r.op == "conv2d_bias_tanh" and r.shapes[0][0] == 11 for r in dispatch.cache.kernels)
    with fusion.fusion(False):
        for image, out in zip(images, outs):
            np.testing.assert_allclose(out, model(nf.Tensor(image)).numpy(), rtol=1e-5, atol=1e-6)
