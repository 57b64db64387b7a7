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

from backends.llvm.target import thread_count
from schedules.templates.matmul_variants import product_dims
from tensorir.intmath import ceil_div, round_up

from . import dispatch
from .autograd import grad, is_grad_enabled
from .fusion_lstm import unfused_state
from .fusion_recurrent import LSTMStep, LSTMStepBackward, RNNStep, RNNStepBackward
from .ops import elementwise as ew
from .ops.base import Op, contiguous
from .ops.matmul import DOT, NARROW, UNPACKED_N_MAX, MatMul, copies_transposed_a
from .ops.reduce import Sum
from .ops.shape import getitem, stack
from .tensor import Tensor

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


#: products with at most this many rows (a step's ``h @ W_hh``) read B unpacked: 49 -> 39 us for
#: (32, 128) @ (128, 512), 90 -> 65 us for (32, 512) @ (512, 128)
SMALL_M = 64
#: a whole-k product of at most this many rows (and 512 columns) reads B as stored: both
#: weights' gradients at once, 256x1024x512, 2551 vs 2743 us (one thread)
UNPACKED_M_MAX = 512
#: a step's product (at most SMALL_M rows) runs its rows on every thread: it is half of the
#: chain of kernels each step waits for, and PyTorch threads it too
STEP_THREADS = True


class LayerMatMul(MatMul):
    """The layers' products: :class:`~frontend.ops.matmul.MatMul` with cache tiles no larger than
    the product. The default 64-row tile pads a ``(32, 128) @ (128, 512)`` step product to 64 rows
    (5x its time); the frontend's default keeps 64 since its configs must not depend on the
    batch (a symbolic-batch kernel serves every batch size with the config of the first)."""

    name = "layer_matmul"
    #: its operands are the layer's own arrays, some filled step by step: packed as they come
    packs_weights = False
    #: static shapes: its cache tiles fit the product (below), no symbolic batch's tail tile
    register_row_tiles = False

    def default_config(self, request) -> dict:
        config = super().default_config(request)
        if request.variant == DOT:
            return config
        m, _, n = product_dims(*request.shapes, *request.variant)
        config = {**config, "b1": min(config["b1"], round_up(m, config["v1"])),
                  "b2": min(config["b2"], round_up(n, config["v2"]))}
        if config.get("b3", 0) is None and m <= UNPACKED_M_MAX and n <= 2 * UNPACKED_N_MAX:
            config["pack_b"] = False  # a layer's static shapes: few row tiles read B as stored
        if m <= SMALL_M:  # packing B costs as much as the product: read it in place, one pass over k
            config.update(pack_b=False, b3=None)
            threads = thread_count() if STEP_THREADS else 1
            if threads > 1 and m >= 2 * config["v1"]:  # the threads share the rows
                config.update(b1=round_up(ceil_div(m, threads), config["v1"]), parallel=True)
        return config


def _mm(a: np.ndarray, b: np.ndarray, device: str) -> np.ndarray:
    """``a @ b`` by the matmul kernels (either operand may be a transposed view), contiguous."""
    return contiguous(LayerMatMul().forward(a, b, device=device), device)


def _step_product(rows: np.ndarray, b: np.ndarray, device: str):
    """``rows -> rows @ b`` for the product a layer repeats at every step, on C-contiguous rows
    of the shape and dtype of ``rows``: its kernel looked up once where the template runs on the
    arrays as stored (the per-call layout choice and request cost about as much as a 32-row
    product), else :func:`_mm` each time."""
    op = LayerMatMul()
    if not op.plain_form(rows, b):
        return lambda a: _mm(a, b, device)
    kernel = dispatch.bind(op, [rows, b], device, (False, False))
    return lambda a: kernel([a, b])[0]


def _step_kernel(op: Op, arrays: list[np.ndarray], device: str):
    """The kernel of a step op, looked up once for a loop whose every step passes C-contiguous
    arrays of these shapes and dtypes (checked here on the first step's)."""
    return dispatch.bind(op, [contiguous(a, device) for a in arrays], device)


