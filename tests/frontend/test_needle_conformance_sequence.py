"""needle's hw4 sequence-model tests (test_sequence_models.py) as conformance programs, through
the shim: RNNCell, LSTMCell, RNN and LSTM with their weights replaced by tensors (as the tests
copy torch's into them), with and without biases and an initial state, against numpy
reimplementations of the recurrences; the weights' gradients against central differences."""

from __future__ import annotations

import numpy as np
import pytest

from .needle_shim import ndl

nn = ndl.nn


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def rnn_step(x, h, w, nonlinearity):
    z = x @ w["W_ih"] + h @ w["W_hh"] + w.get("bias_ih", 0) + w.get("bias_hh", 0)
    return np.tanh(z) if nonlinearity == "tanh" else np.maximum(z, 0)


def lstm_step(x, h, c, w):
    z = x @ w["W_ih"] + h @ w["W_hh"] + w.get("bias_ih", 0) + w.get("bias_hh", 0)
    i, f, g, o = np.split(z, 4, axis=1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def weights(cell, input_size, hidden_size, gates, bias, dtype):
    """Draw a cell's weights in numpy and put them into ``cell`` as plain tensors (needle's tests
    copy torch's weights in this way); returns them."""
    w = {"W_ih": np.random.randn(input_size, gates * hidden_size), "W_hh": np.random.randn(hidden_size,
                                                                                           gates * hidden_size)}
    if bias:
        w.update(bias_ih=np.random.randn(gates * hidden_size), bias_hh=np.random.randn(gates * hidden_size))
    w = {k: v.astype(dtype) * 0.5 for k, v in w.items()}
    for name, value in w.items():
        setattr(cell, name, ndl.Tensor(value, device=ndl.cpu()))
    return w


def central_difference(loss, tensor, eps=1e-6):
    stored = tensor.realize_cached_data()
    slopes = np.zeros(stored.shape)
    for index in np.ndindex(stored.shape):
        original = float(stored[index])
        stored[index] = original + eps
        above = loss()
        stored[index] = original - eps
        below = loss()
        stored[index] = original
        slopes[index] = (above - below) / (2 * eps)
    return slopes


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(3)


CASES = [(1, 1, True, False), (4, 3, False, True), (4, 3, True, True)]  # (batch, hidden, bias, initial state)


@pytest.mark.parametrize(("batch_size", "hidden_size", "bias", "init_hidden"), CASES)
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell(batch_size, hidden_size, bias, init_hidden, nonlinearity):
    x, h0 = np.random.randn(batch_size, 2).astype(np.float32), np.random.randn(batch_size, hidden_size)
    cell = nn.RNNCell(2, hidden_size, device=ndl.cpu(), bias=bias, nonlinearity=nonlinearity)
    w = weights(cell, 2, hidden_size, 1, bias, np.float32)
    h = cell(ndl.Tensor(x, device=ndl.cpu()), ndl.Tensor(h0.astype(np.float32)) if init_hidden else None)
    assert h.device == ndl.cpu()
    want = rnn_step(x, h0 if init_hidden else np.zeros_like(h0), w, nonlinearity)
    np.testing.assert_allclose(h.numpy(), want, atol=1e-5, rtol=1e-5)
    h.sum().backward()
    z_slope = (1 - want ** 2) if nonlinearity == "tanh" else (want > 0).astype(np.float64)
    np.testing.assert_allclose(cell.W_ih.grad.numpy(), x.T @ z_slope, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("batch_size", "hidden_size", "bias", "init_hidden"), CASES)
def test_lstm_cell(batch_size, hidden_size, bias, init_hidden):
    x = np.random.randn(batch_size, 2)
    h0, c0 = np.random.randn(batch_size, hidden_size), np.random.randn(batch_size, hidden_size)
    cell = nn.LSTMCell(2, hidden_size, device=ndl.cpu(), bias=bias, dtype="float64")
    w = weights(cell, 2, hidden_size, 4, bias, np.float64)
    state = (ndl.Tensor(h0), ndl.Tensor(c0)) if init_hidden else None
    h, c = cell(ndl.Tensor(x), state)
    want_h, want_c = lstm_step(x, *((h0, c0) if init_hidden else (0 * h0, 0 * c0)), w)
    np.testing.assert_allclose(h.numpy(), want_h, atol=1e-10)
    np.testing.assert_allclose(c.numpy(), want_c, atol=1e-10)
    h.sum().backward()
    numeric = central_difference(lambda: float(cell(ndl.Tensor(x), state)[0].numpy().sum()), cell.W_ih)
    np.testing.assert_allclose(cell.W_ih.grad.detach().numpy(), numeric, atol=1e-6)


def run_layers(x, h0, layers, step):
    """A stack of recurrent layers over ``x`` (seq, batch, input) in numpy: the outputs of the last
    layer and each layer's final state."""
    finals = []
    for k, w in enumerate(layers):
        state = h0[k]
        outputs = []
        for t in range(x.shape[0]):
            state = step(x[t], state, w)
            outputs.append(state[0] if isinstance(state, tuple) else state)
        finals.append(state)
        x = np.stack(outputs)
    return x, finals


@pytest.mark.parametrize(("seq_length", "num_layers"), [(1, 1), (4, 2)])
@pytest.mark.parametrize(("bias", "init_hidden"), [(True, True), (False, False)])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn(seq_length, num_layers, bias, init_hidden, nonlinearity):
    x, h0 = np.random.randn(seq_length, 3, 2), np.random.randn(num_layers, 3, 4)
    model = nn.RNN(2, 4, num_layers, bias, device=ndl.cpu(), nonlinearity=nonlinearity, dtype="float64")
    layers = [weights(model.rnn_cells[k], 2 if k == 0 else 4, 4, 1, bias, np.float64) for k in range(num_layers)]
    start = h0 if init_hidden else np.zeros_like(h0)

    def run():
        return model(ndl.Tensor(x), ndl.Tensor(h0) if init_hidden else None)

    output, h = run()
    want, finals = run_layers(x, start, layers, lambda xt, s, w: rnn_step(xt, s, w, nonlinearity))
    np.testing.assert_allclose(output.numpy(), want, atol=1e-10)
    np.testing.assert_allclose(h.numpy(), np.stack(finals), atol=1e-10)
    output.sum().backward()
    numeric = central_difference(lambda: float(run()[0].numpy().sum()), model.rnn_cells[0].W_ih)
    np.testing.assert_allclose(model.rnn_cells[0].W_ih.grad.detach().numpy(), numeric, atol=1e-6)


@pytest.mark.parametrize(("seq_length", "num_layers"), [(1, 1), (4, 2)])
@pytest.mark.parametrize(("bias", "init_hidden"), [(True, True), (False, False)])
def test_lstm(seq_length, num_layers, bias, init_hidden):
    x = np.random.randn(seq_length, 3, 2)
    h0, c0 = np.random.randn(num_layers, 3, 4), np.random.randn(num_layers, 3, 4)
    model = nn.LSTM(2, 4, num_layers, bias, device=ndl.cpu(), dtype="float64")
    layers = [weights(model.lstm_cells[k], 2 if k == 0 else 4, 4, 4, bias, np.float64) for k in range(num_layers)]
    start = list(zip(h0, c0)) if init_hidden else [(np.zeros((3, 4)), np.zeros((3, 4)))] * num_layers

    def run():
        return model(ndl.Tensor(x), (ndl.Tensor(h0), ndl.Tensor(c0)) if init_hidden else None)

    output, (h, c) = run()
    want, finals = run_layers(x, start, layers, lambda xt, s, w: lstm_step(xt, *s, w))
    np.testing.assert_allclose(output.numpy(), want, atol=1e-10)
    np.testing.assert_allclose(h.numpy(), np.stack([f[0] for f in finals]), atol=1e-10)
    np.testing.assert_allclose(c.numpy(), np.stack([f[1] for f in finals]), atol=1e-10)
    output.sum().backward()
    numeric = central_difference(lambda: float(run()[0].numpy().sum()), model.lstm_cells[0].W_ih)
    np.testing.assert_allclose(model.lstm_cells[0].W_ih.grad.detach().numpy(), numeric, atol=1e-6)


@pytest.mark.parametrize("seq_model", ["rnn", "lstm"])
@pytest.mark.parametrize("init_hidden", [True, False])
def test_language_model_implementation(seq_model, init_hidden):
    from .test_needle_conformance_apps import LanguageModel

    seq_length, num_layers, batch_size, hidden_size, output_size = 3, 2, 2, 4, 11
    x = np.random.randint(0, output_size, (seq_length, batch_size)).astype(np.float32)
    h0 = ndl.Tensor(np.random.randn(num_layers, batch_size, hidden_size).astype(np.float32), device=ndl.cpu())
    c0 = ndl.Tensor(np.random.randn(num_layers, batch_size, hidden_size).astype(np.float32), device=ndl.cpu())
    model = LanguageModel(5, output_size, hidden_size, num_layers, seq_model, device=ndl.cpu())
    state = ((h0, c0) if seq_model == "lstm" else h0) if init_hidden else None
    output, h = model(ndl.Tensor(x, device=ndl.cpu()), state)
    if seq_model == "lstm":
        assert isinstance(h, tuple) and h[1].shape == (num_layers, batch_size, hidden_size)
        h = h[0]
    assert h.shape == (num_layers, batch_size, hidden_size)
    assert output.shape == (batch_size * seq_length, output_size)
    output.backward()  # a non-scalar output: needle's adjoint of ones
    for parameter in model.parameters():
        assert parameter.grad is not None and parameter.grad.shape == parameter.shape
    embedding_grad = model.embedding.weight.grad.numpy()
    unused = sorted(set(range(output_size)) - set(x.astype(int).ravel().tolist()))
    assert not embedding_grad[unused].any()  # only the rows the ids picked get a gradient
