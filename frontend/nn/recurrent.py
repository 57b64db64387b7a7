"""Sequence layers with needle's signatures: Embedding, RNNCell/RNN and LSTMCell/LSTM.

Sequences are ``(seq_len, batch, features)`` (or ``(batch, seq_len, features)`` with
``batch_first``). Weights are stored as needle stores them (``W_ih`` is ``(input_size, hidden)``
so a step is ``x @ W_ih + bias_ih + h @ W_hh + bias_hh``; the LSTM's four gates ``i, f, g, o``
sit side by side in the last axis), drawn from ``U(-1/sqrt(hidden), 1/sqrt(hidden))``. Each step
runs compiled kernels: the matmuls, the broadcast adds and the activations; a sequence is split
into step views and the outputs stacked by a kernel.
"""

from __future__ import annotations

import math

from tensorir.errors import DefinitionError

from .. import init, ops
from ..ops.gather import gather_rows
from ..tensor import Tensor
from .module import Module, Parameter, check_sizes

NONLINEARITIES = {"tanh": ops.tanh, "relu": ops.relu}


class Embedding(Module):
    """Rows of a ``(num_embeddings, embedding_dim)`` table picked by integer ids: ``(seq_len,
    batch)`` ids give ``(seq_len, batch, embedding_dim)`` (a gather kernel; the table's gradient
    sums the adjoints of each id's positions). The table starts ``N(0, 1)``."""

    def __init__(self, num_embeddings: int, embedding_dim: int, device: str = "cpu", dtype: str = "float32",
                 rng=None):
        super().__init__()
        check_sizes("Embedding", num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter.of(init.normal((num_embeddings, embedding_dim), 1.0, dtype=dtype, device=device,
                                               rng=rng))

    def forward(self, x: Tensor) -> Tensor:
        picked = gather_rows(self.weight, ops.reshape(x, (x.size,)))
        return ops.reshape(picked, (*x.shape, self.embedding_dim))


def _uniform(shape, hidden_size: int, dtype: str, device: str, rng) -> Parameter:
    bound = 1.0 / math.sqrt(hidden_size)
    return Parameter.of(init.uniform(shape, low=-bound, high=bound, dtype=dtype, device=device, rng=rng))


class _Cell(Module):
    """The weights of one recurrent step with ``gates`` blocks of ``hidden_size`` outputs."""

    def __init__(self, input_size: int, hidden_size: int, gates: int, bias: bool, device: str, dtype: str, rng):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise DefinitionError(f"{type(self).__name__}: input_size {input_size} and hidden_size {hidden_size} "
                                  "must be positive")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        width = gates * hidden_size
        self.W_ih = _uniform((input_size, width), hidden_size, dtype, device, rng)
        self.W_hh = _uniform((hidden_size, width), hidden_size, dtype, device, rng)
        self.bias_ih = _uniform((width,), hidden_size, dtype, device, rng) if bias else None
        self.bias_hh = _uniform((width,), hidden_size, dtype, device, rng) if bias else None

    def affine(self, x: Tensor, h: Tensor) -> Tensor:
        """``x @ W_ih + bias_ih + h @ W_hh + bias_hh``."""
        out = ops.add(ops.matmul(x, self.W_ih), ops.matmul(h, self.W_hh))
        if self.bias:
            out = ops.add(out, ops.add(self.bias_ih, self.bias_hh))
        return out

    def start(self, x: Tensor) -> Tensor:
        """Check the input ``(batch, input_size)``; the zero state for it."""
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise DefinitionError(f"{type(self).__name__}: input of shape {x.shape} does not fit input_size "
                                  f"{self.input_size}; give (batch, {self.input_size})")
        return init.zeros(x.shape[0], self.hidden_size, dtype=self.W_ih.dtype, device=x.device)


class RNNCell(_Cell):
    """``h' = nonlinearity(x @ W_ih + bias_ih + h @ W_hh + bias_hh)`` (``tanh`` or ``relu``)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: str = "cpu", dtype: str = "float32", rng=None):
        if nonlinearity not in NONLINEARITIES:
            raise DefinitionError(f"RNNCell: nonlinearity {nonlinearity!r} is unknown; use 'tanh' or 'relu'")
        super().__init__(input_size, hidden_size, 1, bias, device, dtype, rng)
        self.nonlinearity = nonlinearity

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        """``x`` (batch, input_size) and ``h`` (batch, hidden_size; zeros when None) to the next ``h``."""
        zero = self.start(x)
        return NONLINEARITIES[self.nonlinearity](self.affine(x, zero if h is None else h))


class LSTMCell(_Cell):
    """``i, f, g, o = split(x @ W_ih + bias_ih + h @ W_hh + bias_hh)``; ``c' = sigmoid(f) * c +
    sigmoid(i) * tanh(g)``, ``h' = sigmoid(o) * tanh(c')``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: str = "cpu",
                 dtype: str = "float32", rng=None):
        super().__init__(input_size, hidden_size, 4, bias, device, dtype, rng)

    def forward(self, x: Tensor, h: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """``x`` (batch, input_size) and ``(h, c)`` (each (batch, hidden_size); zeros when None) to
        the next ``(h, c)``."""
        zero = self.start(x)
        h0, c0 = (zero, zero) if h is None else h
        if self._fusable(x, h0, c0):  # the gates' elementwise work as one kernel
            from ..fusion_lstm import lstm_cell

            return lstm_cell(ops.matmul(x, self.W_ih), ops.matmul(h0, self.W_hh), self.bias_ih, self.bias_hh, c0)
        gates = ops.reshape(self.affine(x, h0), (x.shape[0], 4, self.hidden_size))
        i, f, g, o = ops.split(gates, 1)
        c = ops.add(ops.multiply(ops.sigmoid(f), c0), ops.multiply(ops.sigmoid(i), ops.tanh(g)))
        return ops.multiply(ops.sigmoid(o), ops.tanh(c)), c

    def _fusable(self, x: Tensor, h: Tensor, c: Tensor) -> bool:
        """Whether :func:`frontend.fusion_lstm.lstm_cell` applies: fusion on, biases, one float
        dtype, the state of shape (batch, hidden_size)."""
        from ..fusion import enabled

        dtype = self.W_ih.dtype
        return (enabled() and self.bias and dtype.startswith("float") and x.device == "cpu"
                and all(t.dtype == dtype for t in (x, h, c, self.W_hh))
                and h.shape == c.shape == (x.shape[0], self.hidden_size))


class _Recurrent(Module):
    """Layers of cells over a sequence; the next layer reads the outputs of the one before."""

    #: calls return ``(output, state)``; :class:`~frontend.nn.Sequential` passes the output on
    returns_state = True

    def __init__(self, num_layers: int, batch_first: bool):
        super().__init__()
        if not isinstance(num_layers, int) or num_layers < 1:
            raise DefinitionError(f"{type(self).__name__}: num_layers must be a positive int, got {num_layers!r}")
        self.num_layers, self.batch_first = num_layers, batch_first

    def steps(self, x: Tensor) -> list[Tensor]:
        if x.ndim != 3:
            order = "(batch, seq_len, input_size)" if self.batch_first else "(seq_len, batch, input_size)"
            raise DefinitionError(f"{type(self).__name__}: input of shape {x.shape} must be 3-D {order}")
        return list(ops.split(x, 1 if self.batch_first else 0))

    def output(self, steps: list[Tensor]) -> Tensor:
        return ops.stack(steps, 1 if self.batch_first else 0)

    @property
    def cells(self) -> list[_Cell]:
        """The layers' cells, first layer first."""
        return getattr(self, "rnn_cells", None) or self.lstm_cells

    def layered(self, x: Tensor, state) -> bool:
        """Whether the whole-layer ops of :mod:`frontend.recurrent_layer` apply: fusion on, the
        CPU, a 3-D input and every tensor of one float dtype (else the step-wise graph)."""
        from ..fusion import enabled

        dtype = self.cells[0].W_ih.dtype
        states = [] if state is None else list(state) if isinstance(state, tuple) else [state]
        return (enabled() and x.device == "cpu" and x.ndim == 3 and dtype.startswith("float")
                and all(t.dtype == dtype and t.device == "cpu" for t in (x, *states)))

    def check_states(self, x: Tensor, states: tuple, what: str) -> None:
        """Refuse initial states that are not Tensors of ``(num_layers, batch, hidden_size)`` for
        the input ``x`` (checked at the call, before either path reads them)."""
        if not isinstance(x, Tensor) or x.ndim != 3:
            return  # the input's own check names it
        want = (self.num_layers, x.shape[0 if self.batch_first else 1], self.cells[0].hidden_size)
        for state in states:
            if not isinstance(state, Tensor) or state.shape != want:
                got = f"of shape {state.shape}" if isinstance(state, Tensor) else f"(a {type(state).__name__})"
                raise DefinitionError(f"{type(self).__name__}: initial state {got} does not fit; give {what} = "
                                      f"{want} tensors, or None for zeros")

    def sequence(self, x: Tensor) -> Tensor:
        """``x`` as ``(seq, batch, features)`` from the layout of the layer (a view), checked; and
        back: the transpose is its own inverse."""
        if self.batch_first:
            x = ops.transpose(x, (1, 0, 2))
        return x

    def initial(self, x: Tensor, state: Tensor | None) -> list[Tensor]:
        """Each layer's initial state ``(batch, hidden)`` from ``state`` ``(num_layers, batch,
        hidden)``, zeros when None; ``x`` is ``(seq, batch, input)``."""
        cell = self.cells[0]
        if x.shape[-1] != cell.input_size:
            raise DefinitionError(f"{type(cell).__name__}: input of shape {x.shape[1:]} does not fit input_size "
                                  f"{cell.input_size}; give (batch, {cell.input_size})")
        want = (self.num_layers, x.shape[1], cell.hidden_size)
        if state is None:
            return [init.zeros(*want[1:], dtype=cell.W_ih.dtype, device=x.device)] * self.num_layers
        if state.shape != want:
            raise DefinitionError(f"{type(self).__name__}: initial state of shape {state.shape} does not fit; "
                                  f"give (num_layers, batch, hidden_size) = {want}")
        return list(ops.split(state, 0))


class RNN(_Recurrent):
    """A multi-layer Elman RNN: ``RNN(input_size, hidden_size, num_layers=1, bias=True,
    nonlinearity='tanh')``; ``rnn(x, h0)`` gives ``(output, h_n)``: the last layer's ``h`` at every
    step, and every layer's last ``h`` ``(num_layers, batch, hidden_size)``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 nonlinearity: str = "tanh", device: str = "cpu", dtype: str = "float32", batch_first: bool = False,
                 rng=None):
        super().__init__(num_layers, batch_first)
        self.rnn_cells = [RNNCell(input_size if k == 0 else hidden_size, hidden_size, bias, nonlinearity, device,
                                  dtype, rng) for k in range(num_layers)]

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.check_states(x, () if h0 is None else (h0,), "(num_layers, batch, hidden_size)")
        if self.layered(x, h0):
            return self._layers(x, h0)
        steps = self.steps(x)
        starts = [None] * self.num_layers if h0 is None else list(ops.split(h0, 0))
        finals = []
        for cell, h in zip(self.rnn_cells, starts):
            outputs = []
            for step in steps:
                h = cell(step, h)
                outputs.append(h)
            steps = outputs
            finals.append(h)
        return self.output(steps), ops.stack(finals, 0)

    def _layers(self, x: Tensor, h0: Tensor | None) -> tuple[Tensor, Tensor]:
        """One :class:`~frontend.recurrent_layer.RNNLayer` op per layer."""
        from ..recurrent_layer import RNNLayer

        x = self.sequence(x)
        starts = self.initial(x, h0)
        finals = []
        for cell, h in zip(self.rnn_cells, starts):
            weights = (cell.W_ih, cell.W_hh, *((cell.bias_ih, cell.bias_hh) if cell.bias else ()))
            x = RNNLayer(cell.bias, cell.nonlinearity)(x, h, *weights)
            finals.append(ops.getitem(x, x.shape[0] - 1))
        return self.sequence(x), ops.stack(finals, 0)


class LSTM(_Recurrent):
    """A multi-layer LSTM: ``LSTM(input_size, hidden_size, num_layers=1, bias=True)``;
    ``lstm(x, (h0, c0))`` gives ``(output, (h_n, c_n))``, each state ``(num_layers, batch,
    hidden_size)``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 device: str = "cpu", dtype: str = "float32", batch_first: bool = False, rng=None):
        super().__init__(num_layers, batch_first)
        self.lstm_cells = [LSTMCell(input_size if k == 0 else hidden_size, hidden_size, bias, device, dtype, rng)
                           for k in range(num_layers)]

    def forward(self, x: Tensor, h: tuple[Tensor, Tensor] | None = None):
        if h is not None and (not isinstance(h, (tuple, list)) or len(h) != 2):
            raise DefinitionError(f"LSTM: the state must be a pair (h0, c0) of (num_layers, batch, hidden_size) "
                                  f"tensors, got a {type(h).__name__}; pass (h0, c0) or None")
        self.check_states(x, () if h is None else tuple(h), "(num_layers, batch, hidden_size)")
        if self.layered(x, h):
            return self._layers(x, h)
        steps = self.steps(x)
        if h is None:
            starts = [None] * self.num_layers
        else:
            starts = list(zip(ops.split(h[0], 0), ops.split(h[1], 0)))
        finals_h, finals_c = [], []
        for cell, state in zip(self.lstm_cells, starts):
            outputs = []
            for step in steps:
                state = cell(step, state)
                outputs.append(state[0])
            steps = outputs
            finals_h.append(state[0])
            finals_c.append(state[1])
        return self.output(steps), (ops.stack(finals_h, 0), ops.stack(finals_c, 0))

    def _layers(self, x: Tensor, h: tuple[Tensor, Tensor] | None):
        """One :class:`~frontend.recurrent_layer.LSTMLayer` op per layer."""
        from ..recurrent_layer import LSTMLayer

        x = self.sequence(x)
        starts = zip(self.initial(x, None if h is None else h[0]), self.initial(x, None if h is None else h[1]))
        seq, finals_h, finals_c = x.shape[0], [], []
        for cell, (h0, c0) in zip(self.lstm_cells, starts):
            weights = (cell.W_ih, cell.W_hh, *((cell.bias_ih, cell.bias_hh) if cell.bias else ()))
            packed = LSTMLayer(cell.bias)(x, h0, c0, *weights)
            x = ops.getitem(packed, slice(0, seq))
            finals_h.append(ops.getitem(packed, seq - 1))
            finals_c.append(ops.getitem(packed, seq))
        return self.sequence(x), (ops.stack(finals_h, 0), ops.stack(finals_c, 0))
