"""needle's autograd surface, as its hw1 tests and optimizers use it (through the name-mapping
shim): ``Tensor.data`` as ``detach()`` (a Tensor over the same storage), ``is_leaf()``, the graph
that ``a - b`` makes, ``find_topo_sort`` and ``compute_gradient_of_variables``, ``.grad`` of the
intermediate tensors after ``backward``, ``TensorOp``; values against numpy, gradients against
central differences."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.errors import DefinitionError

from .needle_shim import ndl


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)


# -- Tensor.data: needle's detach() ------------------------------------------------------------------
def test_data_is_a_detached_tensor_over_the_same_storage():
    a = np.random.randn(3, 4).astype(np.float32)
    x = ndl.Tensor(a)
    data = x.data
    assert isinstance(data, ndl.Tensor) and not data.requires_grad and data.op is None and data.is_leaf
    assert x.requires_grad and data.dtype == "float32" and data.shape == (3, 4)
    np.testing.assert_array_equal(data.numpy(), a)
    assert np.shares_memory(np.asarray(data), x.realize_cached_data())
    np.testing.assert_array_equal(x.detach().numpy(), a)
    assert not x.detach().requires_grad


def test_the_optimizer_idiom_on_data_and_grad_data():
    w0 = np.random.randn(4, 3)
    w = ndl.Tensor(w0)
    loss = (w * w).sum()
    loss.backward()
    grad = w.grad.data
    assert isinstance(grad, ndl.Tensor) and not grad.requires_grad
    update = w.data - 0.1 * w.grad.data
    assert not update.requires_grad
    w.data = update
    np.testing.assert_allclose(w.numpy(), w0 - 0.1 * 2 * w0, rtol=1e-12)
    assert w.requires_grad and w.is_leaf and w.op is None


def test_assigning_data_shares_the_tensors_storage_as_needle():
    x, source = ndl.Tensor(np.zeros(3)), ndl.Tensor(np.arange(3.0))
    x.data = source
    np.testing.assert_array_equal(x.numpy(), [0.0, 1.0, 2.0])
    source.data[1] = 7.0  # the storage both now hold
    np.testing.assert_array_equal(x.numpy(), [0.0, 7.0, 2.0])
    x.cached_data = np.ones(3)  # needle's other way to set the storage
    np.testing.assert_array_equal(x.numpy(), np.ones(3))


def test_item_assignment_into_data_writes_the_tensors_values():
    a = np.arange(12.0).reshape(3, 4)
    x = ndl.Tensor(a)
    y = x * 2.0  # pending while the write comes: keeps the values it was applied to
    x.data[1] = ndl.Tensor(np.full(4, -1.0))
    x.data[0, ::2] = 5.0
    x.data[np.array([2]), 3] = np.array([9.0])
    want = a.copy()
    want[1], want[0, ::2], want[2, 3] = -1.0, 5.0, 9.0
    np.testing.assert_array_equal(x.numpy(), want)
    np.testing.assert_array_equal(y.numpy(), a * 2.0)
    z = x * 2.0
    np.testing.assert_array_equal(z.numpy(), want * 2.0)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: ndl.Tensor(np.ones(3)).__setitem__(0, 1.0),
     r"Tensor\[0\] = value: the tensor requires grad, and writing into it would change values its graph "
     r"differentiates; write into its values instead: t\.data\[\.\.\.\] = value"),
    (lambda: ndl.Tensor(np.ones(3)).data.__setitem__(3, 1.0),
     r"Tensor\[3\] = value: cannot store float 1\.0 into a tensor of shape \(3,\) \(index 3 is out of bounds .*\); "
     r"give an index within the shape and values that broadcast to the indexed part"),
    (lambda: ndl.Tensor(np.ones((2, 3))).data.__setitem__(0, np.ones(2)),
     r"Tensor\[0\] = value: cannot store values of shape \(2,\) into a tensor of shape \(2, 3\)"),
    (lambda: ndl.broadcast_to(ndl.Tensor(np.ones(3)), (2, 3)).data.__setitem__(0, 1.0),
     r"Tensor\[0\] = value: the tensor of shape \(2, 3\) is a read-only view \(a broadcast_to result\); write "
     r"into the tensor it was broadcast from, or into a copy: Tensor\(t\.numpy\(\)\)"),
])
def test_bad_writes_are_refused_at_the_call(call, message):
    with pytest.raises(DefinitionError, match=message):
        call()


def test_is_leaf_is_needles_method_and_a_truth_value():
    x = ndl.Tensor(np.ones(2))
    y = x * 2
    assert x.is_leaf() is True and y.is_leaf() is False
    assert x.is_leaf and not y.is_leaf and x.is_leaf == True and y.is_leaf == False  # noqa: E712
    assert repr(x.is_leaf) == "True"


def test_subtracting_tensors_is_adding_the_negation_as_in_needle():
    a, b = np.random.randn(2, 3), np.random.randn(2, 3)
    x, y = ndl.Tensor(a), ndl.Tensor(b)
    z = x - y
    assert z.inputs[0] is x and z.inputs[1].inputs[0] is y
    np.testing.assert_allclose(z.numpy(), a - b, rtol=1e-12)
    np.testing.assert_allclose(z.inputs[1].numpy(), -b, rtol=1e-12)
    (z * z).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (a - b), rtol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), -2 * (a - b), rtol=1e-12)
    np.testing.assert_allclose((x - 1.5).numpy(), a - 1.5)
    np.testing.assert_allclose((1.5 - x).numpy(), 1.5 - a)
