"""The fused LSTM cell (frontend/fusion_lstm.py): values against a numpy LSTM, gradients against
finite differences and the unfused cell, second derivatives, and kernel counts."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch, fusion, nn
from frontend.fusion_lstm import lstm_cell, unfused_cell
from tensorir.errors import DefinitionError

from .helpers import gradient_check


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _numpy_cell(xw, hw, bias_ih, bias_hh, c):
    i, f, g, o = np.split(xw + hw + bias_ih + bias_hh, 4, axis=1)
    cell = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(cell), cell


def _operands(seed=0, batch=3, hidden=5):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in
            ((batch, 4 * hidden), (batch, 4 * hidden), (4 * hidden,), (4 * hidden,), (batch, hidden))]


def test_cell_values_match_numpy():
    arrays = _operands()
    h, c = lstm_cell(*[nf.Tensor(a) for a in arrays])
    want_h, want_c = _numpy_cell(*arrays)
    np.testing.assert_allclose(h.numpy(), want_h, rtol=1e-12)
    np.testing.assert_allclose(c.numpy(), want_c, rtol=1e-12)


def test_cell_gradients_finite_differences():
    gradient_check(lambda *t: lstm_cell(*t)[0], *_operands(1))
    gradient_check(lambda *t: lstm_cell(*t)[1], *_operands(2))

    def both(*t):
        h, c = lstm_cell(*t)
        return h * c

    gradient_check(both, *_operands(3))


def test_cell_second_derivative_matches_unfused():
    arrays = _operands(4)
    found = []
    for cell in (lstm_cell, lambda *t: (unfused_cell(*t)[0], unfused_cell(*t)[1])):
        tensors = [nf.Tensor(a, requires_grad=True) for a in arrays]
        h, c = cell(*tensors)
        first = nf.grad((h * c).sum(), tensors, create_graph=True)
        ((first[0] * first[1]).sum() + (first[4] * first[2][:5]).sum()).backward()
        found.append([t.grad.numpy() for t in tensors])
    for fused, plain in zip(*found):
        np.testing.assert_allclose(fused, plain, rtol=1e-9, atol=1e-12)


def _lstm_step(on: bool, x):
    model = nn.LSTM(4, 6, num_layers=2, dtype="float64", rng=np.random.default_rng(1))
    with fusion.fusion(on):
        xt = nf.Tensor(x, requires_grad=True)
        dispatch.stats.reset()
        out, (h, c) = model(xt)
        forward = dispatch.stats.calls
        ((out * out).sum() + (c * c).sum()).backward()
    return [out.numpy(), xt.grad.numpy()] + [p.grad.numpy() for p in model.parameters()], forward, \
        dispatch.stats.calls - forward


def test_lstm_layer_fused_matches_unfused_in_fewer_kernels():
    x = np.random.default_rng(5).standard_normal((5, 3, 4))
    plain, plain_forward, plain_backward = _lstm_step(False, x)
    fused, fused_forward, fused_backward = _lstm_step(True, x)
    for mine, theirs in zip(fused, plain):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-13)
    # fused, each layer is one op (frontend/recurrent_layer.py): the input product of all 5 steps,
    # then per step h @ W_hh and the step kernel: 2 x (1 + 5 x 2) + the two final-state stacks
    # (unfused, per step and layer 2 products, the adds and the cell's 9 elementwise kernels)
    assert (fused_forward, plain_forward) == (24, 183)
    assert fused_backward < plain_backward / 2


def test_misfitting_shapes_are_refused():
    xw, hw, bias_ih, bias_hh, c = (nf.Tensor(a) for a in _operands())
    with pytest.raises(DefinitionError, match=r"lstm_cell: shapes xw \(3, 20\), hw \(3, 20\), bias_ih \(20,\), "
                                              r"bias_hh \(20,\), c \(3, 4\) do not fit; c must be \(batch, hidden\)"):
        lstm_cell(xw, hw, bias_ih, bias_hh, nf.Tensor(np.ones((3, 4))))
    with pytest.raises(DefinitionError, match=r"lstm_cell: .* c \(5,\) do not fit"):
        lstm_cell(xw, hw, bias_ih, bias_hh, nf.Tensor(np.ones(5)))
