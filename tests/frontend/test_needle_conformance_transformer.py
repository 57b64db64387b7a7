"""needle's hw4_extra transformer tests as conformance programs (through the name-mapping shim):
MultiHeadAttention, AttentionLayer, TransformerLayer and Transformer against numpy
reimplementations that read the modules' own parameters, with and without the causal mask and
dropout (the dropout masks are needle's draws from the global generator, replayed in the oracle),
their gradients against central differences, and the errors for inputs that do not fit."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.errors import DefinitionError

from .needle_checks import gradient_check
from .needle_shim import ndl

nn = ndl.nn


class Draws:
    """needle's dropout masks, replayed: ``rand(*shape) <= 1 - p`` from the global generator."""

    def __init__(self, p):
        self.p = p

    def __call__(self, x):
        keep = np.random.rand(*x.shape) <= 1 - self.p
        return x * keep / (1 - self.p) if self.p else x


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attention(q, k, v, causal, drop):
    logits = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if causal:
        i, j = q.shape[2], k.shape[2]
        logits = logits - np.finfo(np.float32).max * np.triu(np.ones((i, j)), j - i + 1)
    probs = drop(softmax(logits))
    return probs @ v, probs


def layer_norm(x, norm):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return norm.weight.numpy() * (x - mean) / np.sqrt(var + norm.eps) + norm.bias.numpy()


def attention_layer(layer, q, k, v, drop):
    def heads(x, norm, projection):
        y = layer_norm(x, norm) @ projection.weight.numpy()
        return y.reshape(*x.shape[:2], layer.num_head, layer.dim_head).transpose(0, 2, 1, 3)

    out, _ = attention(heads(q, layer.prenorm_q, layer.q_projection), heads(k, layer.prenorm_k, layer.k_projection),
                       heads(v, layer.prenorm_v, layer.v_projection), layer.attn.causal, drop)
    joined = out.transpose(0, 2, 1, 3).reshape(q.shape[0], q.shape[1], -1)
    return joined @ layer.out_projection.weight.numpy()


def linear(x, module):
    return x @ module.weight.numpy() + module.bias.numpy().reshape(-1)


