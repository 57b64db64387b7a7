"""Embedding, RNN and LSTM layers: values against numpy references of the same weights, gradients
of inputs and weights against finite differences, needle's signatures, and misuse errors."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import nn
from frontend.ops.gather import gather_rows
from tensorir.errors import DefinitionError

from .helpers import gradient_check


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_rnn(x, h0, cells, nonlinearity="tanh"):
    act = np.tanh if nonlinearity == "tanh" else (lambda v: np.maximum(v, 0))
    finals = []
    for k, cell in enumerate(cells):
        h, outs = h0[k], []
        for step in x:
            pre = step @ cell.W_ih.numpy() + h @ cell.W_hh.numpy()
            h = act(pre + cell.bias_ih.numpy() + cell.bias_hh.numpy() if cell.bias else pre)
            outs.append(h)
        x = np.stack(outs)
        finals.append(h)
    return x, np.stack(finals)


def numpy_lstm(x, h0, c0, cells):
    hs, cs = [], []
    for k, cell in enumerate(cells):
        h, c, outs = h0[k], c0[k], []
        for step in x:
            gates = step @ cell.W_ih.numpy() + h @ cell.W_hh.numpy()
            if cell.bias:
                gates = gates + cell.bias_ih.numpy() + cell.bias_hh.numpy()
            i, f, g, o = np.split(gates, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            outs.append(h)
        x = np.stack(outs)
        hs.append(h)
        cs.append(c)
    return x, np.stack(hs), np.stack(cs)


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def parameter_check(model, loss_fn, eps=1e-6, rtol=1e-5, seed=0):
    """Finite differences of ``loss_fn()`` along a random direction of each parameter of ``model``."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.grad = None
    loss_fn().backward()
    for name, p in model.named_parameters():
        direction = rng.standard_normal(p.shape)
        base = p.numpy()
        values = []
        for sign in (1.0, -1.0):
            p.data = base + sign * eps * direction
            with nf.no_grad():
                values.append(loss_fn().item())
        p.data = base
        numeric = (values[0] - values[1]) / (2 * eps)
        analytic = float((p.grad.numpy() * direction).sum())
        assert abs(numeric - analytic) <= rtol * max(1.0, abs(numeric)), (name, numeric, analytic)


def test_embedding(rng):
    emb = nn.Embedding(7, 3, dtype="float64", rng=rng)
    ids = np.array([[0, 6], [3, 3], [1, 0]])
    out = emb(nf.Tensor(ids))
    assert out.shape == (3, 2, 3)
    np.testing.assert_allclose(out.numpy(), emb.weight.numpy()[ids])
    adjoint = rng.standard_normal((3, 2, 3))
    out.backward(nf.Tensor(adjoint))
    want = np.zeros((7, 3))
    np.add.at(want, ids.reshape(-1), adjoint.reshape(-1, 3))
    np.testing.assert_allclose(emb.weight.grad.numpy(), want)


@pytest.mark.parametrize("dtype", ["int32", "float32"])
def test_embedding_of_ids_of_any_dtype_and_its_second_derivative(dtype, rng):
    ids = nf.Tensor(np.array([2, 0, 2, 4]).astype(dtype))
    gradient_check(lambda table: gather_rows(table, ids) ** 2, rng.standard_normal((5, 3)))


def test_second_derivative_of_a_lookup(rng):
    ids = nf.Tensor(np.array([3, 1, 3, 3, 0]))
    table = rng.standard_normal((5, 2))
    x = nf.Tensor(table, requires_grad=True)
    (gather_rows(x, ids) ** 3).sum().backward(create_graph=True)
    first = x.grad
    counts = np.bincount(ids.numpy(), minlength=5)[:, None]
    np.testing.assert_allclose(first.numpy(), 3 * counts * table ** 2, rtol=1e-10)
    x.grad = None
    (first * first).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 36 * counts ** 2 * table ** 3, rtol=1e-10)


