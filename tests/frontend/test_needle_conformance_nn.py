"""needle's init and nn modules as its homework tests use them (through the name-mapping shim):
seeded initial values against numpy reimplementations of needle's formulas, module outputs
against numpy, gradients against central differences, training/evaluation modes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tensorir.errors import DefinitionError

from .needle_checks import conv_reference, gradient_check
from .needle_shim import ndl


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(1337)


def uniform(shape, bound):
    """needle's ``rand(*shape, low=-bound, high=bound)`` from the global generator."""
    return np.random.rand(*shape) * (2 * bound) - bound


# -- init (hw2's test_init_*) ------------------------------------------------------------------------
def test_fan_scaled_initialisers_draw_needles_values():
    got = ndl.init.xavier_uniform(3, 5, gain=1.5).numpy()
    np.random.seed(1337)
    np.testing.assert_allclose(got, uniform((3, 5), 1.5 * math.sqrt(6 / 8)).astype(np.float32))
    np.random.seed(1337)
    got = ndl.init.xavier_normal(3, 5, gain=0.4).numpy()
    np.random.seed(1337)
    np.testing.assert_allclose(got, (np.random.randn(3, 5) * 0.4 * math.sqrt(2 / 8)).astype(np.float32))
    np.random.seed(1337)
    got = ndl.init.kaiming_uniform(3, 5).numpy()
    np.random.seed(1337)
    np.testing.assert_allclose(got, uniform((3, 5), math.sqrt(2) * math.sqrt(3 / 3)).astype(np.float32))
    np.random.seed(1337)
    got = ndl.init.kaiming_normal(3, 5).numpy()
    np.random.seed(1337)
    np.testing.assert_allclose(got, (np.random.randn(3, 5) * math.sqrt(2) / math.sqrt(3)).astype(np.float32))


def test_random_and_constant_tensors():
    got = ndl.init.rand(2, 3, low=-1.0, high=2.0).numpy()
    np.random.seed(1337)
    np.testing.assert_allclose(got, (np.random.rand(2, 3) * 3.0 - 1.0).astype(np.float32))
    np.random.seed(1337)
    got = ndl.init.randn(4, mean=1.0, std=2.0).numpy()
    np.random.seed(1337)
    np.testing.assert_allclose(got, (np.random.randn(4) * 2.0 + 1.0).astype(np.float32))
    np.random.seed(1337)
    got = ndl.init.randb(3, 4, p=0.3).numpy()
    np.random.seed(1337)
    np.testing.assert_array_equal(got, (np.random.rand(3, 4) <= 0.3).astype(np.float32))
    np.testing.assert_array_equal(ndl.init.constant(2, 3, c=4.5).numpy(), np.full((2, 3), 4.5))
    np.testing.assert_array_equal(ndl.init.ones(2).numpy(), np.ones(2))
    np.testing.assert_array_equal(ndl.init.zeros_like(ndl.Tensor(np.ones((2, 2)))).numpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(ndl.init.one_hot(4, ndl.Tensor([3, 0])).numpy(), np.eye(4)[[3, 0]])


# -- Linear and the simple modules (hw2's test_nn_linear_*, relu, sequential, residual, flatten) -----
def test_linear_initial_values_are_needles():
    layer = ndl.nn.Linear(7, 4)
    np.random.seed(1337)
    weight = uniform((7, 4), math.sqrt(2) * math.sqrt(3 / 7))
    bias = uniform((4, 1), math.sqrt(2) * math.sqrt(3 / 4)).reshape(1, 4)
    np.testing.assert_allclose(layer.weight.cached_data, weight.astype(np.float32))
    np.testing.assert_allclose(layer.bias.cached_data, bias.astype(np.float32))
    assert layer.weight.shape == (7, 4) and layer.bias.shape == (1, 4)
    assert ndl.nn.Linear(7, 4, bias=False).bias is None and len(ndl.nn.Linear(7, 4, bias=False).parameters()) == 1


def test_linear_forward_backward_with_a_bias_set_through_data():
    layer = ndl.nn.Linear(5, 3, dtype="float64")
    layer.bias.data = ndl.Tensor(np.random.randn(3))  # needle's tests set a (out,) bias this way
    x = np.random.randn(4, 5)
    out = layer(ndl.Tensor(x))
    np.testing.assert_allclose(out.numpy(), x @ layer.weight.numpy() + layer.bias.numpy(), rtol=1e-12)
    head = np.random.randn(4, 3)
    out.backward(ndl.Tensor(head))
    np.testing.assert_allclose(layer.weight.grad.numpy(), x.T @ head, rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad.numpy(), head.sum(0), rtol=1e-12)
    with_needle_bias = ndl.nn.Linear(5, 3, dtype="float64")
    out = with_needle_bias(ndl.Tensor(x))
    out.backward(ndl.Tensor(head))
    assert with_needle_bias.bias.grad.shape == (1, 3)
    np.testing.assert_allclose(with_needle_bias.bias.grad.numpy(), head.sum(0, keepdims=True), rtol=1e-12)


def test_sequential_relu_tanh_sigmoid_flatten_residual_identity():
    x = np.random.randn(4, 2, 3)
    first, second = ndl.nn.Linear(6, 5, dtype="float64"), ndl.nn.Linear(5, 6, dtype="float64")
    model = ndl.nn.Sequential(ndl.nn.Flatten(), ndl.nn.Residual(ndl.nn.Sequential(first, ndl.nn.ReLU(), second)),
                              ndl.nn.Tanh(), ndl.nn.Sigmoid(), ndl.nn.Identity())
    flat = x.reshape(4, 6)
    hidden = np.maximum(flat @ first.weight.numpy() + first.bias.numpy(), 0)
    want = 1 / (1 + np.exp(-np.tanh(hidden @ second.weight.numpy() + second.bias.numpy() + flat)))
    np.testing.assert_allclose(model(ndl.Tensor(x)).numpy(), want, rtol=1e-12)
    assert len(model.parameters()) == 4


def test_softmax_loss_value_and_gradient():
    z, y = np.random.randn(6, 5), np.random.randint(0, 5, 6)
    logits = ndl.Tensor(z)
    loss = ndl.nn.SoftmaxLoss()(logits, ndl.Tensor(y.astype(np.uint8)))
    shifted = np.exp(z - z.max(1, keepdims=True))
    want = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(6), y])
    np.testing.assert_allclose(loss.numpy(), want, rtol=1e-12)
    loss.backward()
    grad = (shifted / shifted.sum(1, keepdims=True) - np.eye(5)[y]) / 6
    np.testing.assert_allclose(logits.grad.numpy(), grad, rtol=1e-10, atol=1e-14)


