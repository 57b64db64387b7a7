"""The LSTM cell's elementwise work fused: one kernel forward, one backward, per step.

From the two products ``xw = x @ W_ih`` and ``hw = h @ W_hh`` (``(batch, 4 * hidden)``, gates
``i, f, g, o`` side by side), the biases and the cell state ``c``, :class:`LSTMCellOp` computes
``pre = xw + hw + bias_ih + bias_hh``, ``c' = sigmoid(f) * c + sigmoid(i) * tanh(g)`` and ``h' =
sigmoid(o) * tanh(c')`` in one kernel whose output stacks ``(h', c')`` as ``(2, batch, hidden)``
(the cell reads both as views). Unfused, that is a dozen kernels (three adds, three sigmoids,
two tanhs, three multiplies, an add). :class:`LSTMCellBackward` computes the adjoints of the
gates' pre-activations, of ``c`` and of the biases (summed over the batch) in one kernel with
three outputs. Under ``create_graph=True`` the gradient is built from the unfused ops instead, so
it can be differentiated again.
"""

from __future__ import annotations

from schedules.templates.generic_cpu import generic
from tensorir import functions as fn
from tensorir.tensor import compute, reduce_axis

from . import dispatch
from .ops import elementwise as ew
from .ops.base import Op, contiguous
from .ops.shape import getitem, reshape, split, stack
from .tensor import Tensor, grad, is_grad_enabled


class _Gates:
    """The pre-activations and activations of the four gates at ``(b, j)``, as expressions."""

    def __init__(self, xw, hw, bias_ih, bias_hh, hidden: int, b, j):
        def pre(gate):
            col = gate * hidden + j
            return xw[b, col] + hw[b, col] + bias_ih[col] + bias_hh[col]

        self.i, self.f, self.o = fn.sigmoid(pre(0)), fn.sigmoid(pre(1)), fn.sigmoid(pre(3))
        self.g = fn.tanh(pre(2))

    def cell(self, c):
        return self.f * c + self.i * self.g


class LSTMCellOp(Op):
    """Inputs ``(xw, hw, bias_ih, bias_hh, c)``; output ``stack([h', c'])``."""

    name = "lstm_cell"

    def compute(self, request, xw, hw, bias_ih, bias_hh, c):
        batch, hidden = c.shape

        def body(s, b, j):
            gates = _Gates(xw, hw, bias_ih, bias_hh, hidden, b, j)
            cell = gates.cell(c[b, j])
            return fn.if_then_else(s == 0, gates.o * fn.tanh(cell), cell)

        return compute((2, batch, hidden), body, name="state")

    def gradient(self, g, node):
        if is_grad_enabled():  # create_graph: the unfused ops, differentiable again
            return _unfused_gradient(g, node)
        xw, hw, bias_ih, bias_hh, c = node.inputs
        arrays = [contiguous(t.data, c.device) for t in (g, xw, hw, bias_ih, bias_hh, c)]
        dpre, dc, dbias = (Tensor.wrap(a, c.device) for a in dispatch.run(LSTMCellBackward(), arrays, c.device))
        dpre, dbias = reshape(dpre, xw.shape), reshape(dbias, bias_ih.shape)
        return tuple(partial if t.requires_grad else None
                     for partial, t in zip((dpre, dpre, dbias, dbias, dc), node.inputs))


def _adjoints(g, xw, hw, bias_ih, bias_hh, c, b, j):
    """The adjoints ``(d_i, d_f, d_g, d_o, d_c)`` of the gates' pre-activations and of ``c``."""
    hidden = c.shape[1]
    gates = _Gates(xw, hw, bias_ih, bias_hh, hidden, b, j)
    t = fn.tanh(gates.cell(c[b, j]))
    g_h = g[0, b, j]
    g_c = g[1, b, j] + g_h * gates.o * (1.0 - t * t)
    return (g_c * gates.g * gates.i * (1.0 - gates.i), g_c * c[b, j] * gates.f * (1.0 - gates.f),
            g_c * gates.i * (1.0 - gates.g * gates.g), g_h * t * gates.o * (1.0 - gates.o), g_c * gates.f)


def _pick(gate, values):
    i, f, g_, o = values
    return fn.if_then_else(gate == 0, i, fn.if_then_else(gate == 1, f, fn.if_then_else(gate == 2, g_, o)))


class LSTMCellBackward(Op):
    """Inputs ``(g, xw, hw, bias_ih, bias_hh, c)``; outputs the pre-activations' adjoint
    ``(batch, 4, hidden)``, ``c``'s adjoint and the biases' adjoint ``(4, hidden)``."""

    name = "lstm_cell_backward"

    def compute(self, request, g, xw, hw, bias_ih, bias_hh, c):
        batch, hidden = c.shape
        operands = (g, xw, hw, bias_ih, bias_hh, c)
        dpre = compute((batch, 4, hidden), lambda b, gate, j: _pick(gate, _adjoints(*operands, b, j)[:4]),
                       name="dpre")
        dc = compute((batch, hidden), lambda b, j: _adjoints(*operands, b, j)[4], name="dc")
        rb = reduce_axis(batch, "b")
        dbias = compute((4, hidden), lambda gate, j: fn.sum(_pick(gate, _adjoints(*operands, rb, j)[:4]), axis=rb),
                        name="dbias")
        return dpre, dc, dbias

    def schedule(self, request, s, outputs, config):
        for out in outputs:
            generic(s, out, config)


def _unfused_gradient(g, node):
    """The gradient from the unfused cell, recorded so it can be differentiated again."""
    xw, hw, bias_ih, bias_hh, c = node.inputs
    out = unfused_cell(xw, hw, bias_ih, bias_hh, c)
    return tuple(grad(out, list(node.inputs), g, create_graph=True))


def unfused_cell(xw, hw, bias_ih, bias_hh, c) -> Tensor:
    """``stack([h', c'])`` from the unfused ops (the reference of :class:`LSTMCellOp`)."""
    pre = ew.add(ew.add(xw, hw), ew.add(bias_ih, bias_hh))
    i, f, g, o = split(reshape(pre, (c.shape[0], 4, c.shape[1])), 1)
    cell = ew.add(ew.multiply(ew.sigmoid(f), c), ew.multiply(ew.sigmoid(i), ew.tanh(g)))
    return stack([ew.multiply(ew.sigmoid(o), ew.tanh(cell)), cell], 0)


def lstm_cell(xw: Tensor, hw: Tensor, bias_ih: Tensor, bias_hh: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """``(h', c')`` of an LSTM step from the products ``xw``, ``hw``, the biases and the state
    ``c``: one fused kernel (see the module docstring)."""
    state = LSTMCellOp()(xw, hw, bias_ih, bias_hh, c)
    return getitem(state, 0), getitem(state, 1)