def test_embedding_ids_out_of_range(rng):
    with pytest.raises(ValueError, match="gather_rows: label 9 \\(at position 1\\) is outside the 7 classes"):
        nn.Embedding(7, 3, rng=rng)(nf.Tensor(np.array([[1, 9]])))


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_rnn_matches_numpy(nonlinearity, num_layers, rng):
    model = nn.RNN(3, 4, num_layers, nonlinearity=nonlinearity, dtype="float64", rng=rng)
    x, h0 = rng.standard_normal((5, 2, 3)), rng.standard_normal((num_layers, 2, 4))
    out, h_n = model(nf.Tensor(x), nf.Tensor(h0))
    want_out, want_h = numpy_rnn(x, h0, model.rnn_cells, nonlinearity)
    np.testing.assert_allclose(out.numpy(), want_out, rtol=1e-10)
    np.testing.assert_allclose(h_n.numpy(), want_h, rtol=1e-10)
    gradient_check(lambda x, h: model(x, h)[0] * 1.0, x, h0)
    parameter_check(model, lambda: (model(nf.Tensor(x), nf.Tensor(h0))[1] ** 2).sum())


def test_rnn_cell_without_a_state_starts_from_zeros(rng):
    cell = nn.RNNCell(3, 4, dtype="float64", rng=rng)
    x = rng.standard_normal((2, 3))
    np.testing.assert_allclose(cell(nf.Tensor(x)).numpy(), numpy_rnn(x[None], np.zeros((1, 2, 4)), [cell])[0][0])


@pytest.mark.parametrize("num_layers, bias", [(1, True), (2, False)])
def test_lstm_matches_numpy(num_layers, bias, rng):
    model = nn.LSTM(3, 4, num_layers, bias=bias, dtype="float64", rng=rng)
    x = rng.standard_normal((4, 2, 3))
    h0, c0 = rng.standard_normal((num_layers, 2, 4)), rng.standard_normal((num_layers, 2, 4))
    out, (h_n, c_n) = model(nf.Tensor(x), (nf.Tensor(h0), nf.Tensor(c0)))
    want = numpy_lstm(x, h0, c0, model.lstm_cells)
    for got, expected in zip((out, h_n, c_n), want):
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    gradient_check(lambda x, h, c: model(x, (h, c))[0] * 1.0, x, h0, c0)
    parameter_check(model, lambda: (model(nf.Tensor(x), (nf.Tensor(h0), nf.Tensor(c0)))[1][1] ** 2).sum())


def test_lstm_batch_first_and_default_state(rng):
    model = nn.LSTM(3, 4, 2, dtype="float64", batch_first=True, rng=rng)
    x = rng.standard_normal((2, 5, 3))
    out, (h_n, c_n) = model(nf.Tensor(x))
    zeros = np.zeros((2, 2, 4))
    want = numpy_lstm(x.transpose(1, 0, 2), zeros, zeros, model.lstm_cells)
    np.testing.assert_allclose(out.numpy(), want[0].transpose(1, 0, 2), rtol=1e-10)
    np.testing.assert_allclose(c_n.numpy(), want[2], rtol=1e-10)


def test_sequential_over_embedding_lstm_and_linear(rng):
    model = nn.Sequential(nn.Embedding(6, 3, dtype="float64", rng=rng), nn.LSTM(3, 4, dtype="float64", rng=rng),
                          nn.Linear(4, 6, dtype="float64", rng=rng))
    ids = np.array([[1, 2], [5, 0], [3, 3]])
    logits = model(nf.Tensor(ids))
    embedded = model.modules_list[0].weight.numpy()[ids]
    zeros = np.zeros((1, 2, 4))
    hidden = numpy_lstm(embedded, zeros, zeros, model.modules_list[1].lstm_cells)[0]
    linear = model.modules_list[2]
    np.testing.assert_allclose(logits.numpy(), hidden @ linear.weight.numpy() + linear.bias.numpy(), rtol=1e-10)
    loss = nn.SoftmaxLoss()
    parameter_check(model, lambda: loss(model(nf.Tensor(ids)).reshape(6, 6), nf.Tensor(np.arange(6))))


