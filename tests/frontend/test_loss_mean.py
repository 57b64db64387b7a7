"""The mean softmax cross entropy (``nn.SoftmaxLoss``) as one kernel each way: values against
numpy, gradients against finite differences, second derivatives, the kernels it runs, every
batch size on one symbolic kernel, and its errors."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch, nn, ops
from frontend.data.loader import DataError
from tensorir.errors import DefinitionError

from .helpers import gradient_check


def _numpy(z, y):
    top = z.max(1, keepdims=True)
    lse = np.log(np.exp(z - top).sum(1, keepdims=True)) + top
    return (lse[:, 0] - z[np.arange(len(y)), y]).mean(), (np.exp(z - lse) - np.eye(z.shape[1])[y]) / len(y)


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-5), ("float64", 1e-12)])
def test_value_and_gradient_against_numpy(dtype, rtol):
    rng = np.random.default_rng(3)
    z, y = (rng.standard_normal((9, 6)) * 4).astype(dtype), rng.integers(0, 6, 9)
    zt = nf.Tensor(z, requires_grad=True)
    loss = nn.SoftmaxLoss()(zt, nf.Tensor(y.astype(np.int32)))
    loss.backward()
    value, gradient = _numpy(z.astype(np.float64), y)
    assert loss.shape == () and loss.dtype == dtype and zt.grad.dtype == dtype
    np.testing.assert_allclose(loss.numpy(), value, rtol=rtol)
    np.testing.assert_allclose(zt.grad.numpy(), gradient, rtol=rtol, atol=rtol * 1e-2)


def test_same_as_mean_of_rows_and_finite_differences():
    rng = np.random.default_rng(4)
    z, labels = rng.standard_normal((5, 4)), nf.Tensor(np.array([0, 3, 1, 1, 2], np.int64))
    fused = ops.softmax_cross_entropy_mean(nf.Tensor(z), labels).numpy()
    rows = ops.mean(ops.softmax_cross_entropy(nf.Tensor(z), labels)).numpy()
    np.testing.assert_allclose(fused, rows, rtol=1e-14)
    gradient_check(lambda t: ops.softmax_cross_entropy_mean(t, labels), z)
    gradient_check(lambda t: ops.softmax_cross_entropy_mean(t * t, labels) * 3.0, z, seed=1)


def test_one_kernel_each_way():
    z = nf.Tensor(np.random.default_rng(5).standard_normal((8, 10)).astype(np.float32), requires_grad=True)
    labels = nf.Tensor(np.arange(8, dtype=np.int32))
    nn.SoftmaxLoss()(z, labels).backward()  # compile
    dispatch.stats.reset()
    loss = nn.SoftmaxLoss()(z, labels)
    assert dispatch.stats.calls == 1
    dispatch.stats.reset()
    loss.backward(nf.Tensor(np.float32(2.0)))
    assert dispatch.stats.calls == 1
    np.testing.assert_allclose(z.grad.numpy(), 2 * _numpy(z.numpy().astype(np.float64), np.arange(8))[1],
                               rtol=1e-5, atol=1e-7)


def test_second_derivative():
    x = np.random.default_rng(6).standard_normal((3, 4))
    labels = nf.Tensor(np.array([1, 0, 3], np.int32))
    t = nf.Tensor(x, requires_grad=True)
    (first,) = nf.grad(ops.softmax_cross_entropy_mean(t, labels), [t], create_graph=True)
    (first * first).sum().backward()
    eps, found = 1e-6, np.zeros_like(x)
    for index in np.ndindex(x.shape):  # d/dx of sum(grad^2) by central differences
        step = np.zeros_like(x)
        step[index] = eps
        sums = []
        for sign in (1, -1):
            u = nf.Tensor(x + sign * step, requires_grad=True)
            (g,) = nf.grad(ops.softmax_cross_entropy_mean(u, labels), [u])
            sums.append((g.numpy() ** 2).sum())
        found[index] = (sums[0] - sums[1]) / (2 * eps)
    np.testing.assert_allclose(t.grad.numpy(), found, rtol=1e-5, atol=1e-8)


def test_every_batch_size_on_one_kernel():
    rng = np.random.default_rng(7)
    for rows in (16, 16, 5, 33):  # the first two compile; the others reuse the symbolic kernels
        if rows == 5:
            compiled = dispatch.stats.compiled
        z = rng.standard_normal((rows, 7)).astype(np.float32)
        y = rng.integers(0, 7, rows)
        zt = nf.Tensor(z, requires_grad=True)
        loss = nn.SoftmaxLoss()(zt, nf.Tensor(y.astype(np.int32)))
        loss.backward()
        value, gradient = _numpy(z.astype(np.float64), y)
        np.testing.assert_allclose(loss.numpy(), value, rtol=1e-5)
        np.testing.assert_allclose(zt.grad.numpy(), gradient, rtol=1e-5, atol=1e-7)
    assert dispatch.stats.compiled == compiled


def test_errors():
    z = nf.Tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(DataError, match=r"softmax_cross_entropy: label 3 \(at position 1\) is outside the 3 classes"):
        ops.softmax_cross_entropy_mean(z, nf.Tensor(np.array([0, 3], np.int32)))
    empty = r"softmax_cross_entropy_mean: input 0 of shape \(0, 3\) is empty.*slice or pad it"
    with pytest.raises(DefinitionError, match=empty):
        ops.softmax_cross_entropy_mean(nf.Tensor(np.zeros((0, 3), np.float32)), nf.Tensor(np.zeros(0, np.int32)))


def test_linear_bias_gradient_is_one_sum(monkeypatch):
    """A Linear with no activation under SoftmaxLoss: the (1, out) bias gradient is the column
    sum of the loss's adjoint, one ``sum`` op with its dimensions kept (no reshape op after it)."""
    from frontend.tensor import Tensor

    rng = np.random.default_rng(8)
    layer = nn.Linear(5, 4, rng=rng, dtype="float64")
    x, y = rng.standard_normal((6, 5)), rng.integers(0, 4, 6)
    loss = nn.SoftmaxLoss()(layer(nf.Tensor(x, requires_grad=False)), nf.Tensor(y.astype(np.int32)))
    names, from_op = [], Tensor.from_op.__func__
    monkeypatch.setattr(Tensor, "from_op", classmethod(lambda cls, op, inputs: names.append(op.name)
                                                       or from_op(cls, op, inputs)))
    loss.backward()
    dz = _numpy(x @ layer.weight.numpy() + layer.bias.numpy(), y)[1]
    assert layer.bias.grad.shape == (1, 4) and "reshape" not in names and names.count("sum") == 1
    np.testing.assert_allclose(layer.bias.grad.numpy(), dz.sum(0, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(layer.weight.grad.numpy(), x.T @ dz, rtol=1e-12)
