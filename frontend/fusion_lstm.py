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
from tensorir.errors import DefinitionError
from tensorir.tensor import compute, reduce_axis

from . import dispatch
from .autograd import grad, is_grad_enabled
from .ops import elementwise as ew
from .ops.base import Op, contiguous
from .ops.shape import getitem, reshape, split, stack
from .tensor import Tensor


def _activations(xw, hw, bias_ih, bias_hh, hidden: int):
    """``A[b, gate, j]``: sigmoid of the pre-activation for gates i, f, o and tanh for g, all as
    ``k * sigmoid(k * pre) - (k - 1)`` with ``k = 2`` for g (``tanh(x) = 2 sigmoid(2x) - 1``): one
    transcendental per element and no per-lane choice."""
    batch = xw.shape[0]

    def body(b, gate, j):
        col = gate * hidden + j
        k = 1.0 + ew.mask(gate == 2, xw.dtype)
        return k * fn.sigmoid(k * (xw[b, col] + hw[b, col] + bias_ih[col] + bias_hh[col])) - (k - 1.0)

    return compute((batch, 4, hidden), body, name="act")


def tanh_by_sigmoid(value):
    """``tanh(x) = 2 sigmoid(2x) - 1``: the float32 vector sigmoid is straight-line code, the C
    library's ``tanh`` a call per lane."""
    return 2.0 * fn.sigmoid(2.0 * value) - 1.0


def _cell(act, c):
    """``c' = f * c + i * g``."""
    return compute(c.shape, lambda b, j: act[b, 1, j] * c[b, j] + act[b, 0, j] * act[b, 2, j], name="cell")


class LSTMCellOp(Op):
    """Inputs ``(xw, hw, bias_ih, bias_hh, c)``; output ``stack([h', c'])``."""

    name = "lstm_cell"

    def compute(self, request, xw, hw, bias_ih, bias_hh, c):
        batch, hidden = c.shape
        act = _activations(xw, hw, bias_ih, bias_hh, hidden)
        cell = _cell(act, c)

        def body(s, b, j):
            first = ew.mask(s == 0, c.dtype)
            return first * act[b, 3, j] * tanh_by_sigmoid(cell[b, j]) + (1.0 - first) * cell[b, j]

        return compute((2, batch, hidden), body, name="state")

    def schedule(self, request, s, outputs, config):
        _every_stage(s, config)

    def gradient(self, g, node):
        if is_grad_enabled():  # create_graph: the unfused ops, differentiable again
            return _unfused_gradient(g, node)
        xw, hw, bias_ih, bias_hh, c = node.inputs
        arrays = [contiguous(t._storage(), c.device) for t in (g, xw, hw, bias_ih, bias_hh, c)]
        dpre, dc, dbias = (Tensor._wrap(a, c.device) for a in dispatch.run(LSTMCellBackward(), arrays, c.device))
        dpre, dbias = reshape(dpre, xw.shape), reshape(dbias, bias_ih.shape)
        return tuple(partial if t.requires_grad else None
                     for partial, t in zip((dpre, dpre, dbias, dbias, dc), node.inputs))