def test_weights_follow_needle_shapes_and_range(rng):
    cell = nn.LSTMCell(5, 8, rng=rng)
    assert cell.W_ih.shape == (5, 32) and cell.W_hh.shape == (8, 32) and cell.bias_ih.shape == (32,)
    assert np.abs(cell.W_hh.numpy()).max() <= 1 / np.sqrt(8)
    assert len(nn.RNN(5, 8, 3).parameters()) == 12


def test_recurrent_misuse(rng):
    with pytest.raises(DefinitionError, match="RNNCell: nonlinearity 'gelu' is unknown; use 'tanh' or 'relu'"):
        nn.RNNCell(2, 3, nonlinearity="gelu")
    with pytest.raises(DefinitionError, match=r"LSTM: input of shape \(2, 3\) must be 3-D \(seq_len, batch, "):
        nn.LSTM(3, 4)(nf.Tensor(np.zeros((2, 3))))
    with pytest.raises(DefinitionError, match=r"RNNCell: input of shape \(2, 5\) does not fit input_size 3"):
        nn.RNN(3, 4)(nf.Tensor(np.zeros((1, 2, 5))))
    with pytest.raises(DefinitionError, match="RNN: num_layers must be a positive int, got 0"):
        nn.RNN(3, 4, num_layers=0)