def test_dropout_draws_needles_mask_and_is_the_identity_in_evaluation():
    x = np.random.randn(5, 6)
    layer = ndl.nn.Dropout(0.3)
    np.random.seed(4)
    out = layer(ndl.Tensor(x)).numpy()
    np.random.seed(4)
    mask = np.random.rand(5, 6) <= 0.7
    np.testing.assert_allclose(out, x * mask / 0.7, rtol=1e-12)
    layer.eval()
    np.testing.assert_array_equal(layer(ndl.Tensor(x)).numpy(), x)


def test_a_residual_block_with_layernorm_and_dropout_against_numpy():
    dim, hidden, p = 6, 4, 0.3
    first, second = ndl.nn.Linear(dim, hidden), ndl.nn.Linear(hidden, dim)
    block = ndl.nn.Sequential(ndl.nn.Residual(ndl.nn.Sequential(
        first, ndl.nn.LayerNorm1d(hidden), ndl.nn.ReLU(), ndl.nn.Dropout(p), second, ndl.nn.LayerNorm1d(dim))),
        ndl.nn.ReLU())
    x = np.random.randn(3, dim).astype(np.float32)
    np.random.seed(7)
    out = block(ndl.Tensor(x)).numpy()
    np.random.seed(7)
    keep = np.random.rand(3, hidden) <= 1 - p

    def norm(z):
        return (z - z.mean(1, keepdims=True)) / np.sqrt(z.var(1, keepdims=True) + 1e-5)

    z = np.maximum(norm(x @ first.weight.numpy() + first.bias.numpy()), 0) * keep / (1 - p)
    want = np.maximum(norm(z @ second.weight.numpy() + second.bias.numpy()) + x, 0)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    assert sum(np.prod(q.shape) for q in block.parameters()) == (dim + 1) * hidden + (hidden + 1) * dim + 2 * (
        hidden + dim)


