"""Every op: forward against numpy, gradient against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import ops

from .helpers import gradient_check


@pytest.fixture
def data(rng):
    return {
        "a": rng.standard_normal((3, 4)),
        "b": rng.standard_normal((3, 4)),
        "row": rng.standard_normal((4,)),
        "col": rng.standard_normal((3, 1)),
        "pos": rng.uniform(0.5, 2.0, (3, 4)),
    }


def forward(fn, *arrays):
    return fn(*[nf.Tensor(np.asarray(a, dtype=np.float64)) for a in arrays]).numpy()


BINARY = [
    ("add", lambda x, y: x + y, np.add),
    ("subtract", lambda x, y: x - y, np.subtract),
    ("multiply", lambda x, y: x * y, np.multiply),
    ("divide", lambda x, y: x / y, np.divide),
]


@pytest.mark.parametrize("name, fn, reference", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("other", ["b", "row", "col"])
def test_binary_broadcasting(name, fn, reference, other, data):
    a, b = data["a"], data["pos"] if name == "divide" and other == "b" else data[other]
    if name == "divide":
        b = np.abs(b) + 0.5
    np.testing.assert_allclose(forward(fn, a, b), reference(a, b), rtol=1e-12)
    gradient_check(fn, a, b)


@pytest.mark.parametrize("expr, reference", [
    (lambda x: x + 2.5, lambda x: x + 2.5), (lambda x: 2.5 - x, lambda x: 2.5 - x),
    (lambda x: x * -3.0, lambda x: x * -3.0), (lambda x: x / 4.0, lambda x: x / 4.0),
    (lambda x: 3.0 / x, lambda x: 3.0 / x), (lambda x: x ** 2, lambda x: x ** 2),
    (lambda x: x ** 1.5, lambda x: x ** 1.5), (lambda x: 2.0 ** x, lambda x: 2.0 ** x),
    (lambda x: -x, lambda x: -x),
], ids=["add", "rsub", "mul", "div", "rdiv", "square", "pow", "rpow", "neg"])
def test_scalar_ops(expr, reference, data):
    x = data["pos"]
    np.testing.assert_allclose(forward(expr, x), reference(x), rtol=1e-12)
    gradient_check(expr, x)


def test_power_of_two_tensors(data):
    np.testing.assert_allclose(forward(ops.power, data["pos"], data["b"]), data["pos"] ** data["b"], rtol=1e-12)
    gradient_check(ops.power, data["pos"], data["b"])


UNARY = [
    ("exp", ops.exp, np.exp, "a"), ("log", ops.log, np.log, "pos"), ("tanh", ops.tanh, np.tanh, "a"),
    ("sigmoid", ops.sigmoid, lambda x: 1 / (1 + np.exp(-x)), "a"), ("relu", ops.relu, lambda x: x * (x > 0), "a"),
]


@pytest.mark.parametrize("name, fn, reference, key", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, fn, reference, key, data):
    np.testing.assert_allclose(forward(fn, data[key]), reference(data[key]), rtol=1e-12, atol=1e-15)
    gradient_check(fn, data[key])


def test_second_derivative_of_tanh(data):
    x = nf.Tensor(data["a"], requires_grad=True)
    y = ops.tanh(x).sum()
    y.backward(create_graph=True)
    first = x.grad
    x.grad = None
    first.sum().backward()
    t = np.tanh(data["a"])
    np.testing.assert_allclose(x.grad.numpy(), -2 * t * (1 - t * t), rtol=1e-10)


@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, False), (1, True), ((0, 1), True)])
def test_sum_mean_max(axis, keepdims, data):
    a = data["a"]
    for fn, reference in ((ops.summation, np.sum), (ops.mean, np.mean), (ops.maximum_over, np.max)):
        def reduce(x, fn=fn):
            return fn(x, axis, keepdims)

        np.testing.assert_allclose(forward(reduce, a), reference(a, axis=axis, keepdims=keepdims), rtol=1e-12)
        gradient_check(reduce, a)


def test_reductions_of_a_4d_tensor(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    for axes in ((0, 2, 3), (1,), (3,), (0, 1)):
        np.testing.assert_allclose(forward(lambda t, axes=axes: ops.summation(t, axes), x), x.sum(axis=axes),
                                   rtol=1e-12)
    gradient_check(lambda t: ops.summation(t, (0, 2, 3)), x)


def test_logsumexp(data):
    a = data["a"] * 30  # large values: the max shift keeps it finite
    expected = np.log(np.exp(a - a.max(1, keepdims=True)).sum(1)) + a.max(1)
    np.testing.assert_allclose(forward(lambda x: ops.logsumexp(x, 1), a), expected, rtol=1e-12)
    gradient_check(lambda x: ops.logsumexp(x, 1), data["a"])
    gradient_check(lambda x: ops.logsumexp(x, (0, 1)), data["a"])


@pytest.mark.parametrize("shape_a, shape_b", [((3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)),
                                              ((3, 4), (2, 4, 5))])
def test_matmul(shape_a, shape_b, rng):
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    np.testing.assert_allclose(forward(ops.matmul, a, b), a @ b, rtol=1e-10)
    gradient_check(ops.matmul, a, b)


def test_matmul_of_transposed_views(rng):
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 4))
    np.testing.assert_allclose(forward(lambda x, y: x.T @ y.T, a, b), a.T @ b.T, rtol=1e-10)
    gradient_check(lambda x, y: x.T @ y.T, a, b)


def test_views_share_storage(data):
    x = nf.Tensor(data["a"])
    assert np.shares_memory(x.reshape(4, 3).data, x.data)
    assert np.shares_memory(x.T.data, x.data)
    assert np.shares_memory(x[1:, ::2].data, x.data)
    assert np.shares_memory(x.broadcast_to((2, 3, 4)).data, x.data)


@pytest.mark.parametrize("fn, reference", [
    (lambda x: x.reshape(2, 6), lambda x: x.reshape(2, 6)),
    (lambda x: x.transpose(), lambda x: x.T),
    (lambda x: ops.broadcast_to(x, (2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4))),
    (lambda x: x[1:, ::2], lambda x: x[1:, ::2]),
    (lambda x: x[2], lambda x: x[2]),
    (lambda x: x[..., 1], lambda x: x[..., 1]),
    (lambda x: x.T.reshape(12), lambda x: x.T.reshape(12)),
], ids=["reshape", "transpose", "broadcast_to", "slice", "int", "ellipsis", "reshape_of_transpose"])
def test_shape_ops(fn, reference, data):
    np.testing.assert_allclose(forward(fn, data["a"]), reference(data["a"]))
    gradient_check(lambda x: fn(x) * 1.0, data["a"])


def test_stack_and_split(data):
    a, b = data["a"], data["b"]
    np.testing.assert_allclose(forward(lambda x, y: ops.stack([x, y], 1), a, b), np.stack([a, b], 1))
    gradient_check(lambda x, y: ops.stack([x, y], 1), a, b)
    parts = ops.split(nf.Tensor(a), 1)
    assert len(parts) == 4 and np.allclose(parts[2].numpy(), a[:, 2])
    gradient_check(lambda x: ops.split(x, 0)[1] * 2.0, a)


def _conv_reference(x, w, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    k, cg, kr, ks = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h + 2 * padding - dilation * (kr - 1) - 1) // stride + 1
    ow = (wd + 2 * padding - dilation * (ks - 1) - 1) // stride + 1
    y = np.zeros((n, k, oh, ow))
    for kk in range(k):
        g = kk // (k // groups)
        for r in range(kr):
            for s in range(ks):
                patch = xp[:, g * cg:(g + 1) * cg, r * dilation:r * dilation + stride * (oh - 1) + 1:stride,
                           s * dilation:s * dilation + stride * (ow - 1) + 1:stride]
                y[:, kk] += np.tensordot(w[kk, :, r, s], patch, axes=([0], [1]))
    return y


@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 1, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (2, 0, 1, 2)])
def test_conv2d(stride, padding, dilation, groups, rng):
    x, w = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 4 // groups, 3, 3))
    conv = lambda a, b: ops.conv2d(a, b, stride, padding, dilation, groups)  # noqa: E731
    np.testing.assert_allclose(forward(conv, x, w), _conv_reference(x, w, stride, padding, dilation, groups),
                               rtol=1e-10)
    gradient_check(conv, x, w)


def test_conv2d_second_derivative(rng):
    x, w = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    gradient_check(lambda a, b: ops.conv2d(a, b, padding=1) * ops.conv2d(a, b, padding=1), x, w, rtol=1e-4)


@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 1), (3, 2)])
def test_pooling(kernel, stride, rng):
    x = rng.standard_normal((2, 3, 7, 7))
    windows = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    np.testing.assert_allclose(forward(lambda t: ops.max_pool2d(t, kernel, stride), x), windows.max((4, 5)))
    np.testing.assert_allclose(forward(lambda t: ops.avg_pool2d(t, kernel, stride), x), windows.mean((4, 5)),
                               rtol=1e-12)
    gradient_check(lambda t: ops.max_pool2d(t, kernel, stride), x)
    gradient_check(lambda t: ops.avg_pool2d(t, kernel, stride), x)


def test_one_hot():
    labels = nf.Tensor(np.array([2, 0, 1], dtype=np.int32))
    np.testing.assert_array_equal(ops.one_hot(labels, 4).numpy(), np.eye(4, dtype=np.float32)[[2, 0, 1]])


def test_dropout_scales_kept_elements():
    x = nf.Tensor(np.ones((50, 40), dtype=np.float32), requires_grad=True)
    y = ops.dropout(x, 0.25, np.random.default_rng(1))
    values = y.numpy()
    assert set(np.unique(values)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.2 < (values == 0).mean() < 0.3
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), values)


def test_gradients_of_a_reused_node_add_up(data):
    gradient_check(lambda x: x * x + ops.exp(x) * x, data["a"])


def test_softmax_cross_entropy_and_its_second_derivative(data):
    labels = nf.Tensor(np.array([3, 0, 1], dtype=np.int32))
    z = data["a"] * 3
    expected = np.log(np.exp(z).sum(1)) - z[np.arange(3), [3, 0, 1]]
    np.testing.assert_allclose(forward(lambda t: ops.softmax_cross_entropy(t, labels), z), expected, rtol=1e-12)
    gradient_check(lambda t: ops.softmax_cross_entropy(t, labels), z)

    def first_gradient(t):
        with nf.enable_grad():
            t = t if t.requires_grad else nf.Tensor(t.numpy(), requires_grad=True)
            loss = ops.summation(ops.multiply(ops.softmax_cross_entropy(t, labels), ops.tanh(t[:, 0])))
            return nf.grad(loss, [t], create_graph=True)[0]

    gradient_check(first_gradient, z, rtol=1e-4)