def test_a_language_model_step_runs_without_numpy_math(monkeypatch, rng):
    from frontend import optim

    from .test_training import PATCHED

    model = nn.Sequential(nn.Embedding(6, 4, rng=rng), nn.LSTM(4, 4, 2, rng=rng), nn.Linear(4, 6, rng=rng))
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    ids, targets = nf.Tensor(np.array([[1, 2], [5, 0], [3, 3]])), nf.Tensor(np.arange(6))

    def step():
        loss = nn.SoftmaxLoss()(model(ids).reshape(6, 6), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    step()  # compiles every kernel (the compiler may use numpy)

    def forbidden(*args, **kwargs):
        raise AssertionError("frontend math ran in numpy")

    for name in PATCHED:
        monkeypatch.setattr(np, name, forbidden)
    loss = step()
    monkeypatch.undo()
    assert np.isfinite(loss)


# -- whole-layer ops (frontend/recurrent_layer.py) -------------------------------------------------
def _model(kind: str, num_layers: int, batch_first: bool, bias: bool, rng, hidden: int = 4):
    if kind == "lstm":
        return nn.LSTM(3, hidden, num_layers, bias=bias, dtype="float64", batch_first=batch_first, rng=rng)
    return nn.RNN(3, hidden, num_layers, bias=bias, nonlinearity=kind, dtype="float64", batch_first=batch_first,
                  rng=rng)


def _run_both(model, kind, x, state):
    """Outputs and every gradient of one loss, from the layer ops (fusion on) and step by step (off)."""
    from frontend import fusion

    results = []
    for on in (True, False):
        leaves = [nf.Tensor(x, requires_grad=True)] + [nf.Tensor(s, requires_grad=True) for s in state]
        for p in model.parameters():
            p.grad = None
        with fusion.fusion(on):
            given = None if not state else (tuple(leaves[1:]) if kind == "lstm" else leaves[1])
            out, finals = model(leaves[0], given)
            finals = finals if kind == "lstm" else (finals,)
            loss = (out * out).sum() + sum((f * f * f).sum() for f in finals)
            loss.backward()
        results.append([out.numpy(), *(f.numpy() for f in finals), *(t.grad.numpy() for t in leaves),
                        *(p.grad.numpy() for p in model.parameters())])
    return results


@pytest.mark.parametrize("kind", ["lstm", "tanh", "relu"])
@pytest.mark.parametrize("num_layers, batch_first, given, bias, hidden",
                         [(2, False, True, True, 4), (1, True, False, False, 4), (1, False, True, True, 16)])
def test_layer_ops_match_the_step_wise_graph(kind, num_layers, batch_first, given, bias, hidden, rng):
    """Values and gradients (input, initial states, every weight) of the one-op-per-layer path
    equal the step-wise graph's, and the outputs equal numpy's (hidden 16: the step products
    of the backward read a transposed copy of W_hh; hidden 4: W_hh itself, as dot products)."""
    model = _model(kind, num_layers, batch_first, bias, rng, hidden)
    x = rng.standard_normal((5, 2, 3))
    states = 2 if kind == "lstm" else 1
    state = [rng.standard_normal((num_layers, 5 if batch_first else 2, hidden))
             for _ in range(states)] if given else []
    layered, stepwise = _run_both(model, kind, x, state)
    assert len(layered) == len(stepwise) == 1 + states + 1 + len(state) + len(model.parameters())
    for got, want in zip(layered, stepwise):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    seq_first = x.transpose(1, 0, 2) if batch_first else x
    initial = state or [np.zeros((num_layers, seq_first.shape[1], hidden))] * states
    want = (numpy_lstm(seq_first, *initial, model.lstm_cells) if kind == "lstm"
            else numpy_rnn(seq_first, initial[0], model.rnn_cells, kind))
    out = want[0].transpose(1, 0, 2) if batch_first else want[0]
    np.testing.assert_allclose(layered[0], out, rtol=1e-10)
    for got, expected in zip(layered[1:1 + states], want[1:]):
        np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("kind", ["lstm", "relu"])
def test_layer_ops_gradients_against_finite_differences(kind, rng):
    model = _model(kind, 2, False, True, rng)
    x, h0 = rng.standard_normal((4, 3, 3)), rng.standard_normal((2, 3, 4))
    if kind == "lstm":
        c0 = rng.standard_normal((2, 3, 4))
        gradient_check(lambda x, h, c: model(x, (h, c))[1][1] * 1.0, x, h0, c0)
        gradient_check(lambda x, h, c: model(x, (h, c))[0] * 1.0, x, h0, c0)
        parameter_check(model, lambda: (model(nf.Tensor(x), (nf.Tensor(h0), nf.Tensor(c0)))[0] ** 2).sum())
    else:
        gradient_check(lambda x, h: model(x, h)[0] * 1.0, x, h0)
        parameter_check(model, lambda: (model(nf.Tensor(x), nf.Tensor(h0))[1] ** 2).sum())


@pytest.mark.parametrize("kind, hidden", [("lstm", 4), ("tanh", 4), ("lstm", 16)])
def test_layer_graph_is_one_node_per_layer_and_two_kernels_per_step(kind, hidden, rng):
    """The graph holds the same nodes whatever the sequence length; forward runs the input
    product, then per step h @ W_hh and the step kernel; backward the same two per step."""
    from frontend import dispatch
    from frontend.autograd import topological_order
    from frontend.recurrent_layer import LSTMLayer, RNNLayer

    model = _model(kind, 2, False, True, rng, hidden)
    counts = []
    for seq in (3, 6):
        x = nf.Tensor(rng.standard_normal((seq, 2, 3)), requires_grad=True)
        loss = (model(x)[0] * 1.0).sum()
        layers = [n for n in topological_order(loss) if isinstance(n.op, (LSTMLayer, RNNLayer))]
        assert len(layers) == 2
        counts.append(len(topological_order(loss)))
        dispatch.stats.reset()
        with nf.no_grad():  # as in backward (with grad on, the op differentiates its step-wise graph)
            layers[-1].op.gradient(nf.Tensor(np.ones(layers[-1].shape)), layers[-1])
        # W_hh transposed once (hidden 16; the dot products of hidden 4 read W_hh); per step a
        # kernel and a product with it (none for the first step: h0 needs no gradient); then the
        # product for the input, ONE for both weights ([x | h_prev]^T dpre), and the biases' sum
        assert dispatch.stats.calls == (hidden >= 16) + 2 * seq - 1 + 3
    assert counts[0] == counts[1]


def test_second_derivatives_through_a_layer_use_the_step_wise_graph(rng):
    """Under create_graph the layer op's gradient is the step-wise graph's, differentiable again:
    the second derivative equals that of the step-wise graph throughout."""
    from frontend import fusion

    model = _model("lstm", 1, False, True, rng)
    x = rng.standard_normal((3, 2, 3))
    found = []
    for on in (True, False):
        xt = nf.Tensor(x, requires_grad=True)
        with fusion.fusion(on):
            (first,) = nf.grad((model(xt)[0] ** 2).sum(), [xt], create_graph=True)
            (second,) = nf.grad((first * first).sum(), [xt])
        found.append((first.numpy(), second.numpy()))
    for got, want in zip(*found):
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_layer_state_misuse(rng):
    with pytest.raises(DefinitionError, match=r"LSTM: initial state of shape \(1, 2, 4\) does not fit; give "
                                              r"\(num_layers, batch, hidden_size\) = \(2, 2, 4\)"):
        nn.LSTM(3, 4, 2)(nf.Tensor(np.zeros((5, 2, 3), np.float32)), (nf.Tensor(np.zeros((1, 2, 4), np.float32)),) * 2)
    with pytest.raises(DefinitionError, match=r"RNNCell: input of shape \(2, 5\) does not fit input_size 3; "
                                              r"give \(batch, 3\)"):
        nn.RNN(3, 4)(nf.Tensor(np.zeros((1, 2, 5), np.float32)))


@pytest.mark.parametrize("kind", ["lstm", "relu"])
def test_layer_ops_of_one_step_and_one_sequence(kind, rng):
    model = _model(kind, 2, False, True, rng)
    for shape in ((1, 3, 3), (4, 1, 3)):
        layered, stepwise = _run_both(model, kind, rng.standard_normal(shape), [])
        for got, want in zip(layered, stepwise):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def _layer_and_stepwise_gradients(model, x, frozen):
    """Output and the gradients of x and of every trained parameter, from the layer ops (fusion
    on) and step by step (off); parameters named in ``frozen`` take no gradient."""
    from frontend import fusion

    params = [p for name, p in vars(model.lstm_cells[0]).items() if isinstance(p, nn.Parameter)]
    for p in params:
        p.requires_grad = all(p is not getattr(model.lstm_cells[0], name) for name in frozen)
    results = []
    for on in (True, False):
        xt = nf.Tensor(x, requires_grad=True)
        for p in params:
            p.grad = None
        with fusion.fusion(on):
            out, _ = model(xt)
            ((out * out).sum()).backward()
        results.append([out.numpy(), xt.grad.numpy(), *(p.grad.numpy() for p in params if p.requires_grad)])
    assert all(p.grad is None for p in params if not p.requires_grad)
    return results


@pytest.mark.parametrize("frozen", [(), ("W_ih",), ("W_hh",)])
def test_both_weight_gradients_of_one_product_with_the_operands_copied_plain(frozen, rng):
    """Input 48 + hidden 32 rows and 3 x 8 steps: ``[x | h_prev]^T`` is stored plain for the one
    product of both weights' gradients (either alone when the other is frozen); the batch of 32
    rows splits the step products over the threads. Equal to the step-wise graph's."""
    model = nn.LSTM(48, 32, dtype="float64", rng=rng)
    x = rng.standard_normal((3, 32, 48))
    layered, stepwise = _layer_and_stepwise_gradients(model, x, frozen)
    assert len(layered) == 6 - len(frozen)
    for got, want in zip(layered, stepwise):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    want = numpy_lstm(x, np.zeros((1, 32, 32)), np.zeros((1, 32, 32)), model.lstm_cells)
    np.testing.assert_allclose(layered[0], want[0], rtol=1e-9)


def test_step_products_share_their_rows_among_the_threads(monkeypatch):
    """A step's product of 32 rows runs 16 rows per thread on two threads, 32 on one; a product
    of 8 rows (one register tile) stays whole."""
    from frontend import recurrent_layer
    from frontend.recurrent_layer import LayerMatMul

    op = LayerMatMul()

    def config(rows, threads):
        monkeypatch.setattr(recurrent_layer, "thread_count", lambda: threads)
        a, b = np.zeros((rows, 128), np.float32), np.zeros((128, 512), np.float32)
        found = op.default_config(op.request([a, b], "cpu", (False, False)))
        return found["b1"], found["parallel"], found["pack_b"]

    assert config(32, 2) == (16, True, False)
    assert config(32, 1) == (32, False, False)
    assert config(8, 2) == (8, False, False)
    assert config(30, 4) == (8, True, False)