# -- normalisation (hw2's test_nn_batchnorm_*, layernorm_*) -------------------------------------------
def test_layernorm1d_forward_and_backward():
    x = np.random.randn(4, 6)
    layer = ndl.nn.LayerNorm1d(6, eps=1e-5, dtype="float64")
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    np.testing.assert_allclose(layer(ndl.Tensor(x)).numpy(), (x - mean) / np.sqrt(var + 1e-5), rtol=1e-10)
    assert layer.weight.shape == (6,) and layer.bias.shape == (6,)
    gradient_check(lambda t: layer(t) * ndl.Tensor(np.arange(24.0).reshape(4, 6)), ndl.Tensor(x), tol=1e-5)


def test_batchnorm1d_training_statistics_and_evaluation():
    layer = ndl.nn.BatchNorm1d(3, momentum=0.1, dtype="float64")
    running_mean, running_var = np.zeros(3), np.ones(3)
    for _ in range(4):
        x = np.random.randn(5, 3) * 2 + 1
        out = layer(ndl.Tensor(x)).numpy()
        mean, var = x.mean(0), x.var(0)  # needle keeps the biased variance
        np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-10)
        running_mean, running_var = 0.9 * running_mean + 0.1 * mean, 0.9 * running_var + 0.1 * var
    np.testing.assert_allclose(layer.running_mean.numpy(), running_mean, rtol=1e-12)
    np.testing.assert_allclose(layer.running_var.cached_data, running_var, rtol=1e-12)
    layer.eval()
    x = np.random.randn(2, 3)
    np.testing.assert_allclose(layer(ndl.Tensor(x)).numpy(), (x - running_mean) / np.sqrt(running_var + 1e-5),
                               rtol=1e-10)
    layer.train()
    weights = ndl.Tensor(np.random.randn(5, 3))
    gradient_check(lambda t: layer(t) * weights, ndl.Tensor(np.random.randn(5, 3)), tol=1e-5)


def test_batchnorm2d_normalises_each_channel_of_nchw_images():
    x = np.random.randn(2, 3, 4, 5)
    layer = ndl.nn.BatchNorm2d(3, dtype="float64")
    mean, var = x.mean((0, 2, 3), keepdims=True), x.var((0, 2, 3), keepdims=True)
    np.testing.assert_allclose(layer(ndl.Tensor(x)).numpy(), (x - mean) / np.sqrt(var + 1e-5), rtol=1e-10)
    np.testing.assert_allclose(layer.running_mean.numpy(), 0.1 * mean.reshape(3), rtol=1e-12)


# -- needle's Conv layer (hw4's test_nn_conv_*) ---------------------------------------------------------
def test_conv_initial_values_and_shapes_are_needles():
    layer = ndl.nn.Conv(3, 4, 3)
    np.random.seed(1337)
    weight = uniform((3, 3, 3, 4), math.sqrt(2) * math.sqrt(3 / 27))
    bias = uniform((4,), 1 / math.sqrt(27))
    np.testing.assert_allclose(layer.weight.numpy(), weight.astype(np.float32))
    np.testing.assert_allclose(layer.bias.numpy(), bias.astype(np.float32))
    assert layer.padding == 1 and layer.stride == 1


@pytest.mark.parametrize(("in_channels", "out_channels", "kernel", "stride", "size"),
                         [(3, 4, 3, 1, 6), (2, 5, 3, 2, 7), (4, 2, 1, 1, 5), (3, 2, 5, 2, 9)])
