"""needle's transformer modules (hw4_extra): MultiHeadAttention, AttentionLayer, TransformerLayer,
Transformer.

Each is built from the frontend's ops, so every product, softmax and normalisation runs on Nestor
kernels: the attention scores are one batched product ``q @ k^T / sqrt(d)`` over ``(batch, heads)``,
the causal mask is needle's additive one (``-finfo(float32).max`` above the diagonal shifted by
``keys - queries``), and the softmax over the last axis is one kernel. The modules create their
parameters in the order needle's reference creates them, so a seeded program draws needle's values.
"""

from __future__ import annotations

import math

import numpy as np

from tensorir.errors import DefinitionError

from .. import init, ops
from ..fusion_softmax import softmax
from ..tensor import Tensor
from .layers import Dropout, Linear, ReLU, Sequential
from .module import Module, check_sizes
from .norm import LayerNorm1d
from .recurrent import Embedding


def causal_mask(queries: int, keys: int, dtype: str = "float32", device: str = "cpu") -> Tensor:
    """needle's additive causal mask of shape ``(1, 1, queries, keys)``: 0 where query ``i`` may see key
    ``j`` (``j <= i + keys - queries``), ``-finfo(float32).max`` elsewhere. A constant (no grad)."""
    upper = np.triu(np.ones((1, 1, queries, keys), dtype=np.float32), keys - queries + 1)
    return Tensor._wrap((-np.finfo(np.float32).max * upper).astype(dtype), device=device)


def _check_heads(q: Tensor, k: Tensor, v: Tensor) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, Tensor) or t.ndim != 4:
            shape = t.shape if isinstance(t, Tensor) else type(t).__name__
            raise DefinitionError(f"MultiHeadAttention: {name} is {shape}; give a 4-D tensor "
                                  "(batch_size, num_head, seq_len, dim_head)")
    if not (q.shape[:2] == k.shape[:2] == v.shape[:2]) or q.shape[3] != k.shape[3] or k.shape[2] != v.shape[2]:
        raise DefinitionError(f"MultiHeadAttention: q {q.shape}, k {k.shape} and v {v.shape} do not fit; q and k "
                              "share (batch_size, num_head, ..., dim_head), k and v share their seq_len")


class MultiHeadAttention(Module):
    """The attention activation of needle's hw4_extra: ``softmax(q @ k^T / sqrt(d) + mask) @ v``.

    ``forward(q, k, v)`` takes ``(batch_size, num_head, seq_len, dim_head)`` tensors and returns the
    result and the attention probabilities (after dropout), as needle's does.
    """

    def __init__(self, *, dropout: float = 0.0, causal: bool = False, device: str | None = None,
                 dtype: str = "float32"):
        super().__init__()
        self.device, self.dtype, self.causal = device, dtype, bool(causal)
        self.dropout = Dropout(dropout)

    def create_causal_mask(self, i: int, j: int, device=None) -> Tensor:
        """needle's ``(1, 1, i, j)`` additive mask (see :func:`causal_mask`)."""
        return causal_mask(i, j, device=device or "cpu")

    def matmul(self, a: Tensor, b_transpose: Tensor) -> Tensor:
        """The batched product ``a[..., m, k] @ b[..., k, n]`` (one kernel over the leading axes)."""
        return ops.matmul(a, b_transpose)

    def softmax(self, logit: Tensor) -> Tensor:
        """The softmax over the last axis (one kernel, stable)."""
        return softmax(logit, -1)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        _check_heads(q, k, v)
        queries, keys, dim = q.shape[2], k.shape[2], q.shape[3]
        logits = ops.matmul(q, ops.transpose(k)) / math.sqrt(dim)  # a Python constant
        if self.causal:
            mask = causal_mask(queries, keys, dtype=logits.dtype, device=q.device)
            logits = logits + ops.broadcast_to(mask, logits.shape)
        probs = self.dropout(self.softmax(logits))
        return ops.matmul(probs, v), probs


def _check_sequence(layer: str, name: str, t, features: int) -> None:
    if not isinstance(t, Tensor) or t.ndim != 3 or t.shape[2] != features:
        shape = t.shape if isinstance(t, Tensor) else type(t).__name__
        raise DefinitionError(f"{layer}: {name} is {shape}; give a 3-D tensor (batch_size, seq_len, {features})")


