"""Casts pass gradients, mixed dtypes promote as numpy does, losses take integer labels and refuse
labels out of range."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import nn, ops
from frontend.errors import DataError
from tensorir.errors import DefinitionError

from .helpers import gradient_check


def test_gradient_flows_through_a_cast():
    a = nf.Tensor([1.0, -2.0, 3.0], dtype="float32", requires_grad=True)
    b = ops.cast(a, "float64")
    (b * b).sum().backward()
    assert a.grad is not None and a.grad.dtype == "float32"
    np.testing.assert_allclose(a.grad.numpy(), [2.0, -4.0, 6.0])


def test_astype_is_differentiable():
    gradient_check(lambda x: ops.tanh(x.astype("float32")).astype("float64") * 3.0, np.linspace(-1, 1, 6),
                   rtol=1e-3, eps=1e-3)


def test_cast_to_the_same_dtype_is_the_tensor_itself():
    a = nf.Tensor([1.0], dtype="float32")
    assert ops.cast(a, "float32") is a


def test_integer_inputs_of_a_cast_get_no_gradient():
    i = nf.Tensor(np.array([1, 2], dtype=np.int32), requires_grad=True)
    f = ops.cast(i, "float32")
    f.sum().backward()
    assert i.grad is None


@pytest.mark.parametrize("left, right", [("float32", "float64"), ("float64", "float32"), ("int32", "float32"),
                                         ("int64", "float64"), ("int32", "int64")])
def test_mixed_dtypes_promote_as_numpy_does(left, right):
    a, b = np.array([1, 2, 3], dtype=left), np.array([4, 5, 6], dtype=right)
    for got, want in [(nf.Tensor(a) + nf.Tensor(b), a + b), (nf.Tensor(a) * nf.Tensor(b), a * b),
                      (nf.Tensor(a) - nf.Tensor(b), a - b), (nf.Tensor(a) / nf.Tensor(b), a / b)]:
        assert got.dtype == want.dtype.name
        np.testing.assert_allclose(got.numpy(), want)


@pytest.mark.parametrize("expr", ["x + 1", "x * 2", "x * 1.5", "x / 2", "2 - x", "x ** 2", "(-2) ** x"])
def test_integer_tensors_with_numbers(expr):
    values = np.array([1, 2, 3], dtype=np.int32)
    got, want = eval(expr, {"x": nf.Tensor(values)}), eval(expr, {"x": values})
    assert got.dtype == want.dtype.name
    np.testing.assert_allclose(got.numpy(), want)


def test_gradients_of_mixed_dtypes_keep_each_input_dtype():
    x = nf.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    w = nf.Tensor(np.ones((3, 2)), dtype="float64", requires_grad=True)
    y = x @ w
    assert y.dtype == "float64"
    (y * x.sum()).sum().backward()
    assert x.grad.dtype == "float32" and w.grad.dtype == "float64"
    x64 = x.numpy().astype(np.float64)
    np.testing.assert_allclose(w.grad.numpy(), np.repeat(x64.sum(0, keepdims=True).T * x64.sum(), 2, 1))


def test_conv2d_promotes():
    x = nf.Tensor(np.ones((1, 1, 3, 3), dtype=np.float32))
    w = nf.Tensor(np.ones((1, 1, 2, 2)), dtype="float64")
    out = ops.conv2d(x, w)
    assert out.dtype == "float64"
    np.testing.assert_allclose(out.numpy(), np.full((1, 1, 2, 2), 4.0))


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32"])
def test_losses_accept_integer_labels(dtype):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    loss = nn.SoftmaxLoss()(nf.Tensor(z, requires_grad=True), nf.Tensor(labels.astype(dtype)))
    shifted = z - z.max(1, keepdims=True)
    want = (np.log(np.exp(shifted).sum(1)) - shifted[np.arange(4), labels]).mean()
    np.testing.assert_allclose(loss.item(), want, rtol=1e-6)


@pytest.mark.parametrize("bad", [3, -1])
def test_labels_out_of_range_raise(bad):
    with pytest.raises(DataError, match=f"softmax_cross_entropy: label {bad} \\(at position 1\\) is outside the 3 "
                                        "classes 0..2"):
        nn.SoftmaxLoss()(nf.Tensor(np.zeros((2, 3))), nf.Tensor(np.array([0, bad], dtype=np.int64)))


def test_cast_to_an_unsupported_dtype():
    with pytest.raises(DefinitionError, match="cast: dtype complex64 is not supported; use one of float32"):
        ops.cast(nf.Tensor([1.0]), "complex64")


def test_integer_tensor_to_a_negative_power():
    with pytest.raises(DefinitionError, match="power: int32 tensor to the negative power -1; integers to negative "
                                              "integer powers are not allowed"):
        nf.Tensor(np.array([1, 2], dtype=np.int32)) ** -1


def test_a_numpy_operand_keeps_its_dtype_and_promotes():
    x = nf.Tensor(np.ones(2, dtype=np.float32))
    assert (x + np.ones(2)).dtype == "float64"
    assert (x + [1.0, 2.0]).dtype == "float32"
