"""Fused kernels (frontend/fusion.py): values against numpy, gradients against finite
differences and against the unfused graph, kernel counts of known graphs, and errors."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch, fusion, nn
from frontend.fusion import bias_activation
from tensorir.errors import DefinitionError

from .helpers import gradient_check

REFERENCE = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh, "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}


@pytest.mark.parametrize("activation", sorted(REFERENCE))
def test_bias_activation_values_and_gradients(activation):
    rng = np.random.default_rng(1)
    x, b = rng.standard_normal((5, 7)), rng.standard_normal(7)
    out = bias_activation(nf.Tensor(x), nf.Tensor(b), activation)
    np.testing.assert_allclose(out.numpy(), REFERENCE[activation](x + b), rtol=1e-12)
    gradient_check(lambda x, b: bias_activation(x, b, activation), x, b)


@pytest.mark.parametrize("bias_shape", [(1, 3, 1, 1), (3, 1, 1), (1, 1, 1, 4), (1,)])
def test_bias_along_any_axes_finite_differences(bias_shape):
    rng = np.random.default_rng(2)
    x, b = rng.standard_normal((2, 3, 2, 4)), rng.standard_normal(bias_shape)
    gradient_check(lambda x, b: bias_activation(x, b, "tanh"), x, b)


def test_bias_on_axes_apart_uses_the_unfused_gradient():
    rng = np.random.default_rng(3)
    x, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 1, 4))  # axes 0 and 2: not one run
    gradient_check(lambda x, b: bias_activation(x, b, "sigmoid"), x, b)


def test_second_derivative_through_the_fused_op():
    rng = np.random.default_rng(4)
    x, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    grads = {}
    for on in (False, True):
        with fusion.fusion(on):
            xt, bt = nf.Tensor(x, requires_grad=True), nf.Tensor(b, requires_grad=True)
            (gx,) = nf.grad(bias_activation(xt, bt, "tanh").sum(), [xt], create_graph=True)
            gx.sum().backward()
            grads[on] = bt.grad.numpy()
    np.testing.assert_allclose(grads[True], grads[False], rtol=1e-12)
    np.testing.assert_allclose(grads[True], (-2 * np.tanh(x + b) * (1 - np.tanh(x + b) ** 2)).sum(0), rtol=1e-10)


def _mlp():
    return nn.Sequential(nn.Linear(12, 8, dtype="float64", rng=np.random.default_rng(1)), nn.ReLU(),
                         nn.Linear(8, 3, dtype="float64", rng=np.random.default_rng(2)))


def _step(model, x):
    """Forward and backward of ``sum(model(x)^2)``: the outputs, gradients and kernels run."""
    dispatch.stats.reset()
    xt = nf.Tensor(x, requires_grad=True)
    out = model(xt)
    forward = dispatch.stats.calls
    (out * out).sum().backward()
    return out.numpy(), [xt.grad.numpy()] + [p.grad.numpy() for p in model.parameters()], forward, dispatch.stats.calls


def test_sequential_fuses_bias_and_activation_into_fewer_kernels():
    x = np.random.default_rng(5).standard_normal((6, 12))
    with fusion.fusion(False):
        plain = _step(_mlp(), x)
    fused = _step(_mlp(), x)
    w1, b1, w2, b2 = (p.numpy() for p in _mlp().parameters())
    np.testing.assert_allclose(fused[0], np.maximum(x @ w1 + b1, 0) @ w2 + b2, rtol=1e-12)
    np.testing.assert_allclose(fused[0], plain[0], rtol=1e-12)
    for mine, theirs in zip(fused[1], plain[1]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)
    # forward: matmul_bias_relu, compact, matmul_bias (unfused: matmul, add, relu, compact,
    # matmul, add); the 8-column product runs on the template as stored, the 3-column one as dot
    # products of rows of the weight copied transposed (the compact), and each product's kernel
    # adds the bias and applies the activation
    assert (fused[2], plain[2]) == (3, 6)
    # backward: relu_backward and the bias sum become the one bias_relu_backward kernel, and the
    # lazy graph fuses the elementwise chains of the loss and its gradient, and each reduction
    # with its elementwise producers (the loss's sum of squares, the last bias's gradient sum)
    assert (fused[3], plain[3]) == (9, 18)  # counted from the forward on
    ops = {request.op for request in dispatch.cache.kernels}
    assert {"matmul_bias_relu", "matmul_bias", "bias_relu_backward"} <= ops


def test_fused_conv_layer_matches_unfused_and_shares_kernels():
    x = np.random.default_rng(6).standard_normal((2, 2, 5, 5))

    def model():
        return nn.Sequential(nn.Conv2d(2, 3, 3, dtype="float64", rng=np.random.default_rng(7)), nn.Sigmoid())

    with fusion.fusion(False):
        plain = _step(model(), x)
    fused = _step(model(), x)
    np.testing.assert_allclose(fused[0], plain[0], rtol=1e-12)
    for mine, theirs in zip(fused[1], plain[1]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)
    assert (fused[2], plain[2]) == (1, 3)  # conv2d_bias_sigmoid; unfused conv2d, add, sigmoid
    cached = dispatch.cached_kernels()
    again = _step(model(), x)  # the same graph on the same shapes: no new kernel
    assert dispatch.cached_kernels() == cached and again[3] == fused[3]


def test_subclass_with_its_own_forward_is_not_fused():
    class Doubled(nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2.0

    layer = Doubled(4, 2, dtype="float64", rng=np.random.default_rng(8))
    x = np.random.default_rng(9).standard_normal((3, 4))
    out = nn.Sequential(layer, nn.ReLU())(nf.Tensor(x)).numpy()
    w, b = (p.numpy() for p in layer.parameters())
    np.testing.assert_allclose(out, np.maximum((x @ w + b) * 2.0, 0), rtol=1e-12)


def test_unknown_activation_is_refused():
    x = nf.Tensor(np.ones((2, 2)))
    with pytest.raises(DefinitionError, match=r"bias_activation: activation 'gelu' cannot be fused; use one of "
                                              r"relu, sigmoid, tanh or None"):
        bias_activation(x, x, "gelu")


def test_integer_inputs_are_refused():
    x = nf.Tensor(np.ones((2, 2), dtype=np.int32))
    with pytest.raises(DefinitionError, match=r"bias_activation: int32 inputs; activations need a float dtype"):
        bias_activation(x, x, "relu")


def test_adjoints_of_a_shared_tensor_are_summed_by_one_kernel():
    rng = np.random.default_rng(10)
    xs, w = [rng.standard_normal((3, 4)) for _ in range(5)], rng.standard_normal((4, 4))
    found = {}
    for on in (False, True):
        with fusion.fusion(on):
            wt = nf.Tensor(w, requires_grad=True)
            total = nf.ops.tanh(nf.Tensor(xs[0], requires_grad=False) @ wt)
            for x in xs[1:]:
                total = total + nf.ops.tanh(nf.Tensor(x, requires_grad=False) @ wt)
            dispatch.stats.reset()
            total.sum().backward()
            found[on] = wt.grad.numpy(), dispatch.stats.calls
    want = sum(x.T @ (1 - np.tanh(x @ w) ** 2) for x in xs)
    np.testing.assert_allclose(found[True][0], want, rtol=1e-12)
    # four adds of the five adjoints of w become one add_n (3 kernels fewer); the lazy forward's
    # tanh and adds run in the counted part as one fused kernel (+1) instead of 9 kernels before;
    # the lazy sum's value is never read (its gradient needs only its shape), so neither it nor
    # the chain feeding it runs: each tanh's gradient kernel computes the tanh it reads (-2)
    assert (found[True][1], found[False][1]) == (11, 15)


def test_add_n_gradient_finite_differences():
    rng = np.random.default_rng(11)
    gradient_check(lambda a, b, c: fusion.sum_all([a * b, b * c, a * c, a]), *(rng.standard_normal((2, 3))
                                                                                 for _ in range(3)))


def test_input_broadcast_against_a_larger_bias():
    rng = np.random.default_rng(12)
    x, b = rng.standard_normal(4), rng.standard_normal((3, 4))
    np.testing.assert_allclose(bias_activation(nf.Tensor(x), nf.Tensor(b), "relu").numpy(), np.maximum(x + b, 0),
                               rtol=1e-12)
    gradient_check(lambda x, b: bias_activation(x, b, "tanh"), x, b)
