"""``Tensor.wrap(array)``: no copy, and the caller keeps the array. Writes into it after the
call never reach an op applied before them (the values are numpy's on a copy taken at the
call); arrays of any layout give numpy's values; what cannot be wrapped is refused at the call."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend.lazy_storage import is_exposed
from tensorir.errors import DefinitionError

#: ways a caller writes into an array it wrapped
WRITES = {
    "slice_assign": lambda a: a.__setitem__(slice(None), 7.0),
    "copyto": lambda a: np.copyto(a, np.full(a.shape, 7.0)),
    "augmented": lambda a: a.__isub__(1.0),
    "through_a_view": lambda a: a[:, :1].__setitem__(slice(None), -3.0),
}
#: ops applied to the wrapped tensor before the write, and numpy's value
READERS = {
    "elementwise": (lambda x: (x * 2.0 + 1.0).tanh(), lambda a: np.tanh(a * 2.0 + 1.0)),
    "chain_of_two": (lambda x: (x + x).exp() * x, lambda a: np.exp(a + a) * a),
    "reduction": (lambda x: (x * x).sum(1), lambda a: (a * a).sum(1)),
    "transposed": (lambda x: x.transpose() * 3.0, lambda a: a.T * 3.0),
    "matmul": (lambda x: x @ nf.Tensor(np.ones((4, 2))), lambda a: a @ np.ones((4, 2))),
}


@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_writes_into_a_wrapped_array_leave_earlier_ops_their_values(write, reader):
    ours, theirs = READERS[reader]
    array = np.arange(12, dtype=np.float64).reshape(3, 4) / 10.0
    before = array.copy()
    y = ours(nf.Tensor.wrap(array))
    WRITES[write](array)
    assert not np.array_equal(array, before)
    np.testing.assert_allclose(y.numpy(), theirs(before), rtol=1e-12)


def test_a_wrapped_array_is_shared_not_copied_and_later_ops_read_its_new_values():
    array = np.zeros(5, dtype=np.float32)
    x = nf.Tensor.wrap(array)
    assert is_exposed(array)
    array[:] = 2.0  # written before the op: the op sees it, as numpy would
    np.testing.assert_array_equal((x * 3.0).numpy(), np.full(5, 6.0, np.float32))
    assert np.shares_memory(x.data, array)


@pytest.mark.parametrize("layout", ["fortran", "strided", "negative_strides", "zero_d"])
def test_wrapped_arrays_of_any_layout_give_numpys_values(layout):
    base = np.random.default_rng(3).standard_normal((6, 8))
    array = {"fortran": np.asfortranarray(base), "strided": base[:, ::2], "negative_strides": base[::-1],
             "zero_d": np.array(1.5), "empty": base[:0]}[layout]
    x = nf.Tensor.wrap(array)
    np.testing.assert_allclose((x * 2.0 + 1.0).exp().numpy(), np.exp(array * 2.0 + 1.0), rtol=1e-12)
    np.testing.assert_allclose(x.sum().numpy(), array.sum(), rtol=1e-12, atol=1e-12)
    if array.ndim == 2:
        np.testing.assert_allclose((x @ nf.Tensor(np.ones((array.shape[1], 3)))).numpy(),
                                   array @ np.ones((array.shape[1], 3)), rtol=1e-12)


@pytest.mark.parametrize("lazy", [True, False])
def test_empty_tensors_give_empty_elementwise_results_and_name_the_op_that_cannot_take_them(lazy):
    """A wrapped array runs its first op at once; any tensor does under ``lazy(False)``."""
    empty = np.zeros((0, 8))
    with nf.lazy(lazy):
        x = nf.Tensor.wrap(empty)
        assert (x * 2.0 + 1.0).exp().numpy().shape == (0, 8)
        with pytest.raises(DefinitionError, match=r"sum: (input 0 of shape|the input of shape) \(0, 8\) is empty"):
            nf.Tensor(empty).sum().numpy()
        with pytest.raises(DefinitionError, match=r"matmul: input 0 of shape \(0, 8\) is empty and matmul needs "
                                                  r"every dimension positive .*slice or pad it to a nonempty shape"):
            x @ nf.Tensor(np.ones((8, 3)))


def test_gradients_reach_a_wrapped_tensor_and_leave_the_array_alone():
    array = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    x = nf.Tensor.wrap(array, requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * array, rtol=1e-12)
    np.testing.assert_array_equal(array, np.linspace(-1.0, 1.0, 6).reshape(2, 3))


@pytest.mark.parametrize(("value", "message"), [
    ([1.0, 2.0], "Tensor.wrap: expected a numpy array, got list; Tensor(value) makes a tensor"),
    (np.ones(3, np.float16), "Tensor.wrap: dtype float16 is not supported; use one of float32, float64, int32, "
                             "int64, e.g. Tensor(array, dtype='float32')"),
    (np.ones(3, bool), "Tensor.wrap: dtype bool is not supported"),
    (np.ones(3, np.int8), "Tensor.wrap: dtype int8 is not supported"),
    (np.ones(3, ">f4"), "Tensor.wrap: dtype >f4 is not supported"),
    (np.array(["a"]), "Tensor.wrap: dtype <U1 is not supported"),
])
def test_what_cannot_be_wrapped_is_refused_at_the_call(value, message):
    with pytest.raises(DefinitionError) as caught:
        nf.Tensor.wrap(value)
    assert message in str(caught.value)


def test_a_wrapped_array_on_an_unknown_device_is_refused():
    with pytest.raises(DefinitionError, match=r"Tensor\(device='tpu'\): unknown device; use one of cpu, cuda"):
        nf.Tensor.wrap(np.ones(3), device="tpu")
