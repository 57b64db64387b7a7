"""needle's optimizers and data pipeline as its homework tests use them (through the name-mapping
shim): parameter values over several training steps of a small MLP against a numpy
reimplementation of the notes' update rules (SGD with momentum and weight decay, Adam), and the
DataLoader's batches, shuffling, MNIST reading and transforms against numpy."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from frontend.errors import DataError
from tensorir.errors import DefinitionError

from .needle_shim import ndl

FEATURES, HIDDEN, CLASSES, BATCH = 6, 8, 3, 16


def mlp_gradients(params, x, y):
    """The loss and the gradients of Linear-ReLU-Linear + softmax loss, by hand in numpy."""
    w1, b1, w2, b2 = params
    z1 = x @ w1 + b1
    a = np.maximum(z1, 0)
    z2 = a @ w2 + b2
    e = np.exp(z2 - z2.max(1, keepdims=True))
    n = len(y)
    loss = np.mean(np.log(np.exp(z2).sum(1)) - z2[np.arange(n), y])
    dz2 = (e / e.sum(1, keepdims=True) - np.eye(CLASSES)[y]) / n
    dz1 = (dz2 @ w2.T) * (z1 > 0)
    return loss, [x.T @ dz1, dz1.sum(0, keepdims=True), a.T @ dz2, dz2.sum(0, keepdims=True)]


def sgd(lr, momentum=0.0, weight_decay=0.0):
    state = {}

    def update(k, w, g):
        g = g + weight_decay * w
        state[k] = momentum * state.get(k, 0.0) + (1 - momentum) * g
        return w - lr * state[k]
    return update


def adam(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    moments, steps = {}, {}

    def update(k, w, g):
        g = g + weight_decay * w
        steps[k] = t = steps.get(k, 0) + 1
        m, v = moments.get(k, (0.0, 0.0))
        m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g
        moments[k] = m, v
        return w - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return update


def train(optimizer, reference, steps=5, **kwargs):
    """A few steps of needle's ``learn_model_1d`` on the frontend and in numpy; returns both
    runs' parameters and losses."""
    np.random.seed(42)
    model = ndl.nn.Sequential(ndl.nn.Linear(FEATURES, HIDDEN, dtype="float64"), ndl.nn.ReLU(),
                              ndl.nn.Linear(HIDDEN, CLASSES, dtype="float64"))
    params = [p.numpy() for p in model.parameters()]
    opt = optimizer(model.parameters(), **kwargs)
    loss_fn = ndl.nn.SoftmaxLoss()
    losses = []
    for _ in range(steps):
        x, y = np.random.randn(BATCH, FEATURES), np.random.randint(0, CLASSES, BATCH)
        opt.reset_grad()
        loss = loss_fn(model(ndl.Tensor(x)), ndl.Tensor(y.astype(np.uint8)))
        loss.backward()
        grad_before = model.parameters()[0].grad.detach().cached_data.copy()
        opt.step()
        np.testing.assert_array_equal(model.parameters()[0].grad.numpy(), grad_before)  # grads kept as they were
        expected_loss, grads = mlp_gradients(params, x, y)
        params = [reference(k, w, g) for k, (w, g) in enumerate(zip(params, grads))]
        losses.append((loss.numpy(), expected_loss))
    return [p.numpy() for p in model.parameters()], params, losses