class AttentionLayer(Module):
    """needle's multi-head attention layer: pre-norms of q, k and v (LayerNorm1d), projections to
    ``num_head * dim_head`` features (no bias), :class:`MultiHeadAttention` over the heads, and an
    output projection to ``out_features`` (no bias). ``forward(q, k=None, v=None)`` takes
    ``(batch_size, seq_len, features)`` tensors; k and v default to q (self-attention)."""

    def __init__(self, q_features: int, num_head: int, dim_head: int, *, k_features: int | None = None,
                 v_features: int | None = None, out_features: int | None = None, dropout: float = 0.0,
                 causal: bool = True, device: str | None = None, dtype: str = "float32"):
        super().__init__()
        k_features = q_features if k_features is None else k_features
        v_features = q_features if v_features is None else v_features
        out_features = q_features if out_features is None else out_features
        check_sizes("AttentionLayer", q_features=q_features, k_features=k_features, v_features=v_features,
                    out_features=out_features, num_head=num_head, dim_head=dim_head)
        self.device, self.dtype = device, dtype
        self.q_features, self.k_features, self.v_features = q_features, k_features, v_features
        self.out_features, self.num_head, self.dim_head = out_features, num_head, dim_head
        place = {"device": device or "cpu", "dtype": dtype}
        self.prenorm_q = LayerNorm1d(q_features, **place)
        self.prenorm_k = LayerNorm1d(k_features, **place)
        self.prenorm_v = LayerNorm1d(v_features, **place)
        inner = num_head * dim_head
        self.q_projection = Linear(q_features, inner, bias=False, **place)
        self.k_projection = Linear(k_features, inner, bias=False, **place)
        self.v_projection = Linear(v_features, inner, bias=False, **place)
        self.attn = MultiHeadAttention(dropout=dropout, causal=causal, device=device, dtype=dtype)
        self.out_projection = Linear(inner, out_features, bias=False, **place)

    def _heads(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        return ops.permute(ops.reshape(x, (batch, length, self.num_head, self.dim_head)), (0, 2, 1, 3))

    def forward(self, q: Tensor, k: Tensor | None = None, v: Tensor | None = None) -> Tensor:
        k = q if k is None else k
        v = q if v is None else v
        _check_sequence("AttentionLayer", "q", q, self.q_features)
        _check_sequence("AttentionLayer", "k", k, self.k_features)
        _check_sequence("AttentionLayer", "v", v, self.v_features)
        if not q.shape[0] == k.shape[0] == v.shape[0] or k.shape[1] != v.shape[1]:
            raise DefinitionError(f"AttentionLayer: q {q.shape}, k {k.shape} and v {v.shape} do not fit; give one "
                                  "batch_size, and k and v one seq_len")
        heads = [self._heads(proj(norm(x))) for norm, proj, x in (
            (self.prenorm_q, self.q_projection, q), (self.prenorm_k, self.k_projection, k),
            (self.prenorm_v, self.v_projection, v))]
        result, _ = self.attn(*heads)
        batch, _, length, _ = result.shape
        joined = ops.reshape(ops.permute(result, (0, 2, 1, 3)), (batch, length, self.num_head * self.dim_head))
        return self.out_projection(joined)


class TransformerLayer(Module):
    """A pre-norm transformer block as in needle's hw4_extra: ``x + dropout(attention(x))``, then
    ``x + dropout(linear2(dropout(relu(linear1(layernorm(x))))))``."""

    def __init__(self, q_features: int, num_head: int, dim_head: int, hidden_size: int, *,
                 dropout: float = 0.0, causal: bool = True, device: str | None = None, dtype: str = "float32"):
        super().__init__()
        check_sizes("TransformerLayer", q_features=q_features, hidden_size=hidden_size)
        self.device, self.dtype, self.q_features = device, dtype, q_features
        place = {"device": device or "cpu", "dtype": dtype}
        self.attn = AttentionLayer(q_features, num_head, dim_head, dropout=dropout, causal=causal, device=device,
                                   dtype=dtype)
        self.layernorm = LayerNorm1d(q_features, **place)
        self.linear1 = Linear(q_features, hidden_size, **place)
        self.linear2 = Linear(hidden_size, q_features, **place)
        self.relu = ReLU()
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        _check_sequence("TransformerLayer", "x", x, self.q_features)
        x = x + self.dropout(self.attn(x))
        hidden = self.dropout(self.relu(self.linear1(self.layernorm(x))))
        return x + self.dropout(self.linear2(hidden))


class Transformer(Module):
    """needle's transformer: a learned positional embedding (``Embedding(sequence_len,
    embedding_size)``) added to the input, then ``num_layers`` :class:`TransformerLayer` s.
    ``forward(x, h=None)`` takes ``(seq_len, batch_size, embedding_size)`` (``(batch_size, seq_len,
    embedding_size)`` with ``batch_first=True``) and returns the output and zeros of its shape, as
    needle's does (the second value stands for a recurrent model's state)."""

    def __init__(self, embedding_size: int, hidden_size: int, num_layers: int, *, num_head: int = 8,
                 dim_head: int = 32, dropout: float = 0.0, causal: bool = True, device: str | None = None,
                 dtype: str = "float32", batch_first: bool = False, sequence_len: int = 2048):
        super().__init__()
        check_sizes("Transformer", embedding_size=embedding_size, num_layers=num_layers, sequence_len=sequence_len)
        self.device, self.dtype, self.batch_first = device, dtype, bool(batch_first)
        self.embedding_size, self.sequence_len = embedding_size, sequence_len
        self.positional_embedding = Embedding(sequence_len, embedding_size, device=device or "cpu", dtype=dtype)
        self.layers = Sequential(*[
            TransformerLayer(embedding_size, num_head, dim_head, hidden_size, dropout=dropout, causal=causal,
                             device=device, dtype=dtype) for _ in range(num_layers)])

    def forward(self, x: Tensor, h=None) -> tuple[Tensor, Tensor]:
        _check_sequence("Transformer", "x", x, self.embedding_size)
        if not self.batch_first:
            x = ops.transpose(x, (0, 1))
        batch, length, _ = x.shape
        if length > self.sequence_len:
            raise DefinitionError(f"Transformer: a sequence of {length} positions is longer than the model's "
                                  f"sequence_len={self.sequence_len}; build it with sequence_len >= {length}")
        positions = np.broadcast_to(np.arange(length, dtype=self.dtype), (batch, length))
        x = x + self.positional_embedding(Tensor._wrap(np.ascontiguousarray(positions), device=x.device))
        x = self.layers(x)
        if not self.batch_first:
            x = ops.transpose(x, (0, 1))
        return x, init.zeros_like(x)
