"""A whole recurrent layer as one autograd op: the forward loops over time, the gradient runs
backward through time.

Stepping a layer through the graph records O(seq) nodes (two matmuls, a cell, the split and
stack views per step) and pays per-op Python for each of them twice. :class:`LSTMLayer` and
:class:`RNNLayer` are one node per layer with inputs ``(x, h0, [c0,] W_ih, W_hh[, bias_ih,
bias_hh])`` (``x`` of ``(seq, batch, input)``) and run kernels directly on arrays:

- forward: the input products of all steps as ONE matmul ``(seq * batch, input) @ W_ih``; per
  step ``h @ W_hh`` and one fused step kernel (:mod:`frontend.fusion_recurrent`) that adds the
  biases, applies the gates and keeps the activations for the backward;
- backward: per step one kernel for the pre-activations' adjoint ``dpre_t`` and one matmul
  ``dpre_t @ W_hh^T`` carrying the adjoint to the step before; then over all steps at once
  (``dpre`` stacked over time) ONE matmul each for ``W_ih``'s gradient, ``W_hh``'s and the
  input's, and one reduction for the biases'.

The output packs what the layer gives: the LSTM's is ``(seq + 1, batch, hidden)``, the ``h`` of
every step then the last ``c``; the RNN's ``(seq, batch, hidden)``. The recurrence is not one
:func:`~tensorir.scan.scan` kernel: its step holds a ``(batch, hidden) x (hidden, 4 * hidden)``
product, which needs the register- and cache-tiled matmul template, and a scan's body ops are
scheduled as plain loop nests. The RNN's forward recurrence (seq 32, batch 32, hidden 128) as
one scan, its product vectorized over 16 outputs with the reduction outside, took 1.48 ms
against 0.71 ms for the 32 products and step kernels here; the backward would be a second,
reversed scan. Under ``create_graph=True`` the gradient is built from the step-wise unfused
graph (differentiable again) instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from schedules.templates.matmul_variants import product_dims
from tensorir.intmath import round_up

from . import dispatch
from .fusion_lstm import unfused_cell
from .fusion_recurrent import LSTMStep, LSTMStepBackward, RNNStep, RNNStepBackward
from .ops import elementwise as ew
from .ops.base import Op, contiguous
from .ops.matmul import DOT, NARROW, MatMul
from .ops.reduce import Sum
from .ops.shape import getitem, stack
from .tensor import Tensor, grad, is_grad_enabled

#: the nonlinearities of :class:`RNNLayer`
RNN_KINDS = frozenset({"tanh", "relu"})


@contextlib.contextmanager
def _static_kernels() -> Iterator[None]:
    """Within this block the kernel cache builds static kernels (not symbolic-batch ones): the
    per-step ``(batch, hidden) @ W_hh`` took twice as long with a symbolic row count (its tiles
    keep their guards), and a layer's shapes repeat every step."""
    previous = dispatch.cache.symbolic_batch
    dispatch.cache.symbolic_batch = False
    try:
        yield
    finally:
        dispatch.cache.symbolic_batch = previous


def _run(op: Op, arrays: list[np.ndarray], device: str) -> list[np.ndarray]:
    return dispatch.run(op, [contiguous(a, device) for a in arrays], device)


#: products with at most this many rows (a step's ``h @ W_hh``) read B unpacked: 49 -> 39 us for
#: (32, 128) @ (128, 512), 90 -> 65 us for (32, 512) @ (512, 128)
SMALL_M = 64


class LayerMatMul(MatMul):
    """The layers' products: :class:`~frontend.ops.matmul.MatMul` with cache tiles no larger than
    the product. The default 64-row tile pads a ``(32, 128) @ (128, 512)`` step product to 64 rows
    (5x its time); the frontend's default keeps 64 since its configs must not depend on the
    batch (a symbolic-batch kernel serves every batch size with the config of the first)."""

    name = "layer_matmul"

    def default_config(self, request) -> dict:
        config = super().default_config(request)
        if request.variant == DOT:
            return config
        m, _, n = product_dims(*request.shapes, *request.variant)
        config = {**config, "b1": min(config["b1"], round_up(m, config["v1"])),
                  "b2": min(config["b2"], round_up(n, config["v2"]))}
        if m <= SMALL_M:  # packing B costs as much as the product: read it in place, one pass over k
            config.update(pack_b=False, b3=None)
        return config