@pytest.mark.parametrize(("optimizer", "reference", "kwargs"), [
    (ndl.optim.SGD, sgd(0.1), {"lr": 0.1}),
    (ndl.optim.SGD, sgd(0.01, momentum=0.9), {"lr": 0.01, "momentum": 0.9}),
    (ndl.optim.SGD, sgd(0.05, momentum=0.5, weight_decay=0.01), {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.01}),
    (ndl.optim.Adam, adam(), {}),
    (ndl.optim.Adam, adam(0.001, 0.8, 0.99, 1e-6, 0.01),
     {"lr": 0.001, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.01}),
])
def test_parameters_follow_the_update_rules(optimizer, reference, kwargs):
    ours, theirs, losses = train(optimizer, reference, **kwargs)
    for got, want in losses:
        np.testing.assert_allclose(got, want, rtol=1e-10)
    for got, want in zip(ours, theirs):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_clip_grad_norm_scales_to_the_global_norm():
    p, q = ndl.nn.Parameter(np.array([3.0, 0.0])), ndl.nn.Parameter(np.array([[4.0]]))
    p.grad, q.grad = ndl.Tensor(np.array([3.0, 0.0])), ndl.Tensor(np.array([[4.0]]))
    opt = ndl.optim.SGD([p, q], lr=0.1)
    assert opt.clip_grad_norm(1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(q.grad.numpy(), [[0.8]], rtol=1e-5)
    assert opt.clip_grad_norm(10.0) == pytest.approx(1.0, rel=1e-5)  # under the bound: unchanged
    np.testing.assert_allclose(q.grad.numpy(), [[0.8]], rtol=1e-5)


def test_a_gradient_of_another_shape_is_refused_at_the_step():
    p = ndl.nn.Parameter(np.ones(2))
    p.grad = ndl.Tensor(np.ones(3))
    with pytest.raises(DefinitionError, match=r"SGD.step: a parameter of shape \(2,\) has a gradient of shape \(3,\)"):
        ndl.optim.SGD([p]).step()


def test_needles_defaults():
    p = ndl.nn.Parameter(np.ones(3))
    sgd_default, adam_default = ndl.optim.SGD([p]), ndl.optim.Adam([p])
    assert sgd_default.lr == 0.01 and sgd_default.momentum == 0.0 and sgd_default.weight_decay == 0.0
    assert (adam_default.lr, adam_default.beta1, adam_default.beta2, adam_default.eps) == (0.01, 0.9, 0.999, 1e-8)


def test_a_users_optimizer_subclass_with_needles_constructor():
    class PlainSGD(ndl.optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params)
            self.lr = lr

        def step(self):
            for p in self.params:
                p.data = p.data - self.lr * p.grad.data  # needle's idiom: values only, no graph

    w0 = np.random.randn(3)
    w = ndl.nn.Parameter(w0.copy())
    opt = PlainSGD([w])
    (w * w).sum().backward()
    opt.step()
    np.testing.assert_allclose(w.numpy(), w0 - 0.1 * 2 * w0, rtol=1e-12)
    assert w.op is None and w.requires_grad
    opt.reset_grad()
    assert w.grad is None


# -- data (hw2's test_dataloader_*, test_flip_horizontal, test_random_crop, test_mnist_dataset) ----------
def test_ndarray_dataset_batches_in_order_and_shuffled_as_needle():
    a, b = np.random.rand(10, 2, 3), np.arange(10)
    dataset = ndl.data.NDArrayDataset(a, b)
    batches = list(ndl.data.DataLoader(dataset, batch_size=4, shuffle=False))
    assert [len(x) for x, _ in batches] == [4, 4, 2]
    for k, (x, y) in enumerate(batches):
        assert isinstance(x, ndl.Tensor) and not x.requires_grad
        np.testing.assert_array_equal(x.numpy(), a[4 * k:4 * k + 4])
        np.testing.assert_array_equal(y.numpy(), b[4 * k:4 * k + 4])
    np.random.seed(0)
    shuffled = [y.numpy() for _, y in ndl.data.DataLoader(dataset, batch_size=3, shuffle=True)]
    np.random.seed(0)
    order = np.random.permutation(10)
    want = np.array_split(order, range(3, 10, 3))
    assert [list(s) for s in shuffled] == [list(w) for w in want]
    single = list(ndl.data.DataLoader(ndl.data.NDArrayDataset(a), batch_size=5))
    assert len(single) == 2 and len(single[0]) == 1


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_files(tmp_path):
    rng = np.random.default_rng(3)
    images, labels = rng.integers(0, 256, (7, 28, 28)), rng.integers(0, 10, 7)
    write_idx(tmp_path / "images.gz", images)
    write_idx(tmp_path / "labels.gz", labels)
    return str(tmp_path / "images.gz"), str(tmp_path / "labels.gz"), images, labels


def test_parse_mnist_and_the_mnist_dataset(mnist_files):
    image_file, label_file, images, labels = mnist_files
    x, y = ndl.data.parse_mnist(image_file, label_file)
    assert x.dtype == np.float32 and x.shape == (7, 784) and y.dtype == np.uint8
    np.testing.assert_allclose(x, images.reshape(7, 784) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    dataset = ndl.data.MNISTDataset(image_file, label_file)
    assert len(dataset) == 7
    for k, (bx, by) in enumerate(ndl.data.DataLoader(dataset, batch_size=1)):
        truth = dataset[k:k + 1]
        np.testing.assert_allclose(bx.numpy().flatten(), truth[0].reshape(-1))
        np.testing.assert_array_equal(by.numpy(), truth[1])


def test_transforms_draw_what_needle_draws(mnist_files):
    image_file, label_file, images, _ = mnist_files
    dataset = ndl.data.MNISTDataset(image_file, label_file, transforms=[
        ndl.data.RandomCrop(3), ndl.data.RandomFlipHorizontal(0.5)])
    np.random.seed(5)
    got = [dataset[k][0] for k in range(7)]
    np.random.seed(5)
    for k in range(7):
        image = (images[k] / 255.0).astype(np.float32).reshape(28, 28, 1)
        shift_x, shift_y = np.random.randint(low=-3, high=4, size=2)
        padded = np.pad(image, ((3, 3), (3, 3), (0, 0)))
        image = padded[3 + shift_x:3 + shift_x + 28, 3 + shift_y:3 + shift_y + 28, :]
        if np.random.rand() < 0.5:
            image = np.flip(image, axis=1)
        np.testing.assert_allclose(got[k], image.reshape(-1), rtol=1e-6)


def test_a_users_dataset_subclass_with_needles_constructor():
    class Squares(ndl.data.Dataset):
        def __init__(self, n, transforms=None):
            super().__init__(transforms)
            self.values = np.arange(n, dtype=np.float32)

        def __len__(self):
            return len(self.values)

        def __getitem__(self, index):
            return self.apply_transforms(self.values[index] ** 2)  # one bare array per sample

    batches = [x.numpy() for (x,) in ndl.data.DataLoader(Squares(5, [lambda v: v + 1]), batch_size=2)]
    np.testing.assert_array_equal(np.concatenate(batches), np.arange(5.0) ** 2 + 1)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: ndl.data.NDArrayDataset(np.ones(3), np.ones(4)), r"NDArrayDataset: the arrays must share"),
    (lambda: ndl.data.NDArrayDataset(), r"NDArrayDataset: give at least one array"),
    (lambda: ndl.data.parse_mnist("/nonexistent/images.gz", "/nonexistent/labels.gz"), r"/nonexistent/images.gz"),
])
def test_bad_input_is_refused_at_the_call(call, message):
    with pytest.raises(DataError, match=message):
        call()