def test_conv_forward_on_nchw_images(in_channels, out_channels, kernel, stride, size):
    layer = ndl.nn.Conv(in_channels, out_channels, kernel, stride=stride, dtype="float64")
    x = np.random.randn(2, in_channels, size, size)
    want = conv_reference(x.transpose(0, 2, 3, 1), layer.weight.numpy(), stride, kernel // 2)
    want = (want + layer.bias.numpy()).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(layer(ndl.Tensor(x)).numpy(), want, rtol=1e-10, atol=1e-10)


def test_conv_gradients_reach_the_image_weight_and_bias():
    layer = ndl.nn.Conv(2, 3, 3, stride=2, dtype="float64")
    x = ndl.Tensor(np.random.randn(1, 2, 5, 5))
    gradient_check(lambda t, w, b: layer(t), x, layer.weight, layer.bias, tol=1e-5)


def lstm_reference(x, h0, c0, weights, layers):
    """needle's LSTM in numpy: gates i, f, g, o from x @ W_ih + b_ih + h @ W_hh + b_hh."""
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    h, c, outs = h0.copy(), c0.copy(), []
    for step in x:
        for k in range(layers):
            w_ih, w_hh, b_ih, b_hh = weights[k]
            i, f, g, o = np.split(step @ w_ih + b_ih + h[k] @ w_hh + b_hh, 4, axis=1)
            c[k] = sigmoid(f) * c[k] + sigmoid(i) * np.tanh(g)
            h[k] = sigmoid(o) * np.tanh(c[k])
            step = h[k].copy()
        outs.append(step)
    return np.stack(outs), h, c


def test_lstm_with_weights_replaced_by_tensors_as_hw4_tests_do():
    seq, batch, size, hidden, layers = 4, 3, 5, 6, 2
    model = ndl.nn.LSTM(size, hidden, layers, dtype="float64")
    weights = []
    for cell in model.lstm_cells:
        arrays = [np.random.randn(*getattr(cell, name).shape) * 0.3 for name in ("W_ih", "W_hh", "bias_ih", "bias_hh")]
        for name, array in zip(("W_ih", "W_hh", "bias_ih", "bias_hh"), arrays):
            setattr(cell, name, ndl.Tensor(array))  # a plain Tensor: it requires grad by default
        weights.append(arrays)
    x, h0, c0 = np.random.randn(seq, batch, size), np.random.randn(layers, batch, hidden), np.random.randn(
        layers, batch, hidden)
    xt = ndl.Tensor(x)
    out, (h, c) = model(xt, (ndl.Tensor(h0), ndl.Tensor(c0)))
    want = lstm_reference(x, h0, c0, weights, layers)
    for got, expected in zip((out, h, c), want):
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)
    out.sum().backward()
    first = model.lstm_cells[0].W_ih
    assert first.grad.shape == first.shape and xt.grad.shape == x.shape
    direction, eps = np.random.randn(*first.shape), 1e-6
    moved = [[w + eps * direction if (k, n) == (0, 0) else w for n, w in enumerate(ws)] for k, ws in enumerate(weights)]
    back = [[w - eps * direction if (k, n) == (0, 0) else w for n, w in enumerate(ws)] for k, ws in enumerate(weights)]
    numeric = (lstm_reference(x, h0, c0, moved, layers)[0].sum() - lstm_reference(x, h0, c0, back, layers)[0].sum())
    np.testing.assert_allclose((first.grad.numpy() * direction).sum(), numeric / (2 * eps), rtol=1e-6)


# -- modules' bookkeeping and bad input --------------------------------------------------------------
def test_modules_take_keyword_arguments():
    x, h0 = np.random.randn(3, 2, 4), np.random.randn(1, 2, 5)
    rnn = ndl.nn.RNN(4, 5, dtype="float64")
    by_name, (by_position, _) = rnn(ndl.Tensor(x), h0=ndl.Tensor(h0)), rnn(ndl.Tensor(x), ndl.Tensor(h0))
    np.testing.assert_array_equal(by_name[0].numpy(), by_position.numpy())


def test_device_none_is_needles_default_device():
    layers = [ndl.nn.Linear(2, 3, device=None), ndl.nn.LayerNorm1d(3, device=None), ndl.nn.BatchNorm1d(3, device=None),
              ndl.nn.Conv(2, 3, 3, device=None), ndl.nn.LSTM(2, 3, device=None), ndl.nn.Embedding(4, 2, device=None)]
    assert {p.device for layer in layers for p in layer.parameters()} == {"cpu"}
    assert ndl.Tensor([1.0], device=None).device == ndl.cpu() == ndl.init.one_hot(3, [1, 2], device=None).device


def test_training_flags_reach_modules_in_lists_and_dicts():
    class Holder(ndl.nn.Module):
        def __init__(self):
            super().__init__()
            self.parts = {"first": ndl.nn.Linear(4, 4),
                          "rest": [ndl.nn.Dropout(0.1), ndl.nn.Sequential(ndl.nn.Linear(4, 4))]}

    model = ndl.nn.Sequential(ndl.nn.BatchNorm1d(4), ndl.nn.Sequential(ndl.nn.LayerNorm1d(4), ndl.nn.Dropout(0.1)),
                              Holder())
    inner = [model.modules[0], model.modules[1].modules[1], model.modules[2].parts["first"],
             model.modules[2].parts["rest"][0], model.modules[2].parts["rest"][1].modules[0]]
    assert len(model.modules) == 3 and all(m.training for m in inner)
    model.eval()
    assert not any(m.training for m in inner) and len(list(model.modules())) == 10
    model.train()
    assert all(m.training for m in inner) and len(model.parameters()) == 8