def _weight_gradients(x: np.ndarray, h_prev: tuple[np.ndarray, np.ndarray], dpre: np.ndarray, wants: list[bool],
                      device: str) -> list[np.ndarray | None]:
    """``[x^T dpre, h_prev^T dpre]`` summed over all steps (``dpre`` of ``(seq * batch, gates)``;
    ``h_prev`` as ``(h0, the h of every step but the last)``), each where wanted: ONE product of
    the wanted operands side by side, ``[x | h_prev]^T dpre``, so ``dpre`` is read (and packed)
    once and the threads share the rows of both. The left operand is stored as the product reads
    it: plain when it copies a transposed A plain, else as ``[x | h_prev]`` read transposed."""
    if not any(wants):
        return [None, None]
    h0, hs = h_prev
    widths = [x.shape[-1] if wants[0] else 0, h0.shape[-1] if wants[1] else 0]
    steps, width = dpre.shape[0], sum(widths)
    plain = copies_transposed_a(width, steps)
    stored = np.empty((width, steps) if plain else (steps, width), dpre.dtype)
    side_by_side = stored.T if plain else stored  # (steps, width)
    side_by_side[:, :widths[0]] = _flat(x)[:, :widths[0]]
    side_by_side[:len(h0), widths[0]:] = h0[:, :widths[1]]
    side_by_side[len(h0):, widths[0]:] = hs.reshape(-1, hs.shape[-1])[:, :widths[1]]
    product = _mm(stored if plain else stored.T, dpre, device)
    return [product[:widths[0]] if wants[0] else None, product[widths[0]:] if wants[1] else None]


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
        h_prev = (initial[0], node._storage()[:x.shape[0] - 1])
        found = [_mm(flat, w_ih.T, device).reshape(x.shape) if wants[0] else None, *initial_grads,
                 *_weight_gradients(x, h_prev, flat, wants[1 + self.states:3 + self.states], device)]
        if self.bias:
            dbias = Sum((0,), False).forward(flat, device=device) if any(wants[-2:]) else None
            found += [dbias, dbias]
        return tuple(Tensor._wrap(a, device) if a is not None and want else None for a, want in zip(found, wants))


class LSTMLayer(_Layer):
    """Inputs ``(x, h0, c0, W_ih, W_hh[, bias_ih, bias_hh])``; output ``(seq + 1, batch, hidden)``:
    ``h`` at every step, then the last ``c``."""

    name = "lstm_layer"
    states = 2

    def run(self, x, xw, initial, w_hh, biases) -> np.ndarray:
        device, (h, c) = self.device, initial
        seq, (batch, hidden) = x.shape[0], h.shape
        product = _step_product(h, w_hh, device)
        step = _step_kernel(LSTMStep(), [xw[0], xw[0], *biases, c], device)  # hw: xw's shape
        # each step writes into its place in what the layer returns and saves for the backward
        out, cs = np.empty((seq + 1, batch, hidden), h.dtype), np.empty((seq, batch, hidden), h.dtype)
        acts, tanhs = np.empty((seq, batch, 4, hidden), h.dtype), np.empty((seq, batch, hidden), h.dtype)
        for t in range(seq):
            h, c, _, _ = step([xw[t], product(h), *biases, c], [out[t], cs[t], acts[t], tanhs[t]])
        out[seq] = c
        self.saved = (cs, acts, tanhs)
        return out

    def through_time(self, g, out, initial, w_hh, wants):
        """``dpre`` of every step ``(seq, batch, 4, hidden)`` and the adjoints of ``(h0, c0)``."""
        device, back = self.device, LSTMStepBackward()
        cs, acts, tanhs = self.saved
        seq, c0 = len(acts), initial[1]
        g_next, g_c, dpres = np.zeros_like(g[0]), g[seq], np.empty_like(acts)
        rows = dpres.reshape(seq, len(g_next), -1)
        product = _step_product(rows[0], _backward_weight(w_hh, device), device)
        step = _step_kernel(back, [g[0], g_next, g_c, acts[0], tanhs[0], c0], device)
        for t in reversed(range(seq)):
            _, g_c = step([g[t], g_next, g_c, acts[t], tanhs[t], cs[t - 1] if t else c0],
                          [dpres[t], np.empty_like(g_c)])
            if t or wants[0]:
                g_next = product(rows[t])
        return dpres, [g_next if wants[0] else None, g_c if wants[1] else None]

    def stepwise(self, x, h0, c0, w_ih, w_hh, *biases) -> Tensor:
        """The same output from the unfused ops, one step at a time (differentiable again)."""
        b_ih, b_hh = biases or (_zeros(w_ih),) * 2
        hs, h, c = [], h0, c0
        for t in range(x.shape[0]):
            h, c = unfused_state(ew_matmul(getitem(x, t), w_ih), ew_matmul(h, w_hh), b_ih, b_hh, c)
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
        device, (h,) = self.device, initial
        out = np.empty((x.shape[0], *h.shape), h.dtype)  # each step writes its h in place
        product = _step_product(h, w_hh, device)
        step = _step_kernel(RNNStep(self.nonlinearity), [xw[0], xw[0], *biases], device)  # hw: xw's shape
        for t in range(x.shape[0]):
            (h,) = step([xw[t], product(h), *biases], [out[t]])
        return out

    def through_time(self, g, out, initial, w_hh, wants):
        """``dpre`` of every step ``(seq, batch, hidden)`` and the adjoint of ``h0``."""
        device, back = self.device, RNNStepBackward(self.nonlinearity)
        seq = out.shape[0]
        g_next, dpres = np.zeros_like(g[0]), np.empty_like(out)
        product = _step_product(dpres[0], _backward_weight(w_hh, device), device)
        step = _step_kernel(back, [g[0], g_next, out[0]], device)
        for t in reversed(range(seq)):
            step([g[t], g_next, out[t]], [dpres[t]])
            if t or wants[0]:
                g_next = product(dpres[t])
        return dpres, [g_next if wants[0] else None]

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
