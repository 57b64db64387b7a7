"""needle's reference apps as the homework writes them (through the name-mapping shim): hw2's
``ResidualBlock``/``MLPResNet``/``epoch`` and ``learn_model_1d``, hw4's ``ConvBN``/``ResNet9``
(modules that skip ``Module.__init__``), ``LanguageModel`` with ``epoch_general_ptb`` over a
generated PTB-style corpus; the block against numpy and finite differences; and the Tensor
surface these programs touch (``make_const``, ``make_from_op``, ``str``, ``TENSOR_COUNTER``)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from .needle_checks import gradient_check
from .needle_shim import ndl

nn = ndl.nn


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)


# -- hw2: apps/mlp_resnet.py as written there -------------------------------------------------------
def ResidualBlock(dim, hidden_dim, norm=nn.BatchNorm1d, drop_prob=0.1, dtype="float32"):  # noqa: N802 - hw2's name
    return nn.Sequential(nn.Residual(nn.Sequential(
        nn.Linear(dim, hidden_dim, dtype=dtype), norm(hidden_dim, dtype=dtype), nn.ReLU(), nn.Dropout(drop_prob),
        nn.Linear(hidden_dim, dim, dtype=dtype), norm(dim, dtype=dtype))), nn.ReLU())


def MLPResNet(dim, hidden_dim=100, num_blocks=3, num_classes=10, norm=nn.BatchNorm1d, drop_prob=0.1):  # noqa: N802
    return nn.Sequential(nn.Linear(dim, hidden_dim), nn.ReLU(),
                         *[ResidualBlock(hidden_dim, hidden_dim // 2, norm, drop_prob) for _ in range(num_blocks)],
                         nn.Linear(hidden_dim, num_classes))


def epoch(dataloader, model, opt=None):
    np.random.seed(4)
    loss_fn = nn.SoftmaxLoss()
    model.train() if opt else model.eval()
    errors, losses = 0.0, []
    for X, y in dataloader:
        if opt:
            opt.reset_grad()
        logits = model(X.reshape((X.shape[0], -1)))
        loss = loss_fn(logits, y)
        errors += (logits.numpy().argmax(axis=1) != y.numpy()).sum()
        if opt:
            loss.backward()
            opt.step()
        losses.append(loss.numpy())
    return errors / len(dataloader.dataset), np.mean(losses)


def _numpy_block(x, params, norm, eps=1e-5):
    """ResidualBlock(drop_prob=0) in numpy: training-mode batch statistics or layer statistics."""
    w1, b1, g1, c1, w2, b2, g2, c2 = params

    def normalise(z, gamma, beta):
        axis = 0 if norm == "batch" else 1
        mean, var = z.mean(axis, keepdims=True), z.var(axis, keepdims=True)
        return gamma * (z - mean) / np.sqrt(var + eps) + beta

    h = np.maximum(normalise(x @ w1 + b1, g1, c1), 0)
    return np.maximum(normalise(h @ w2 + b2, g2, c2) + x, 0)


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_residual_block_against_numpy_and_finite_differences(norm):
    layer = nn.BatchNorm1d if norm == "batch" else nn.LayerNorm1d
    block = ResidualBlock(5, 4, layer, drop_prob=0.0, dtype="float64")
    params = [p.numpy() for p in block.parameters()]
    assert [p.shape for p in params] == [(5, 4), (1, 4), (4,), (4,), (4, 5), (1, 5), (5,), (5,)]
    assert sum(p.size for p in params) == 5 * 4 + 4 + 2 * 4 + 4 * 5 + 5 + 2 * 5
    x = np.random.randn(6, 5)
    np.testing.assert_allclose(block(ndl.Tensor(x)).numpy(), _numpy_block(x, params, norm), rtol=1e-10, atol=1e-12)
    gradient_check(block, ndl.Tensor(x), tol=1e-5, backward=True)


def test_hw2_residual_block_and_resnet_parameter_counts():
    def count(model):
        return np.sum([np.prod(p.shape) for p in model.parameters()])

    assert count(ResidualBlock(15, 2, nn.BatchNorm1d, 0.5)) == 111
    assert count(MLPResNet(15, 5, num_blocks=2, num_classes=5, norm=nn.LayerNorm1d)) == 80 + 2 * 41 + 30


def test_hw2_epoch_trains_and_evaluates_an_mlp_resnet():
    rng = np.random.default_rng(1)
    images = rng.random((40, 8, 8, 1), dtype=np.float32)
    labels = (images.reshape(40, -1).mean(1) > 0.5).astype(np.uint8)
    loader = ndl.data.DataLoader(dataset=ndl.data.NDArrayDataset(images, labels), batch_size=10, shuffle=True)
    model = MLPResNet(64, 16, num_blocks=1, num_classes=2)
    opt = ndl.optim.Adam(model.parameters(), lr=0.01, weight_decay=0.001)
    results = [epoch(loader, model, opt) for _ in range(6)]
    error, loss = epoch(loader, model)
    assert all(0.0 <= e <= 1.0 and np.isfinite(lo) for e, lo in results)
    assert results[-1][1] < results[0][1]  # it learns
    assert not any(m.training for m in model.modules()) and 0.0 <= error <= 1.0 and np.isfinite(loss)


def test_hw2_learn_model_1d_leaves_the_gradients_unchanged_by_the_step():
    rng = np.random.default_rng(42)
    X, y = rng.random((96, 12)).astype(np.float32), rng.integers(0, 4, 96).astype(np.uint8)
    for optimizer, kwargs in ((ndl.optim.SGD, {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.01}),
                              (ndl.optim.Adam, {"lr": 0.001, "weight_decay": 0.01})):
        model = nn.Sequential(nn.Linear(12, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))
        opt = optimizer(model.parameters(), **kwargs)
        for X0, y0 in zip(np.array_split(X, 3), np.array_split(y, 3)):
            opt.reset_grad()
            loss = nn.SoftmaxLoss()(model(ndl.Tensor(X0, dtype="float32")), ndl.Tensor(y0))
            loss.backward()
            before = model.parameters()[0].grad.detach().cached_data.copy()
            opt.step()
            np.testing.assert_array_equal(model.parameters()[0].grad.detach().cached_data, before)


# -- hw4: apps/models.py as written there -----------------------------------------------------------
class ConvBN(ndl.nn.Module):
    def __init__(self, a, b, k, s, device=None, dtype="float32"):  # no super().__init__(), as often written
        self.conv = nn.Conv(a, b, k, stride=s, device=device, dtype=dtype)
        self.bn = nn.BatchNorm2d(b, device=device, dtype=dtype)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class ResNet9(ndl.nn.Module):
    def __init__(self, device=None, dtype="float32"):
        super().__init__()
        self.model = nn.Sequential(
            ConvBN(3, 16, 7, 4, device, dtype), ConvBN(16, 32, 3, 2, device, dtype),
            nn.Residual(nn.Sequential(ConvBN(32, 32, 3, 1, device, dtype), ConvBN(32, 32, 3, 1, device, dtype))),
            ConvBN(32, 64, 3, 2, device, dtype), ConvBN(64, 128, 3, 2, device, dtype),
            nn.Residual(nn.Sequential(ConvBN(128, 128, 3, 1, device, dtype), ConvBN(128, 128, 3, 1, device, dtype))),
            nn.Flatten(), nn.Linear(128, 128, device=device, dtype=dtype), nn.ReLU(),
            nn.Linear(128, 10, device=device, dtype=dtype))

    def forward(self, x):
        return self.model(x)


@pytest.mark.slow
def test_hw4_resnet9_trains_a_step_and_switches_modes():
    model = ResNet9(device=ndl.cpu())
    assert sum(np.prod(p.shape) for p in model.parameters()) == 431946  # needle's ResNet9
    x = ndl.Tensor(np.random.randn(2, 3, 16, 16), dtype="float32", device=ndl.cpu())
    opt = ndl.optim.Adam(model.parameters(), lr=0.001, weight_decay=0.001)
    logits = model(x)
    assert logits.shape == (2, 10)
    loss = nn.SoftmaxLoss()(logits, ndl.Tensor(np.array([1, 3])))
    opt.reset_grad()
    loss.backward()
    opt.step()
    model.eval()
    assert not model.model.modules[0].bn.training
    assert np.isfinite(model(x).numpy()).all()


class LanguageModel(nn.Module):
    def __init__(self, embedding_size, output_size, hidden_size, num_layers=1, seq_model="rnn", seq_len=40,
                 device=None, dtype="float32"):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(output_size, embedding_size, device=device, dtype=dtype)
        model = nn.RNN if seq_model == "rnn" else nn.LSTM
        self.seq_model = model(embedding_size, hidden_size, num_layers, device=device, dtype=dtype)
        self.linear = nn.Linear(hidden_size, output_size, device=device, dtype=dtype)

    def forward(self, x, h=None):
        seq_len, bs = x.shape
        out, h = self.seq_model(self.embedding(x), h)
        return self.linear(out.reshape((seq_len * bs, self.hidden_size))), h


def epoch_general_ptb(data, model, seq_len=40, loss_fn=nn.SoftmaxLoss(),  # noqa: B008 - hw4's signature
                      opt=None, clip=None, device=None, dtype="float32"):
    np.random.seed(4)
    model.train() if opt else model.eval()
    h, correct, total, losses = None, 0, 0, []
    for i in range(0, data.shape[0] - 1, seq_len):
        X, y = ndl.data.get_batch(data, i, seq_len, device=device, dtype=dtype)
        out, h = model(X, h)
        h = tuple(t.detach() for t in h) if isinstance(h, tuple) else h.detach()
        loss = loss_fn(out, y)
        if opt:
            opt.reset_grad()
            loss.backward()
            if clip:
                opt.clip_grad_norm(clip)
            opt.step()
        correct += np.sum(out.numpy().argmax(axis=1) == y.numpy())
        total += y.shape[0]
        losses.append(loss.numpy() * y.shape[0])
    return correct / total, np.sum(losses) / total


@pytest.fixture
def ptb(tmp_path):
    words = ["the", "cat", "sat", "on", "a", "mat"]
    for name in ("train.txt", "test.txt"):
        (tmp_path / name).write_text("".join(" " + " ".join(words[k % 6] for k in range(j, j + 6)) + " \n"
                                             for j in range(30)))
    return tmp_path


@pytest.mark.parametrize("seq_model", ["rnn", "lstm"])
def test_hw4_language_model_learns_a_corpus_with_float_ids(ptb, seq_model):
    corpus = ndl.data.Corpus(str(ptb), max_lines=30)
    data = ndl.data.batchify(corpus.train, 4, device=ndl.cpu(), dtype="float32")
    X, y = ndl.data.get_batch(data, 2, 5, device=ndl.cpu())
    assert X.shape == (5, 4) and y.shape == (20,) and X.dtype == "float32" and not X.requires_grad
    ntokens = len(corpus.dictionary)
    np.random.seed(0)
    model = LanguageModel(6, ntokens, hidden_size=8, num_layers=2, seq_model=seq_model, device=ndl.cpu())
    out, h = model(X)
    assert out.shape == (20, ntokens)
    assert (h[0].shape if seq_model == "lstm" else h.shape) == (2, 4, 8)
    opt = ndl.optim.Adam(model.parameters(), lr=0.01)
    first = epoch_general_ptb(data, model, seq_len=5, opt=opt, clip=0.25)
    for _ in range(4):
        last = epoch_general_ptb(data, model, seq_len=5, opt=opt, clip=0.25)
    assert last[1] < first[1] and 0.0 <= last[0] <= 1.0
    accuracy, loss = epoch_general_ptb(data, model, seq_len=5)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0


# -- the Tensor surface of these programs --------------------------------------------------------------
def test_make_const_and_make_from_op():
    x = ndl.Tensor(np.arange(3.0))
    const = ndl.Tensor.make_const(x)
    assert not const.requires_grad and const.op is None
    x.data[1] = 7.0  # needle's constant shares the tensor's storage
    np.testing.assert_array_equal(const.numpy(), [0.0, 7.0, 2.0])
    assert ndl.Tensor.make_const(np.ones(2), requires_grad=True).requires_grad
    y = ndl.Tensor.make_from_op(ndl.ops.Negate()(x).op, [x])
    np.testing.assert_array_equal(y.numpy(), [-0.0, -7.0, -2.0])
    assert y.inputs == (x,) and y.requires_grad


def test_str_is_the_values_as_numpy_prints_them():
    values = np.array([[1.5, 2.0], [3.0, 4.25]])
    assert str(ndl.Tensor(values)) == str(values)
    assert repr(ndl.Tensor(values)).startswith("Tensor(")


def test_tensor_counter_counts_the_live_tensors():
    gc.collect()
    before = ndl.autograd.TENSOR_COUNTER
    made = [ndl.Tensor(np.ones(2)) for _ in range(7)]
    assert ndl.autograd.TENSOR_COUNTER == before + 7
    del made
    gc.collect()
    assert ndl.autograd.TENSOR_COUNTER == before
    with pytest.raises(AttributeError, match="has no attribute 'NO_SUCH_NAME'"):
        ndl.autograd.NO_SUCH_NAME  # noqa: B018