def _mm(a: np.ndarray, b: np.ndarray, device: str) -> np.ndarray:
    """``a @ b`` by the matmul kernels (either operand may be a transposed view), contiguous."""
    return contiguous(LayerMatMul().forward(a, b, device=device), device)


def _backward_weight(w_hh: np.ndarray, device: str) -> np.ndarray:
    """``W_hh^T`` for the steps' ``dpre @ W_hh^T``: copied once so that each step's product reads
    B in place (a transposed B is packed per call), unless the product has few columns and reads
    ``W_hh`` itself (dot products of rows)."""
    return w_hh.T if w_hh.shape[0] < NARROW else contiguous(w_hh.T, device)


def _flat(array: np.ndarray) -> np.ndarray:
    """``(seq, batch, ...)`` as ``(seq * batch, n)``."""
    return array.reshape(array.shape[0] * array.shape[1], -1)


class _Layer(Op):
    """What both layers share: the inputs' layout, the input projection and the gradients that
    are one matmul over all steps. ``states`` is 2 for the LSTM's ``(h0, c0)``, 1 for the RNN."""

    states = 1

    def __init__(self, bias: bool):
        self.bias = bias
        self.key = (self.name, bias)
        self.saved: tuple = ()

    def unpack(self, arrays) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray, list[np.ndarray]]:
        """``(x, initial states, W_ih, W_hh, biases)``; zero biases for a layer without."""
        device = self.device
        x, *rest = (contiguous(a, device) for a in arrays)
        initial, (w_ih, w_hh, *biases) = rest[:self.states], rest[self.states:]
        if not self.bias:
            biases = [np.zeros(w_ih.shape[1], w_ih.dtype)] * 2
        return x, initial, w_ih, w_hh, biases

    def forward(self, *arrays: np.ndarray, device: str = "cpu") -> np.ndarray:
        self.device = device
        x, initial, w_ih, w_hh, biases = self.unpack(arrays)
        seq, batch = x.shape[:2]
        with _static_kernels():
            xw = _mm(_flat(x), w_ih, device).reshape(seq, batch, -1)
            return self.run(x, xw, initial, w_hh, biases)

    def gradient(self, g, node):
        if is_grad_enabled():  # create_graph: the step-wise graph, differentiable again
            return tuple(grad(self.stepwise(*node.inputs), list(node.inputs), g, create_graph=True))
        with _static_kernels():
            return self.through_time_gradients(g, node)

    def through_time_gradients(self, g: Tensor, node: Tensor) -> tuple[Tensor | None, ...]:
        """The adjoints of the inputs: backward through time, then the products over all steps."""
        x, initial, w_ih, w_hh, _ = self.unpack([t._storage() for t in node.inputs])
        device, wants = self.device, [t.requires_grad for t in node.inputs]
        dpre, initial_grads = self.through_time(contiguous(g._storage(), device), node._storage(), initial, w_hh,
                                                wants[1:1 + self.states])
        flat = _flat(dpre)
        h_prev = np.concatenate([initial[0][None], node._storage()[:x.shape[0] - 1]])
        found = [_mm(flat, w_ih.T, device).reshape(x.shape) if wants[0] else None, *initial_grads,
                 _mm(_flat(x).T, flat, device) if wants[1 + self.states] else None,
                 _mm(_flat(h_prev).T, flat, device) if wants[2 + self.states] else None]
        if self.bias:
            dbias = Sum((0,), False).forward(flat, device=device) if any(wants[-2:]) else None
            found += [dbias, dbias]
        return tuple(Tensor.wrap(a, device) if a is not None and want else None for a, want in zip(found, wants))


