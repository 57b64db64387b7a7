"""Recurrent cells written as TVM's scan unit tests write them: a gated cell reading its input
one step behind (``X[t - 1]`` listed in ``inputs=``), the refusal when it is not listed, and
TVM's LSTM cell whose two updates both read the cell state; each checked against numpy."""

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def _gated_cell(steps, batch, nin, hid, gates):
    """TVM's LSTM test's pattern: the input read one step behind, products over a gate axis."""
    X = te.placeholder((steps - 1, batch, nin), name="X")
    W, U = te.placeholder((gates, hid, nin), name="W"), te.placeholder((gates, hid, hid), name="U")
    h = te.placeholder((steps, batch, hid), name="h")
    k, r = te.reduce_axis((0, nin), name="k"), te.reduce_axis((0, hid), name="r")
    xw = te.compute((steps, gates, batch, hid), lambda t, g, i, j: te.sum(X[t - 1, i, k] * W[g, j, k], axis=k),
                    name="xw")
    hu = te.compute((steps, gates, batch, hid), lambda t, g, i, j: te.sum(h[t - 1, i, r] * U[g, j, r], axis=r),
                    name="hu")
    return X, W, U, h, xw, hu


def test_a_gated_recurrent_cell_reading_its_input_one_step_behind():
    steps, batch, nin, hid = 6, 2, 5, 4
    X, W, U, h, xw, hu = _gated_cell(steps, batch, nin, hid, 2)
    init = te.compute((1, batch, hid), lambda *i: 0.0, name="init")
    gate = te.compute((steps, 2, batch, hid), lambda *i: xw(*i) + hu(*i), name="gate")
    update = te.compute((steps, batch, hid), lambda t, i, j: te.sigmoid(gate[t, 0, i, j]) * te.tanh(gate[t, 1, i, j]),
                        name="update")
    H = te.scan(init, update, h, inputs=[X], name="rnn")
    s = te.create_schedule(H.op)
    s[gate].compute_inline()
    rng = np.random.default_rng(15)
    x, w, u = uniform(rng, X.shape), uniform(rng, W.shape), uniform(rng, U.shape)
    out = empty((steps, batch, hid), "float32")
    tvm.build(s, [X, W, U, H])(x, w, u, out)
    want = np.zeros((steps, batch, hid))
    for t in range(1, steps):
        a = np.einsum("ik,gjk->gij", x[t - 1], w) + np.einsum("ir,gjr->gij", want[t - 1], u)
        want[t] = np.tanh(a[1]) / (1 + np.exp(-a[0]))
    close(out, want, rtol=1e-5, atol=1e-6)


def test_an_input_read_one_step_behind_must_be_listed_among_the_scan_inputs():
    X, W, U, h, xw, hu = _gated_cell(4, 1, 3, 2, 1)
    init = te.compute((1, 1, 2), lambda *i: 0.0, name="init")
    update = te.compute((4, 1, 2), lambda t, i, j: xw[t, 0, i, j] + hu[t, 0, i, j], name="update")
    with pytest.raises(te.DefinitionError, match=r"scan: the step of update reads X at an earlier step "
                       r"\(X\[t - 1, i, k\]\).*or list X in the scan's inputs= if it is an input read one step "
                       r"behind\)"):
        te.scan(init, update, h)


def test_an_lstm_cell_whose_cell_state_both_updates_read():
    steps, batch, nin, hid = 5, 2, 3, 4
    X, W, U, h, xw, hu = _gated_cell(steps, batch, nin, hid, 4)
    c = te.placeholder((steps, batch, hid), name="c")
    zeros = [te.compute((1, batch, hid), lambda *i: 0.0, name=f"init_{n}") for n in "hc"]
    gates = te.compute(xw.shape, lambda *i: xw(*i) + hu(*i), name="gates")
    shape = (steps, batch, hid)
    in_gate = te.compute(shape, lambda t, i, j: te.sigmoid(gates[t, 0, i, j]), name="in_gate")
    in_transform = te.compute(shape, lambda t, i, j: te.tanh(gates[t, 1, i, j]), name="in_transform")
    forget_gate = te.compute(shape, lambda t, i, j: te.sigmoid(gates[t, 2, i, j]), name="forget_gate")
    out_gate = te.compute(shape, lambda t, i, j: te.sigmoid(gates[t, 3, i, j]), name="out_gate")
    next_c = te.compute(shape, lambda t, i, j: forget_gate[t, i, j] * c[t - 1, i, j]
                        + in_gate[t, i, j] * in_transform[t, i, j], name="next_c")
    next_h = te.compute(shape, lambda t, i, j: out_gate[t, i, j] * te.tanh(next_c[t, i, j]), name="next_h")
    update_c = te.compute(shape, lambda *i: next_c(*i), name="update_c")
    update_h = te.compute(shape, lambda *i: next_h(*i), name="update_h")
    scan_h, scan_c = te.scan(zeros, [update_h, update_c], [h, c], inputs=[X], name="lstm")
    s = te.create_schedule(scan_h.op)
    for stage in (gates, in_gate, in_transform, forget_gate, out_gate):
        s[stage].compute_inline()
    rng = np.random.default_rng(16)
    x = uniform(rng, X.shape)
    w, u = uniform(rng, W.shape, low=-0.5, high=0.5), uniform(rng, U.shape, low=-0.5, high=0.5)
    got_h, got_c = empty(shape, "float32"), empty(shape, "float32")
    tvm.build(s, [X, W, U, scan_h, scan_c])(x, w, u, got_h, got_c)
    want_h, want_c = np.zeros(shape), np.zeros(shape)
    for t in range(1, steps):
        a = np.einsum("ik,gjk->gij", x[t - 1], w) + np.einsum("ir,gjr->gij", want_h[t - 1], u)
        sig = 1 / (1 + np.exp(-a))
        want_c[t] = sig[2] * want_c[t - 1] + sig[0] * np.tanh(a[1])
        want_h[t] = sig[3] * np.tanh(want_c[t])
    close(got_h, want_h, rtol=1e-5, atol=1e-6)
    close(got_c, want_c, rtol=1e-5, atol=1e-6)
