"""Bad input to the frontend is refused at the call with a NestorError naming what was wrong:
values that are not numbers (numpy would parse ``"2"``, drop ``1j``'s imaginary part, make
``None`` NaN: silently wrong sums), unknown dtypes, arguments of the wrong type to layers,
loaders, reductions and indexing, sizes too large to hold; a NaN in the data flows through as
numpy's does."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import data, init, nn, optim
from tensorir.errors import DefinitionError


@pytest.mark.parametrize(("value", "kind"), [
    ("2", "str"), (1j, "complex"), (None, "NoneType"), (b"1", "bytes"), (np.array(["1"]), "ndarray"),
])
def test_an_op_with_a_value_that_is_not_a_number_is_refused(value, kind):
    x = nf.Tensor(np.ones(3))
    with pytest.raises(DefinitionError) as caught:
        x + value
    assert f"Tensor: cannot make float64 values of {str(value)[:60]!r} (a {kind}, not numbers); give numbers" \
        in str(caught.value)


@pytest.mark.parametrize("value", [2, 2.5, np.float32(1.5), True, [1.0, 2.0, 3.0], np.arange(3)])
def test_an_op_with_numbers_of_any_kind_gives_numpys_values(value):
    np.testing.assert_allclose((nf.Tensor(np.ones(3)) + value).numpy(), np.ones(3) + value, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float8", object(), "int8", "complex64"])
def test_an_unknown_dtype_is_refused(dtype):
    with pytest.raises(DefinitionError, match=r"Tensor: dtype .* is not supported; use one of float32, float64, "
                                              r"int32, int64"):
        nf.Tensor([1.0], dtype=dtype)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: nn.Dropout(1.0), "Dropout: p must be a number in [0, 1) (the probability of zeroing an element), got 1.0"),
    (lambda: nn.Dropout(-0.1), "Dropout: p must be a number in [0, 1)"),
    (lambda: nn.Dropout(float("nan")), "got nan"),
    (lambda: nn.Dropout("x"), "got 'x'"),
    (lambda: data.DataLoader(data.NDArrayDataset(np.ones((4, 2))), batch_size=0),
     "DataLoader: batch_size must be a positive int, got 0"),
    (lambda: data.DataLoader(data.NDArrayDataset(np.ones((4, 2))), batch_size=2.5), "got 2.5"),
    (lambda: data.DataLoader(data.NDArrayDataset(np.ones((4, 2))), batch_size=None), "got None"),
    (lambda: nf.Tensor(np.ones((2, 3))).sum(1.5), "sum: axis 1.5 is not an axis; give an int or a tuple of ints"),
    (lambda: nf.Tensor(np.ones((2, 3)))[np.array([0, 1])], "getitem: index"),
    (lambda: init.zeros(2**40, 2**40), f"init: shape (1099511627776, 1099511627776) has {2**80} elements, more "
                                       "than a tensor can hold"),
    (lambda: nn.Linear(2**31, 2**31), "elements, more than a tensor can hold"),
    (lambda: nf.Tensor(np.ones((3, 4))).broadcast_to((2**62, 3, 4)),
     f"broadcast_to: shape ({2**62}, 3, 4) has {2**62 * 12} elements, more than a tensor can hold"),
    (lambda: optim.clip_grad_norm([], float("nan")), "clip_grad_norm: max_norm must be a non-negative number, got nan"),
    (lambda: optim.clip_grad_norm([], -1.0), "got -1.0"),
])
def test_bad_arguments_are_refused_at_the_call(make, message):
    with pytest.raises(DefinitionError) as caught:
        make()
    assert message in str(caught.value)


@pytest.mark.parametrize("dtype", [np.int8, np.float16, bool, np.complex64])
def test_assigning_data_of_an_unsupported_dtype_is_refused(dtype):
    """An int8 parameter got no gradient and its optimizer left it alone, silently."""
    weight = nf.Tensor(np.ones((2, 2), np.float32))
    with pytest.raises(DefinitionError) as caught:
        weight.data = np.zeros((2, 2), dtype)
    assert (f"Tensor.data: cannot assign an array of dtype {np.dtype(dtype)}; use one of float32, float64, int32, "
            "int64, e.g. value.astype('float32')") in str(caught.value)
    np.testing.assert_array_equal(weight.numpy(), 1.0)


def test_a_dataloader_takes_a_numpy_integer_batch_size():
    batches = list(data.DataLoader(data.NDArrayDataset(np.arange(6.0).reshape(3, 2)), batch_size=np.int64(2)))
    assert [b[0].shape for b in batches] == [(2, 2), (1, 2)]


def test_nan_in_the_data_flows_through_as_in_numpy():
    values = np.array([[1.0, np.nan], [3.0, 4.0]])
    x = nf.Tensor(values)
    np.testing.assert_array_equal(((x * 2.0).exp() + 1.0).numpy(), np.exp(values * 2.0) + 1.0)
    np.testing.assert_array_equal(x.sum(1).numpy(), values.sum(1))
    np.testing.assert_array_equal((x @ x).numpy(), values @ values)
