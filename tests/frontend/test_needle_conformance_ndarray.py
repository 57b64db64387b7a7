"""needle's hw3 NDArray tests (tests/hw3/test_ndarray.py) as conformance programs, through the
shim's ``ndl.backend_ndarray``: views share the buffer and have numpy's strides, compaction,
in-place writes, the kernels' arithmetic against numpy, and the errors at the call."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.errors import DefinitionError

from .needle_shim import ndl

nd = ndl.backend_ndarray


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)


def assert_strides(values: np.ndarray, array) -> None:
    """numpy's strides (in bytes) of ``values`` equal ``array``'s (in elements)."""
    assert tuple(s // values.itemsize for s in values.strides) == array.strides


def same_buffer(a, b) -> bool:
    return a._handle.ptr() == b._handle.ptr()


@pytest.mark.parametrize(("shape", "np_fn", "nd_fn"), [
    ((4, 4), lambda x: x.T, lambda x: x.permute((1, 0))),
    ((4, 1, 4), lambda x: np.broadcast_to(x, (4, 5, 4)), lambda x: x.broadcast_to((4, 5, 4))),
    ((4, 3), lambda x: x.reshape(2, 2, 3), lambda x: x.reshape((2, 2, 3))),
    ((16, 16), lambda x: x.reshape(2, 4, 2, 2, 2, 2, 2), lambda x: x.reshape((2, 4, 2, 2, 2, 2, 2))),
    ((2, 4, 2, 2, 2, 2, 2), lambda x: x.reshape(16, 16), lambda x: x.reshape((16, 16))),
    ((8, 8), lambda x: x[4:, 4:], lambda x: x[4:, 4:]),
    ((8, 8, 2, 2, 2, 2), lambda x: x[1:3, 5:8, 1:2, 0:1, 0:1, 1:2], lambda x: x[1:3, 5:8, 1:2, 0:1, 0:1, 1:2]),
    ((7, 8), lambda x: x.T[3:7, 2:5], lambda x: x.permute((1, 0))[3:7, 2:5]),
], ids=["transpose", "broadcast_to", "reshape1", "reshape2", "reshape3", "getitem1", "getitem2", "transposegetitem"])
def test_compact(shape, np_fn, nd_fn):
    values = np.random.randint(0, 10, size=shape)
    view = nd_fn(nd.array(values, device=nd.cpu()))
    compacted = view.compact()
    assert compacted.is_compact()
    np.testing.assert_array_equal(compacted.numpy(), np_fn(values))
    assert compacted.compact() is compacted


@pytest.mark.parametrize(("dims", "axis"), [((10,), 0), ((4, 5, 6), 0), ((4, 5, 6), 1), ((4, 5, 6), 2)])
def test_reductions_keep_the_axis(dims, axis):
    values = np.random.randn(*dims)
    array = nd.array(values)
    np.testing.assert_allclose(array.sum(axis=axis, keepdims=True).numpy(), values.sum(axis, keepdims=True),
                               atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(array.max(axis=axis, keepdims=True).numpy(), values.max(axis, keepdims=True),
                               atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(array.sum(axis=axis).numpy(), values.sum(axis), atol=1e-5, rtol=1e-5)


def test_whole_reductions_have_needles_shapes():
    values = np.random.randn(3, 4)
    array = nd.array(values)
    assert array.sum().shape == (1,) and array.max(keepdims=True).shape == (1, 1)
    np.testing.assert_allclose(array.sum().numpy(), [values.sum()], rtol=1e-5)
    np.testing.assert_allclose(array.max(axis=(0, 1)).numpy(), values.max(), rtol=1e-6)


class ShapeAndSlices(nd.NDArray):
    """hw3's helper, a subclass of NDArray: indexing it gives its shape and the index as explicit
    slices (through ``process_slice``; an int ``i`` as ``slice(i, i + 1, 1)``)."""

    def __getitem__(self, index):
        return self.shape, tuple(self.process_slice(s, i) if isinstance(s, slice) else slice(s, s + 1, 1)
                                 for i, s in enumerate(index))


def _slices(*shape):
    return ShapeAndSlices(np.ones(shape))


@pytest.mark.parametrize(("lhs", "rhs"), [
    (_slices(4, 5, 6)[1:2, 0, 0], _slices(7, 7, 7)[1:2, 0, 0]),
    (_slices(4, 5, 6)[1:4:2, 0, 0], _slices(7, 7, 7)[1:3, 0, 0]),
    (_slices(4, 5, 6)[1:3, 2:5, 2:6], _slices(7, 7, 7)[:2, :3, :4]),
])
def test_setitem_from_another_array_writes_in_place(lhs, rhs):
    (a_shape, a_index), (b_shape, b_index) = lhs, rhs
    a_values, b_values = np.random.randn(*a_shape).astype(np.float32), np.random.randn(*b_shape).astype(np.float32)
    a, b = nd.array(a_values), nd.array(b_values)
    buffer = a._handle.ptr()
    a[a_index] = b[b_index]
    a_values[a_index] = b_values[b_index]
    assert a._handle.ptr() == buffer
    assert_strides(a_values, a)
    np.testing.assert_array_equal(a.numpy(), a_values)


@pytest.mark.parametrize("shape_and_index", [_slices(4, 5, 6)[1, 2, 3], _slices(4, 5, 6)[1:4, 2, 3],
                                             _slices(4, 5, 6)[:4, 2:5, 3], _slices(4, 5, 6)[1::2, 2:5, ::2]])
def test_setitem_of_a_number_writes_in_place(shape_and_index):
    shape, index = shape_and_index
    values = np.random.randn(*shape).astype(np.float32)
    array = nd.array(values)
    buffer = array._handle.ptr()
    array[index] = 4.0
    values[index] = 4.0
    assert array._handle.ptr() == buffer
    np.testing.assert_array_equal(array.numpy(), values)


OPS = {"multiply": lambda a, b: a * b, "divide": lambda a, b: a / b, "add": lambda a, b: a + b,
       "subtract": lambda a, b: a - b, "equal": lambda a, b: a == b, "greater_than": lambda a, b: a >= b}


@pytest.mark.parametrize("fn", OPS.values(), ids=OPS.keys())
@pytest.mark.parametrize("shape", [(1, 1, 1), (4, 5, 6)])
def test_elementwise_ops(fn, shape):
    a, b = np.random.randn(*shape), np.random.randn(*shape)
    b.flat[0] = a.flat[0]  # one equal pair
    np.testing.assert_allclose(fn(nd.array(a), nd.array(b)).numpy(), fn(a.astype(np.float32), b.astype(np.float32)),
                               atol=1e-5, rtol=1e-5)


def test_maximum_scalar_ops_and_maps():
    a, b = np.random.randn(5, 5), np.random.randn(5, 5)
    A, B = nd.array(a), nd.array(b)
    np.testing.assert_allclose(A.maximum(B).numpy(), np.maximum(a, b), rtol=1e-6)
    for c in (a.max() + 1.0, a.max() - 1.0):
        np.testing.assert_allclose(A.maximum(float(c)).numpy(), np.maximum(a, c), rtol=1e-6)
    np.testing.assert_allclose((A * 5.0).numpy(), a * 5.0, rtol=1e-6)
    np.testing.assert_allclose((A / 5.0).numpy(), a / 5.0, rtol=1e-6)
    np.testing.assert_allclose((A ** 5.0).numpy(), a ** 5.0, rtol=1e-5)
    np.testing.assert_allclose((abs(a) ** 0.5), (nd.array(abs(a)) ** 0.5).numpy(), rtol=1e-6)
    c = float(a[0, 1])
    np.testing.assert_array_equal((A == c).numpy(), (a.astype(np.float32) == np.float32(c)).astype(np.float32))
    np.testing.assert_array_equal((A >= c).numpy(), (a.astype(np.float32) >= np.float32(c)).astype(np.float32))
    np.testing.assert_allclose(nd.array(abs(a)).log().numpy(), np.log(abs(a)), rtol=1e-5)
    np.testing.assert_allclose(A.exp().numpy(), np.exp(a), rtol=1e-5)
    np.testing.assert_allclose(A.tanh().numpy(), np.tanh(a), atol=1e-6)
    np.testing.assert_allclose((-A).numpy(), -a, rtol=1e-6)
    np.testing.assert_allclose((2.0 - A).numpy(), 2.0 - a, rtol=1e-6)  # real subtraction, as needle's NDArray


@pytest.mark.parametrize("axes", [(0, 1, 2), (1, 0, 2), (2, 1, 0)])
def test_permute_is_a_view_with_numpys_strides(axes):
    values = np.random.randn(4, 5, 6).astype(np.float32)
    array = nd.array(values)
    view = array.permute(axes)
    np.testing.assert_array_equal(view.numpy(), values.transpose(axes))
    assert_strides(values.transpose(axes), view)
    assert same_buffer(array, view)


@pytest.mark.parametrize("new_shape", [(2, 4, 16), (8, 4, 2, 2)])
def test_reshape_is_a_view_with_numpys_strides(new_shape):
    values = np.random.randn(8, 16).astype(np.float32)
    array = nd.array(values)
    view = array.reshape(new_shape)
    np.testing.assert_array_equal(view.numpy(), values.reshape(new_shape))
    assert_strides(values.reshape(new_shape), view)
    assert same_buffer(array, view)


@pytest.mark.parametrize("fn", [lambda x: x[3:4, 3:4], lambda x: x[1:2, 1:3], lambda x: x[3:4, 1:4],
                                lambda x: x[1:4, 3:4], lambda x: x[::2, ::-1]])
def test_getitem_is_a_view_with_numpys_strides(fn):
    values = np.random.randn(5, 5).astype(np.float32)
    array = nd.array(values)
    view = fn(array)
    np.testing.assert_array_equal(view.numpy(), fn(values))
    assert_strides(fn(values), view)
    assert same_buffer(array, view)


def test_zero_dimensional_and_empty_arrays():
    scalar = nd.array(3.0)
    assert scalar.shape == () and (scalar + 1.0).shape == () and float((scalar * 2.0).numpy()) == 6.0
    assert scalar.sum().shape == (1,)
    empty = nd.array(np.ones((0, 3)))
    assert (empty + 1.0).shape == (0, 3) and empty.compact().numpy().shape == (0, 3)


def test_integer_indices_keep_their_axis_as_needles_do():
    values = np.arange(16.0).reshape(4, 4)
    array = nd.array(values)
    assert array[1, 0].shape == (1, 1) and array[1, 0:3].shape == (1, 3) and array[-1].shape == (1, 4)
    np.testing.assert_array_equal(array[1, 0:3].numpy(), values[1:2, 0:3])


def test_broadcast_to_is_a_view_with_zero_strides():
    values = np.random.randn(1, 3, 4).astype(np.float32)
    array = nd.array(values)
    view = array.broadcast_to((6, 3, 4))
    np.testing.assert_array_equal(view.numpy(), np.broadcast_to(values, (6, 3, 4)))
    assert_strides(np.broadcast_to(values, (6, 3, 4)), view)
    assert same_buffer(array, view)


@pytest.mark.parametrize(("m", "n", "p"), [(1, 2, 3), (3, 4, 5), (16, 16, 32), (72, 73, 74)])
def test_matmul(m, n, p):
    a, b = np.random.randn(m, n), np.random.randn(n, p)
    np.testing.assert_allclose((nd.array(a) @ nd.array(b)).numpy(), a @ b, rtol=1e-4, atol=1e-4)


def test_arrays_from_strided_views_pad_flip_and_tensors():
    a = nd.array(np.random.randn(4, 6))
    view = a.permute((1, 0))[1:5, ::2]
    np.testing.assert_allclose((view @ nd.array(np.ones((2, 3)))).numpy(), view.numpy() @ np.ones((2, 3)),
                               rtol=1e-5)
    np.testing.assert_array_equal(nd.NDArray(view).numpy(), view.numpy())
    assert nd.NDArray(view).is_compact() and not view.is_compact()
    padded = nd.NDArray(np.ones((2, 2, 2, 2)), device=nd.cpu()).pad(((0, 0), (1, 1), (2, 2), (0, 0)))
    np.testing.assert_array_equal(padded.numpy(), np.pad(np.ones((2, 2, 2, 2)), ((0, 0), (1, 1), (2, 2), (0, 0))))
    np.testing.assert_array_equal(a.flip((0, 1)).numpy(), np.flip(a.numpy(), (0, 1)))
    tensor = ndl.Tensor(nd.array(np.arange(6.0).reshape(2, 3)), device=ndl.cpu())
    assert tensor.dtype == "float32" and tensor.device == nd.cpu()
    np.testing.assert_array_equal((tensor * 2).numpy(), np.arange(6.0).reshape(2, 3) * 2)
    full = nd.full((2, 3), 7.0)
    np.testing.assert_array_equal(full.numpy(), np.full((2, 3), 7.0))
    assert nd.empty((0, 3)).numpy().shape == (0, 3) and a.dtype == "float32" and a.device.enabled()


@pytest.mark.parametrize(("call", "message"), [
    (lambda: nd.array(np.ones((2, 3))).reshape((4, 2)),
     r"NDArray.reshape: \(2, 3\) \(6 elements\) cannot take the shape \(4, 2\) \(8 elements\); keep the number"),
    (lambda: nd.array(np.ones((2, 3))).permute((0, 0)),
     r"NDArray.permute: \(0, 0\) is not a permutation of the 2 axes of \(2, 3\); list every axis once"),
    (lambda: nd.array(np.ones((2, 3))).broadcast_to((4, 3)),
     r"NDArray.broadcast_to: \(2, 3\) cannot be broadcast to \(4, 3\); only axes of extent 1 repeat"),
    (lambda: nd.array(np.ones((2, 3)))[2, 0], r"index 2 is out of range for axis 0 of extent 2; use -2 to 1"),
    (lambda: nd.array(np.ones((2, 3)))[0, 0, 0], r"3 indices for an array of 2 axes \(2, 3\)"),
    (lambda: nd.array(np.ones((2, 3)))[None], r"index None on axis 0 is neither an int nor a slice"),
    (lambda: nd.array(np.ones((2, 3)))[::0], r"has step 0; give a non-zero step"),
    (lambda: nd.array(np.ones((2, 3))).__setitem__((0,), nd.array(np.ones(4))),
     r"NDArray.__setitem__: 4 values of shape \(4,\) for 3 elements of shape \(1, 3\); give as many values"),
    (lambda: nd.array(np.ones((2, 3))).__setitem__((0,), "x"), r"NDArray.__setitem__: 'x' is not a number"),
    (lambda: nd.array(np.ones((2, 3))) + "x", r"NDArray.__add__: str operand 'x'; give an NDArray or a number"),
    (lambda: nd.array(np.ones((2, 3))) @ nd.array(np.ones((2, 3))),
     r"NDArray.__matmul__: \(2, 3\) @ \(2, 3\) do not fit; give \(\.\.\., m, n\) @ \(\.\.\., n, p\)"),
    (lambda: nd.array(["a"]), r"NDArray: cannot make float32 values of .* \(a list\); give numbers"),
    (lambda: nd.array([1.0], dtype="float64"), r"array: dtype 'float64'; needle's NDArray stores float32 only"),
    (lambda: nd.array([1.0], device="tpu"), r"unknown device"),
    (lambda: nd.array(np.ones(4)).as_strided((10,), (1,)),
     r"NDArray.as_strided: shape \(10,\) with strides \(1,\) at offset 0 reaches elements 0..9 of a buffer of 4; "
     r"keep the view inside the buffer"),
    (lambda: nd.array(np.ones(4)).as_strided((2, 2), (1,)), r"shape \(2, 2\) and strides \(1,\) differ in length"),
    (lambda: nd.array(np.ones(4)).broadcast_to((2, "4")),
     r"NDArray.broadcast_to: shape \(2, '4'\) is not a tuple of ints of at least 0"),
    (lambda: nd.empty((2 ** 40, 2 ** 30)), r"NDArray.make: shape \(1099511627776, 1073741824\) has .* elements, more"),
])
def test_bad_input_is_refused_at_the_call(call, message):
    with pytest.raises(DefinitionError, match=message):
        call()