class LSTMLayer(_Layer):
    """Inputs ``(x, h0, c0, W_ih, W_hh[, bias_ih, bias_hh])``; output ``(seq + 1, batch, hidden)``:
    ``h`` at every step, then the last ``c``."""

    name = "lstm_layer"
    states = 2

    def run(self, x, xw, initial, w_hh, biases) -> np.ndarray:
        device, step = self.device, LSTMStep()
        h, c = initial
        hs, cs, acts, tanhs = [], [], [], []
        for t in range(x.shape[0]):
            h, c, act, tanh_c = _run(step, [xw[t], _mm(h, w_hh, device), *biases, c], device)
            hs.append(h)
            cs.append(c)
            acts.append(act)
            tanhs.append(tanh_c)
        self.saved = (cs, acts, tanhs)
        return np.stack([*hs, c])

    def through_time(self, g, out, initial, w_hh, wants):
        """``dpre`` of every step ``(seq, batch, 4, hidden)`` and the adjoints of ``(h0, c0)``."""
        device, back = self.device, LSTMStepBackward()
        cs, acts, tanhs = self.saved
        seq, c0 = len(acts), initial[1]
        g_next, g_c, dpres = np.zeros_like(g[0]), g[seq], [None] * seq
        w_hh_t = _backward_weight(w_hh, device)
        for t in reversed(range(seq)):
            dpres[t], g_c = _run(back, [g[t], g_next, g_c, acts[t], tanhs[t], cs[t - 1] if t else c0], device)
            if t or wants[0]:
                g_next = _mm(dpres[t].reshape(len(g_next), -1), w_hh_t, device)
        return np.stack(dpres), [g_next if wants[0] else None, g_c if wants[1] else None]

    def stepwise(self, x, h0, c0, w_ih, w_hh, *biases) -> Tensor:
        """The same output from the unfused ops, one step at a time (differentiable again)."""
        b_ih, b_hh = biases or (_zeros(w_ih),) * 2
        hs, h, c = [], h0, c0
        for t in range(x.shape[0]):
            state = unfused_cell(ew_matmul(getitem(x, t), w_ih), ew_matmul(h, w_hh), b_ih, b_hh, c)
            h, c = getitem(state, 0), getitem(state, 1)
            hs.append(h)
        return stack([*hs, c], 0)


class RNNLayer(_Layer):
    """Inputs ``(x, h0, W_ih, W_hh[, bias_ih, bias_hh])``; output ``h`` at every step ``(seq,
    batch, hidden)``. ``nonlinearity`` is ``tanh`` or ``relu``."""

    name = "rnn_layer"

    def __init__(self, bias: bool, nonlinearity: str):
        super().__init__(bias)
        self.nonlinearity = nonlinearity
        self.key = (self.name, bias, nonlinearity)

    def run(self, x, xw, initial, w_hh, biases) -> np.ndarray:
        device, step = self.device, RNNStep(self.nonlinearity)
        (h,) = initial
        hs = []
        for t in range(x.shape[0]):
            (h,) = _run(step, [xw[t], _mm(h, w_hh, device), *biases], device)
            hs.append(h)
        return np.stack(hs)

    def through_time(self, g, out, initial, w_hh, wants):
        """``dpre`` of every step ``(seq, batch, hidden)`` and the adjoint of ``h0``."""
        device, back = self.device, RNNStepBackward(self.nonlinearity)
        seq = out.shape[0]
        g_next, dpres = np.zeros_like(g[0]), [None] * seq
        w_hh_t = _backward_weight(w_hh, device)
        for t in reversed(range(seq)):
            (dpres[t],) = _run(back, [g[t], g_next, out[t]], device)
            if t or wants[0]:
                g_next = _mm(dpres[t], w_hh_t, device)
        return np.stack(dpres), [g_next if wants[0] else None]

    def stepwise(self, x, h0, w_ih, w_hh, *biases) -> Tensor:
        """The same output from the unfused ops, one step at a time (differentiable again)."""
        act = ew.tanh if self.nonlinearity == "tanh" else ew.relu
        hs, h = [], h0
        for t in range(x.shape[0]):
            pre = ew.add(ew_matmul(getitem(x, t), w_ih), ew_matmul(h, w_hh))
            if biases:
                pre = ew.add(pre, ew.add(*biases))
            h = act(pre)
            hs.append(h)
        return stack(hs, 0)


def ew_matmul(a: Tensor, b: Tensor) -> Tensor:
    """The graph's matmul (imported late: :mod:`frontend.ops.matmul` imports this package's ops)."""
    from .ops.matmul import matmul

    return matmul(a, b)


def _zeros(w_ih: Tensor) -> Tensor:
    from .ops.creation import zeros

    return zeros((w_ih.shape[1],), dtype=w_ih.dtype, device=w_ih.device)