class LSTMCellBackward(Op):
    """Inputs ``(g, xw, hw, bias_ih, bias_hh, c)`` (``g`` the adjoint of ``stack([h', c'])``);
    outputs the pre-activations' adjoint ``(batch, 4, hidden)``, ``c``'s adjoint and the
    biases' adjoint ``(4, hidden)`` (the first summed over the batch)."""

    name = "lstm_cell_backward"

    def compute(self, request, g, xw, hw, bias_ih, bias_hh, c):
        batch, hidden = c.shape
        act = _activations(xw, hw, bias_ih, bias_hh, hidden)
        cell = _cell(act, c)
        tanh_c = compute(c.shape, lambda b, j: tanh_by_sigmoid(cell[b, j]), name="tanh_c")
        g_c = compute(c.shape, lambda b, j: g[1, b, j] + g[0, b, j] * act[b, 3, j]
                      * (1.0 - tanh_c[b, j] * tanh_c[b, j]), name="g_c")  # the adjoint of c'

        dc = compute(c.shape, lambda b, j: g_c[b, j] * act[b, 1, j], name="dc")

        def dpre_body(b, gate, j):
            m = [ew.mask(gate == k, c.dtype) for k in range(4)]
            # the adjoint of the gate's activation: i -> g_c g, f -> g_c c, g -> g_c i, o -> g_h tanh(c')
            partner = m[0] * act[b, 2, j] + m[1] * c[b, j] + m[2] * act[b, 0, j]
            adjoint = (1.0 - m[3]) * g_c[b, j] * partner + m[3] * g[0, b, j] * tanh_c[b, j]
            a, k = act[b, gate, j], 1.0 + m[2]
            return adjoint * (a + k - 1.0) * (1.0 - a)  # the activation's slope: a(1-a), or 1-a^2 for tanh

        dpre = compute((batch, 4, hidden), dpre_body, name="dpre")
        rb = reduce_axis(batch, "b")
        dbias = compute((4, hidden), lambda gate, j: fn.sum(dpre[rb, gate, j], axis=rb), name="dbias")
        return dpre, dc, dbias

    def schedule(self, request, s, outputs, config):
        _every_stage(s, config)


def _every_stage(s, config) -> None:
    """The generic schedule for each stage: the intermediates too, each a loop nest of its own."""
    for stage in list(s.stages):
        if hasattr(stage.op, "body"):
            generic(s, stage.op.output, config)


def _unfused_gradient(g, node):
    """The gradient from the unfused cell, recorded so it can be differentiated again."""
    xw, hw, bias_ih, bias_hh, c = node.inputs
    out = unfused_cell(xw, hw, bias_ih, bias_hh, c)
    return tuple(grad(out, list(node.inputs), g, create_graph=True))


def unfused_cell(xw, hw, bias_ih, bias_hh, c) -> Tensor:
    """``stack([h', c'])`` from the unfused ops (the reference of :class:`LSTMCellOp`)."""
    return stack(list(unfused_state(xw, hw, bias_ih, bias_hh, c)), 0)


def unfused_state(xw, hw, bias_ih, bias_hh, c) -> tuple[Tensor, Tensor]:
    """``(h', c')`` from the unfused ops, as two tensors (a step-wise graph that then slices
    ``stack([h', c'])`` pays a zero-filled adjoint per slice)."""
    pre = ew.add(ew.add(xw, hw), ew.add(bias_ih, bias_hh))
    i, f, g, o = split(reshape(pre, (c.shape[0], 4, c.shape[1])), 1)
    cell = ew.add(ew.multiply(ew.sigmoid(f), c), ew.multiply(ew.sigmoid(i), ew.tanh(g)))
    return ew.multiply(ew.sigmoid(o), ew.tanh(cell)), cell


def lstm_cell(xw: Tensor, hw: Tensor, bias_ih: Tensor, bias_hh: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """``(h', c')`` of an LSTM step from the products ``xw``, ``hw``, the biases and the state
    ``c``: one fused kernel (see the module docstring).

    Raises
    ------
    DefinitionError
        When the shapes do not fit ``c`` of ``(batch, hidden)``: ``xw`` and ``hw`` of ``(batch,
        4 * hidden)``, the biases of ``(4 * hidden,)``.
    """
    batch, hidden = c.shape if c.ndim == 2 else (None, None)
    want = ((batch, 4 * hidden),) * 2 + ((4 * hidden,),) * 2 if batch is not None else None
    found = (xw.shape, hw.shape, bias_ih.shape, bias_hh.shape)
    if want is None or found != want:
        raise DefinitionError(f"lstm_cell: shapes xw {xw.shape}, hw {hw.shape}, bias_ih {bias_ih.shape}, "
                              f"bias_hh {bias_hh.shape}, c {c.shape} do not fit; c must be (batch, hidden), "
                              "xw and hw (batch, 4 * hidden), the biases (4 * hidden,)")
    state = LSTMCellOp()(xw, hw, bias_ih, bias_hh, c)
    return getitem(state, 0), getitem(state, 1)
