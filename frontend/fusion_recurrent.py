"""The per-step kernels of the whole-layer recurrent ops (:mod:`frontend.recurrent_layer`).

A layer computes the input products ``x_t @ W_ih`` of every step in one matmul; what is left per
step is ``h @ W_hh`` and one of these kernels. Forward, the step keeps what its backward needs:

- :class:`LSTMStep`: ``h'`` and ``c'`` (as :class:`~frontend.fusion_lstm.LSTMCellOp`) and the
  gates' activations ``(batch, 4, hidden)`` and ``tanh(c')``;
- :class:`RNNStep`: ``h' = act(xw + hw + bias_ih + bias_hh)`` (``tanh`` or ``relu``), which is
  all its backward needs.

Backward through time, one kernel per step turns the adjoints reaching a step into the
adjoint of its pre-activations (and, for the LSTM, of the state ``c`` before it):

- :class:`LSTMStepBackward`: inputs ``(g_out, g_next, g_c, act, tanh_c, c)``: the adjoint of the
  step's output ``h'``, the one coming back from the next step through ``W_hh``, the adjoint of
  ``c'``, the saved activations and ``tanh(c')``, the state before the step; outputs ``dpre``
  and ``dc``;
- :class:`RNNStepBackward`: inputs ``(g_out, g_next, h')``; output ``dpre``.
"""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.tensor import compute

from .fusion_lstm import _activations, _cell, _every_stage, tanh_by_sigmoid
from .ops import elementwise as ew
from .ops.base import Op


class LSTMStep(Op):
    """Inputs ``(xw, hw, bias_ih, bias_hh, c)``; outputs ``h'``, ``c'``, the activations ``(batch,
    4, hidden)`` and ``tanh(c')``, the last two for the backward (which then evaluates no
    transcendental function). ``tanh`` is ``2 sigmoid(2x) - 1`` throughout, as in
    :class:`~frontend.fusion_lstm.LSTMCellOp`."""

    name = "lstm_step"

    def compute(self, request, xw, hw, bias_ih, bias_hh, c):
        hidden = c.shape[1]
        act = _activations(xw, hw, bias_ih, bias_hh, hidden)
        cell = _cell(act, c)
        tanh_c = compute(c.shape, lambda b, j: tanh_by_sigmoid(cell[b, j]), name="tanh_c")
        h = compute(c.shape, lambda b, j: act[b, 3, j] * tanh_c[b, j], name="h")
        return h, cell, act, tanh_c

    def schedule(self, request, s, outputs, config):
        _every_stage(s, config)


class LSTMStepBackward(Op):
    """Inputs ``(g_out, g_next, g_c, act, tanh_c, c)``, each ``(batch, hidden)`` but ``act``
    ``(batch, 4, hidden)``; ``tanh_c`` is ``tanh(c')`` and ``c`` the state before the step;
    outputs the pre-activations' adjoint ``(batch, 4, hidden)`` and ``c``'s."""

    name = "lstm_step_backward"

    def compute(self, request, g_out, g_next, g_c, act, tanh_c, c):
        g_h = compute(c.shape, lambda b, j: g_out[b, j] + g_next[b, j], name="g_h")
        total_c = compute(c.shape, lambda b, j: g_c[b, j] + g_h[b, j] * act[b, 3, j]
                          * (1.0 - tanh_c[b, j] * tanh_c[b, j]), name="total_c")
        dc = compute(c.shape, lambda b, j: total_c[b, j] * act[b, 1, j], name="dc")

        def dpre_body(b, gate, j):
            m = [ew.mask(gate == k, c.dtype) for k in range(4)]
            # the adjoint of the gate's activation: i -> g_c g, f -> g_c c, g -> g_c i, o -> g_h tanh(c')
            partner = m[0] * act[b, 2, j] + m[1] * c[b, j] + m[2] * act[b, 0, j]
            adjoint = (1.0 - m[3]) * total_c[b, j] * partner + m[3] * g_h[b, j] * tanh_c[b, j]
            a, k = act[b, gate, j], 1.0 + m[2]
            return adjoint * (a + k - 1.0) * (1.0 - a)  # the activation's slope: a(1-a), or 1-a^2 for tanh

        return compute(act.shape, dpre_body, name="dpre"), dc

    def schedule(self, request, s, outputs, config):
        _every_stage(s, config)


class RNNStep(Op):
    """Inputs ``(xw, hw, bias_ih, bias_hh)``; output ``act(xw + hw + (bias_ih + bias_hh))``."""

    name = "rnn_step"

    def __init__(self, nonlinearity: str):
        self.nonlinearity = nonlinearity
        self.key = (self.name, nonlinearity)

    def compute(self, request, xw, hw, bias_ih, bias_hh):
        act = tanh_by_sigmoid if self.nonlinearity == "tanh" else (lambda v: fn.maximum(v, 0.0))

        def body(b, j):
            return act((xw[b, j] + hw[b, j]) + (bias_ih[j] + bias_hh[j]))

        return compute(xw.shape, body, name="h")


class RNNStepBackward(Op):
    """Inputs ``(g_out, g_next, h')``; output ``(g_out + g_next)`` times the activation's slope
    at ``h'``: ``1 - h'^2`` for tanh, ``h' > 0`` for relu."""

    name = "rnn_step_backward"

    def __init__(self, nonlinearity: str):
        self.nonlinearity = nonlinearity
        self.key = (self.name, nonlinearity)

    def compute(self, request, g_out, g_next, h):
        def slope(v):
            return 1.0 - v * v if self.nonlinearity == "tanh" else ew.mask(v > 0.0, h.dtype)

        return compute(h.shape, lambda b, j: (g_out[b, j] + g_next[b, j]) * slope(h[b, j]), name="dpre")