def test_in_place_updates_of_data_with_a_tensor():
    w0 = np.random.randn(3, 2)
    w = ndl.Tensor(w0.copy())
    (w * w).sum().backward()
    w.data -= 0.1 * w.grad  # needle's hw2 idiom
    np.testing.assert_allclose(w.numpy(), w0 - 0.2 * w0, rtol=1e-12)


def test_parameters_training_flags_and_children():
    model = ndl.nn.Sequential(ndl.nn.Linear(3, 4), ndl.nn.BatchNorm1d(4), ndl.nn.Dropout(0.5))
    assert all(isinstance(p, ndl.nn.Parameter) and p.requires_grad for p in model.parameters())
    assert len(model.parameters()) == 4
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


@pytest.mark.parametrize(("call", "message"), [
    (lambda: ndl.nn.Conv(3, 4, 0), r"Conv: kernel_size must be a positive integer, got 0"),
    (lambda: ndl.nn.Conv(3, 4, 3)(ndl.Tensor(np.ones((1, 2, 5, 5)))), r"should be \(N, 3, H, W\)"),
    (lambda: ndl.nn.Linear(3, 2)(ndl.Tensor(np.ones((2, 4)))), r"matmul: shapes \(2, 4\) and \(3, 2\)"),
    (lambda: ndl.nn.SoftmaxLoss()(ndl.Tensor(np.ones((2, 3))), ndl.Tensor(np.array([0, 3]))), r"label 3"),
    (lambda: ndl.init.kaiming_uniform(0, 3), r"init.kaiming_uniform: fan_in 0"),
    (lambda: ndl.nn.BatchNorm1d(3)(ndl.Tensor(np.ones((2, 4)))),
     r"BatchNorm1d: input of shape \(2, 4\) does not fit the layer's 3 features; give \(N, 3\)"),
    (lambda: ndl.nn.BatchNorm2d(3)(ndl.Tensor(np.ones((2, 3)))), r"BatchNorm2d: .* give \(N, 3, H, W\)"),
    (lambda: ndl.nn.LayerNorm1d(3)(ndl.Tensor(np.ones((2, 4)))), r"LayerNorm: input of shape \(2, 4\) does not end"),
    (lambda: ndl.optim.SGD(ndl.nn.Linear(2, 3)), r"SGD: give the module's parameters"),
    (lambda: ndl.optim.Adam(5), r"Adam: params must be a list of parameters"),
    (lambda: ndl.optim.SGD([np.ones(3)]), r"SGD: params\[0\] is a ndarray, not a Parameter"),
    (lambda: ndl.optim.SGD(ndl.nn.Linear(2, 3).parameters(), lr=-0.1), r"SGD: lr=-0.1 is outside >= 0"),
    (lambda: ndl.optim.SGD(ndl.nn.Linear(2, 3).parameters(), momentum=1.0), r"SGD: momentum=1.0 is outside \[0, 1\)"),
    (lambda: ndl.optim.Adam(ndl.nn.Linear(2, 3).parameters(), beta1=1.5), r"Adam: beta1=1.5 is outside"),
    (lambda: setattr(ndl.nn.Linear(2, 3).weight, "data", "abc"),
     r"Tensor.data: cannot assign a str; assign a Tensor or a numpy array \(Tensor\(value\) or np.asarray"),
    (lambda: ndl.nn.Linear(0, 3), r"Linear: in_features must be a positive integer, got 0"),
    (lambda: ndl.nn.Linear(3, -2), r"Linear: out_features must be a positive integer, got -2"),
    (lambda: ndl.nn.BatchNorm1d(0), r"BatchNorm1d: dim must be a positive integer, got 0"),
    (lambda: ndl.nn.LayerNorm1d(2.5), r"LayerNorm: dim must be a positive integer, got 2.5"),
    (lambda: ndl.nn.Embedding(0, 3), r"Embedding: num_embeddings must be a positive integer, got 0"),
    (lambda: ndl.nn.Conv2d(0, 2, 3), r"Conv2d: in_channels must be a positive integer, got 0"),
    (lambda: ndl.Tensor([[1.0, 2.0], [3.0]]), r"Tensor: cannot make an array of .*nested lists of one shape"),
    (lambda: ndl.Tensor(np.ones(2)) + "abc", r"Tensor: cannot make float64 values of 'abc'"),
])
def test_bad_input_is_refused_at_the_call(call, message):
    with pytest.raises((DefinitionError, ValueError), match=message):
        call()