def transformer_layer(layer, x, drop):
    x = x + drop(attention_layer(layer.attn, x, x, x, drop))
    hidden = drop(np.maximum(linear(layer_norm(x, layer.layernorm), layer.linear1), 0))
    return x + drop(linear(hidden, layer.linear2))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_attention_activation(causal, dropout):
    np.random.seed(19943)
    q = np.random.randn(2, 3, 7, 8).astype(np.float32)
    layer = nn.MultiHeadAttention(dropout=dropout, causal=causal, device=ndl.cpu())
    np.random.seed(5)
    result, probs = layer(ndl.Tensor(q), ndl.Tensor(q), ndl.Tensor(q))
    np.random.seed(5)
    want, want_probs = attention(q.astype(np.float64), q, q, causal, Draws(dropout))
    np.testing.assert_allclose(probs.numpy(), want_probs, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(result.numpy(), want, atol=1e-5, rtol=1e-5)
    if causal:
        assert not np.triu(probs.numpy(), 1).any()
    assert result.shape == (2, 3, 7, 8) and probs.shape == (2, 3, 7, 7)


def test_attention_with_more_keys_than_queries_and_its_mask():
    q, k = np.random.randn(1, 2, 3, 4), np.random.randn(1, 2, 5, 4)
    v = np.random.randn(1, 2, 5, 6)
    layer = nn.MultiHeadAttention(causal=True)
    result, probs = layer(ndl.Tensor(q), ndl.Tensor(k), ndl.Tensor(v))
    want, want_probs = attention(q, k, v, True, Draws(0.0))
    np.testing.assert_allclose(probs.numpy(), want_probs, atol=1e-6)
    np.testing.assert_allclose(result.numpy(), want, atol=1e-6)
    mask = layer.create_causal_mask(3, 5, ndl.cpu()).numpy()
    assert mask.shape == (1, 1, 3, 5) and mask[0, 0, 0, 3] == -np.finfo(np.float32).max and mask[0, 0, 0, 2] == 0


@pytest.mark.parametrize(("causal", "dropout"), [(False, 0.0), (True, 0.1)])
def test_attention_layer(causal, dropout):
    np.random.seed(19943)
    q, k, v = (np.random.randn(2, 5, 6).astype(np.float32) for _ in range(3))
    layer = nn.AttentionLayer(6, 3, 4, dropout=dropout, causal=causal, device=ndl.cpu())
    np.random.seed(7)
    got = layer(ndl.Tensor(q), ndl.Tensor(k), ndl.Tensor(v)).numpy()
    np.random.seed(7)
    np.testing.assert_allclose(got, attention_layer(layer, q, k, v, Draws(dropout)), atol=1e-5, rtol=1e-5)
    assert got.shape == (2, 5, 6)


def test_attention_layer_with_its_own_feature_sizes_and_self_attention():
    layer = nn.AttentionLayer(4, 2, 3, k_features=5, v_features=6, out_features=7, causal=False)
    q, k, v = np.random.randn(2, 3, 4), np.random.randn(2, 5, 5), np.random.randn(2, 5, 6)
    got = layer(ndl.Tensor(q), ndl.Tensor(k), ndl.Tensor(v)).numpy()
    np.testing.assert_allclose(got, attention_layer(layer, q, k, v, Draws(0.0)), atol=1e-5)
    self_layer = nn.AttentionLayer(4, 2, 3)
    got = self_layer(ndl.Tensor(q)).numpy()
    np.testing.assert_allclose(got, attention_layer(self_layer, q, q, q, Draws(0.0)), atol=1e-5)


@pytest.mark.parametrize(("causal", "dropout"), [(True, 0.0), (False, 0.1)])
def test_transformer_layer(causal, dropout):
    np.random.seed(19943)
    x = np.random.randn(2, 5, 6).astype(np.float32)
    layer = nn.TransformerLayer(6, 2, 4, 8, dropout=dropout, causal=causal, device=ndl.cpu())
    np.random.seed(3)
    got = layer(ndl.Tensor(x)).numpy()
    np.random.seed(3)
    np.testing.assert_allclose(got, transformer_layer(layer, x, Draws(dropout)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("batch_first", "dropout"), [(True, 0.1), (False, 0.0)])
def test_transformer_model(batch_first, dropout):
    np.random.seed(19943)
    x = np.random.randn(3, 4, 6).astype(np.float32)
    model = nn.Transformer(6, 8, 2, num_head=2, dim_head=4, dropout=dropout, causal=True, device=ndl.cpu(),
                           batch_first=batch_first, sequence_len=16)
    np.random.seed(11)
    result, state = model(ndl.Tensor(x))
    np.random.seed(11)
    y = x if batch_first else x.transpose(1, 0, 2)
    y = y + model.positional_embedding.weight.numpy()[: y.shape[1]]
    for layer in model.layers.modules:
        y = transformer_layer(layer, y, Draws(dropout))
    want = y if batch_first else y.transpose(1, 0, 2)
    np.testing.assert_allclose(result.numpy(), want, atol=1e-4, rtol=1e-4)
    assert state.shape == result.shape and not state.numpy().any()


def test_transformer_parameters_and_evaluation_mode():
    model = nn.Transformer(6, 8, 2, num_head=2, dim_head=4, dropout=0.5, batch_first=True, sequence_len=9)
    sizes = sorted(int(np.prod(p.shape)) for p in model.parameters())
    per_layer = [6] * 8 + [6 * 8] * 4 + [6 * 8, 8, 8 * 6, 6]  # 4 norms, 4 projections, the MLP
    assert sizes == sorted([9 * 6] + per_layer * 2)
    model.eval()
    x = ndl.Tensor(np.random.randn(2, 3, 6))
    first, second = model(x)[0].numpy(), model(x)[0].numpy()
    np.testing.assert_array_equal(first, second)  # no dropout in evaluation


def test_attention_gradients_against_central_differences():
    layer = nn.MultiHeadAttention(causal=True)
    q, k, v = (ndl.Tensor(np.random.randn(1, 2, 3, 2)) for _ in range(3))
    gradient_check(lambda a, b, c: layer(a, b, c)[0], q, k, v, tol=1e-5)


def test_attention_layer_trains_its_parameters():
    layer = nn.AttentionLayer(4, 2, 3, causal=True)
    x = ndl.Tensor(np.random.randn(2, 3, 4), requires_grad=True)
    layer(x).sum().backward()
    assert x.grad.shape == (2, 3, 4)
    for parameter in layer.parameters():
        assert parameter.grad is not None and parameter.grad.shape == parameter.shape


@pytest.mark.parametrize(("call", "message"), [
    (lambda: nn.MultiHeadAttention()(*(ndl.Tensor(np.ones((2, 3, 4))),) * 3),
     r"MultiHeadAttention: q is \(2, 3, 4\); give a 4-D tensor \(batch_size, num_head, seq_len, dim_head\)"),
    (lambda: nn.MultiHeadAttention()(ndl.Tensor(np.ones((1, 2, 3, 4))), ndl.Tensor(np.ones((1, 2, 3, 5))),
                                     ndl.Tensor(np.ones((1, 2, 3, 4)))),
     r"MultiHeadAttention: q \(1, 2, 3, 4\), k \(1, 2, 3, 5\) and v \(1, 2, 3, 4\) do not fit"),
    (lambda: nn.AttentionLayer(4, 2, 3)(ndl.Tensor(np.ones((2, 3, 5)))),
     r"AttentionLayer: q is \(2, 3, 5\); give a 3-D tensor \(batch_size, seq_len, 4\)"),
    (lambda: nn.AttentionLayer(4, 2, 3)(ndl.Tensor(np.ones((2, 3, 4))), ndl.Tensor(np.ones((2, 5, 4))),
                                        ndl.Tensor(np.ones((2, 4, 4)))),
     r"AttentionLayer: q \(2, 3, 4\), k \(2, 5, 4\) and v \(2, 4, 4\) do not fit; give one batch_size"),
    (lambda: nn.AttentionLayer(4, 0, 3), r"AttentionLayer: num_head must be a positive integer, got 0"),
    (lambda: nn.TransformerLayer(4, 2, 3, 8)(ndl.Tensor(np.ones((2, 4)))),
     r"TransformerLayer: x is \(2, 4\); give a 3-D tensor \(batch_size, seq_len, 4\)"),
    (lambda: nn.TransformerLayer(4, 2, 3, 8, dropout=1.5), r"Dropout: p must be a number in \[0, 1\)"),
    (lambda: nn.Transformer(4, 8, 1, batch_first=True, sequence_len=3)(ndl.Tensor(np.ones((2, 5, 4)))),
     r"Transformer: a sequence of 5 positions is longer than the model's sequence_len=3; build it with "
     r"sequence_len >= 5"),
    (lambda: nn.Transformer(4, 8, 0), r"Transformer: num_layers must be a positive integer, got 0"),
    (lambda: nn.Transformer(4, 8, 1)("text"), r"Transformer: x is str; give a 3-D tensor"),
])
def test_bad_input_is_refused_at_the_call(call, message):
    with pytest.raises(DefinitionError, match=message):
        call()


class TransformerLanguageModel(nn.Module):
    """hw4_extra's LanguageModel with ``seq_model='transformer'``: embedding, Transformer, linear."""

    def __init__(self, embedding_size, output_size, hidden_size, num_layers, seq_len):
        super().__init__()
        self.embedding = nn.Embedding(output_size, embedding_size)
        self.seq_model = nn.Transformer(embedding_size, hidden_size, num_layers, num_head=2, dim_head=4,
                                        sequence_len=seq_len)
        self.linear = nn.Linear(embedding_size, output_size)

    def forward(self, x, h=None):
        seq_len, batch = x.shape
        out, h = self.seq_model(self.embedding(x), h)
        return self.linear(out.reshape((seq_len * batch, out.shape[2]))), h


@pytest.mark.slow
def test_a_transformer_language_model_learns_a_sequence():
    ids = np.random.randint(0, 7, size=(6, 3)).astype(np.float32)
    targets = ndl.Tensor(np.roll(ids, -1, axis=0).reshape(-1))
    model = TransformerLanguageModel(8, 7, 16, 1, seq_len=6)
    opt = ndl.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(8):
        opt.reset_grad()
        logits, state = model(ndl.Tensor(ids))
        loss = nn.SoftmaxLoss()(logits, targets)
        loss.backward()
        opt.step()
        losses.append(float(loss.numpy()))
    assert logits.shape == (18, 7) and state.shape == (6, 3, 8)
    assert all(p.grad is not None for p in model.parameters())
    assert losses[-1] < losses[0]
