"""needle's ops, written as its homework tests write them (through the name-mapping shim): forward
values against numpy, gradients by needle's own ``gradient_check`` recipe (central differences
of every element, through ``backward``), needle's argument conventions (``axes=``, transpose
swapping two axes, scalar ops, op classes) and errors at the call."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.errors import BackendUnavailable, DefinitionError

from .needle_checks import conv_reference, gradient_check
from .needle_shim import ndl


def rand(*shape, low=0.0, shift=0.0):
    return ndl.Tensor(np.random.randn(*shape) + shift)


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)


# -- forward values (hw1's test_*_forward) --------------------------------------------------------
def test_scalar_ops_and_their_classes():
    a = np.random.randn(3, 4)
    x = ndl.Tensor(a)
    np.testing.assert_allclose(ndl.add_scalar(x, 1.5).numpy(), a + 1.5)
    np.testing.assert_allclose(ndl.mul_scalar(x, -2).numpy(), a * -2)
    np.testing.assert_allclose(ndl.divide_scalar(x, 4.0).numpy(), a / 4.0)
    np.testing.assert_allclose(ndl.power_scalar(x, 2).numpy(), a ** 2)
    np.testing.assert_allclose(ndl.negate(x).numpy(), -a)
    np.testing.assert_allclose(ndl.ops.PowerScalar(3)(x).numpy(), a ** 3, rtol=1e-12)
    np.testing.assert_allclose(ndl.ops.DivScalar(2.0)(x).numpy(), a / 2.0)
    np.testing.assert_allclose(ndl.ops.AddScalar(scalar=1.0)(x).numpy(), a + 1.0)
    np.testing.assert_allclose(ndl.ops.Negate()(x).numpy(), -a)


def test_lists_and_numbers_are_float64_as_in_needle_and_numpy():
    rows = [[4.0], [4.55]]
    assert ndl.Tensor(rows).dtype == "float64" and ndl.Tensor(2.5).dtype == "float64"
    assert ndl.Tensor([1, 2]).dtype == "int64" and ndl.Tensor(np.ones(2, np.float32)).dtype == "float32"
    np.testing.assert_allclose(ndl.exp(ndl.Tensor(rows)).numpy(), np.exp(np.array(rows)))  # numpy's default rtol
    left, right = np.random.rand(6, 3, 2).round(2), np.random.rand(6, 2, 3).round(2)
    np.testing.assert_allclose(ndl.matmul(ndl.Tensor(left.tolist()), ndl.Tensor(right.tolist())).numpy(), left @ right)


def test_integer_tensors_get_numpys_result_dtypes():
    ints = np.array([[-1, 2], [3, 0]])
    for f, reference in ((ndl.exp, np.exp), (ndl.log, np.log), (ndl.tanh, np.tanh),
                         (ndl.sigmoid, lambda a: 1 / (1 + np.exp(-a)))):
        with np.errstate(invalid="ignore", divide="ignore"):
            want = reference(ints)
        got = f(ndl.Tensor(ints))
        assert got.dtype == "float64" and got.numpy().dtype == np.float64
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    relu = ndl.relu(ndl.Tensor(ints))
    assert relu.dtype == "int64" and relu.numpy().dtype == np.int64
    np.testing.assert_array_equal(relu.numpy(), np.maximum(ints, 0))
    lse = ndl.logsumexp(ndl.Tensor(ints), axes=(1,))
    np.testing.assert_allclose(lse.numpy(), np.log(np.exp(ints).sum(1)), rtol=1e-12)
    assert lse.dtype == "float64"


def test_scalars_may_be_numpy_scalars_or_one_element_arrays():
    a = np.random.randn(5, 4)
    scalar = np.random.randn(1)
    np.testing.assert_allclose(ndl.divide_scalar(ndl.Tensor(a), scalar=scalar).numpy(), a / scalar[0], rtol=1e-12)
    np.testing.assert_allclose(ndl.power_scalar(ndl.Tensor(a), scalar=np.int64(2)).numpy(), a ** 2, rtol=1e-12)
    gradient_check(ndl.divide_scalar, ndl.Tensor(a), scalar=scalar, backward=False)
    gradient_check(ndl.broadcast_to, ndl.Tensor(np.random.randn()), shape=(3, 3, 3), backward=False)


def test_elementwise_ops_and_operators():
    a, b = np.random.rand(3, 4) + 0.5, np.random.rand(3, 4) + 0.5
    x, y = ndl.Tensor(a), ndl.Tensor(b)
    np.testing.assert_allclose(ndl.ops.EWisePow()(x, y).numpy(), a ** b, rtol=1e-12)
    np.testing.assert_allclose(ndl.power(x, y).numpy(), a ** b, rtol=1e-12)
    np.testing.assert_allclose((x ** y).numpy(), a ** b, rtol=1e-12)
    np.testing.assert_allclose(ndl.divide(x, y).numpy(), a / b, rtol=1e-12)
    np.testing.assert_allclose(ndl.ops.EWiseDiv()(x, y).numpy(), a / b, rtol=1e-12)
    np.testing.assert_allclose(ndl.ops.EWiseMul()(x, y).numpy(), a * b, rtol=1e-12)
    np.testing.assert_allclose((x - y).numpy(), a - b)
    np.testing.assert_allclose((1 - x).numpy(), 1 - a)
    np.testing.assert_allclose((2 / x).numpy(), 2 / a, rtol=1e-12)
    np.testing.assert_allclose(ndl.log(x).numpy(), np.log(a), rtol=1e-12)
    np.testing.assert_allclose(ndl.exp(x).numpy(), np.exp(a), rtol=1e-12)
    np.testing.assert_allclose(ndl.relu(x - 1).numpy(), np.maximum(a - 1, 0))
    np.testing.assert_allclose(ndl.tanh(x).numpy(), np.tanh(a), rtol=1e-12)
    np.testing.assert_allclose(ndl.sigmoid(x).numpy(), 1 / (1 + np.exp(-a)), rtol=1e-12)


def test_transpose_swaps_the_last_two_axes_or_the_two_given():
    a = np.random.randn(2, 3, 4, 5)
    x = ndl.Tensor(a)
    np.testing.assert_array_equal(ndl.transpose(x).numpy(), np.swapaxes(a, 2, 3))
    np.testing.assert_array_equal(ndl.transpose(x, axes=(0, 1)).numpy(), np.swapaxes(a, 0, 1))
    np.testing.assert_array_equal(ndl.transpose(x, (1, 3)).numpy(), np.swapaxes(a, 1, 3))
    np.testing.assert_array_equal(x.transpose().numpy(), np.swapaxes(a, 2, 3))
    np.testing.assert_array_equal(x.transpose((0, 2)).numpy(), np.swapaxes(a, 0, 2))
    np.testing.assert_array_equal(x.transpose(axes=(1, 2)).numpy(), np.swapaxes(a, 1, 2))
    np.testing.assert_array_equal(ndl.ops.Transpose((2, 3))(x).numpy(), np.swapaxes(a, 2, 3))
    m = np.random.randn(3, 4)
    np.testing.assert_array_equal(ndl.transpose(ndl.Tensor(m), (0, 1)).numpy(), m.T)
    np.testing.assert_array_equal(ndl.transpose(ndl.Tensor(m)).numpy(), m.T)
    # a permutation of every axis keeps numpy's meaning, and .T reverses them all
    np.testing.assert_array_equal(ndl.transpose(x, (3, 1, 0, 2)).numpy(), a.transpose(3, 1, 0, 2))
    np.testing.assert_array_equal(x.T.numpy(), a.T)
    vector = ndl.Tensor(np.arange(3.0))
    assert ndl.transpose(vector) is vector and vector.T.shape == (3,)


def test_reductions_take_axes():
    a = np.random.randn(3, 4, 5)
    x = ndl.Tensor(a)
    np.testing.assert_allclose(ndl.summation(x).numpy(), a.sum(), rtol=1e-12)
    np.testing.assert_allclose(ndl.summation(x, axes=(1,)).numpy(), a.sum(1), rtol=1e-12)
    np.testing.assert_allclose(ndl.summation(x, axes=(0, 2)).numpy(), a.sum((0, 2)), rtol=1e-12)
    np.testing.assert_allclose(ndl.summation(x, axes=2).numpy(), a.sum(2), rtol=1e-12)
    np.testing.assert_allclose(x.sum(axes=(0,)).numpy(), a.sum(0), rtol=1e-12)
    np.testing.assert_allclose(ndl.ops.Summation((1, 2))(x).numpy(), a.sum((1, 2)), rtol=1e-12)
    for axes in (None, (0,), (1, 2), (0, 1, 2)):
        want = np.log(np.exp(a).sum(axis=axes))
        np.testing.assert_allclose(ndl.logsumexp(x, axes=axes).numpy(), want, rtol=1e-12)
        np.testing.assert_allclose(ndl.ops.LogSumExp(axes=axes)(x).numpy(), want, rtol=1e-12)
    big = np.array([[1e4, 1e4 + 1], [-1e4, 3.0]])  # stable: no overflow
    np.testing.assert_allclose(ndl.logsumexp(ndl.Tensor(big), axes=(1,)).numpy(),
                               big.max(1) + np.log(np.exp(big - big.max(1, keepdims=True)).sum(1)), rtol=1e-12)


def test_logsumexp_of_infinite_rows_is_numpys():
    a = np.array([[-np.inf, -np.inf, -np.inf], [1.0, 2.0, -np.inf], [np.inf, 1.0, 2.0], [1e4, 1e4, 0.0]])
    with np.errstate(divide="ignore", over="ignore"):
        want = np.log(np.exp(np.minimum(a, 700.0)).sum(1))
    want[2], want[3] = np.inf, 1e4 + np.log(2.0)
    for dtype in ("float64", "float32"):
        got = ndl.logsumexp(ndl.Tensor(a, dtype=dtype), axes=(1,)).numpy()
        np.testing.assert_allclose(got, want.astype(dtype), rtol=1e-6)


def test_numpy_operands_defer_to_the_tensor():
    x = ndl.Tensor(np.random.randn(3))
    y = np.float32(2.0) * x + np.ones(3)
    assert isinstance(y, ndl.Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 2.0))


def test_shape_ops_and_batched_matmul():
    a = np.random.randn(1, 3, 1)
    x = ndl.Tensor(a)
    np.testing.assert_array_equal(ndl.broadcast_to(x, (2, 3, 4)).numpy(), np.broadcast_to(a, (2, 3, 4)))
    np.testing.assert_array_equal(ndl.ops.BroadcastTo((5, 3, 2))(x).numpy(), np.broadcast_to(a, (5, 3, 2)))
    np.testing.assert_array_equal(ndl.reshape(x, (3,)).numpy(), a.reshape(3))
    np.testing.assert_array_equal(ndl.ops.Reshape((3, 1))(x).numpy(), a.reshape(3, 1))
    p, q = np.random.randn(6, 3, 4), np.random.randn(4, 5)
    np.testing.assert_allclose(ndl.matmul(ndl.Tensor(p), ndl.Tensor(q)).numpy(), p @ q, rtol=1e-12)
    np.testing.assert_allclose((ndl.Tensor(q.T) @ ndl.Tensor(p.transpose(0, 2, 1))).numpy(),
                               q.T @ p.transpose(0, 2, 1), rtol=1e-12)
    np.testing.assert_allclose(ndl.ops.MatMul()(ndl.Tensor(p[0]), ndl.Tensor(q)).numpy(), p[0] @ q, rtol=1e-12)
    np.testing.assert_allclose((p[0] @ ndl.Tensor(q)).numpy(), p[0] @ q, rtol=1e-12)  # numpy defers to the Tensor


def test_stack_split_flip_dilate():
    arrays = [np.random.randn(3, 4) for _ in range(5)]
    stacked = ndl.stack([ndl.Tensor(a) for a in arrays], axis=1)
    np.testing.assert_array_equal(stacked.numpy(), np.stack(arrays, axis=1))
    np.testing.assert_array_equal(ndl.ops.Stack(2)([ndl.Tensor(a) for a in arrays]).numpy(), np.stack(arrays, 2))
    parts = ndl.split(stacked, axis=1)
    assert len(parts) == 5
    for part, a in zip(parts, arrays):
        np.testing.assert_array_equal(part.numpy(), a)
    a = np.random.randn(2, 3, 4)
    np.testing.assert_array_equal(ndl.flip(ndl.Tensor(a), (0, 2)).numpy(), np.flip(a, (0, 2)))
    np.testing.assert_array_equal(ndl.ops.Flip((1,))(ndl.Tensor(a)).numpy(), np.flip(a, 1))
    dilated = ndl.dilate(ndl.Tensor(a), (0, 2), 1)
    want = np.zeros((4, 3, 8))
    want[::2, :, ::2] = a
    np.testing.assert_array_equal(dilated.numpy(), want)
    np.testing.assert_array_equal(ndl.undilate(dilated, (0, 2), 1).numpy(), a)
    np.testing.assert_array_equal(ndl.ops.UnDilate((0, 2), 1)(dilated).numpy(), a)


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (1, 1), (2, 1), (2, 0)])
def test_conv_on_nhwc_images(stride, padding):
    x, w = np.random.randn(2, 7, 6, 3), np.random.randn(3, 3, 3, 4)
    out = ndl.conv(ndl.Tensor(x), ndl.Tensor(w), stride=stride, padding=padding)
    np.testing.assert_allclose(out.numpy(), conv_reference(x, w, stride, padding), rtol=1e-10, atol=1e-10)
    again = ndl.ops.Conv(stride, padding)(ndl.Tensor(x), ndl.Tensor(w))
    np.testing.assert_allclose(again.numpy(), out.numpy(), rtol=1e-12)


# -- gradients (hw1's test_*_backward, hw4's conv backward) ----------------------------------------
@pytest.mark.parametrize(("f", "shapes", "kwargs"), [
    (ndl.divide_scalar, [(3, 4)], {"scalar": 1.7}),
    (ndl.multiply, [(2, 3), (2, 3)], {}),
    (ndl.power_scalar, [(3, 2)], {"scalar": 3}),
    (ndl.mul_scalar, [(3, 2)], {"scalar": -0.5}),
    (ndl.negate, [(2, 3)], {}),
    (ndl.matmul, [(5, 4), (4, 3)], {}),
    (ndl.matmul, [(2, 3, 4), (4, 5)], {}),
    (ndl.matmul, [(3, 4), (2, 4, 5)], {}),
    (ndl.summation, [(5, 4)], {"axes": (1,)}),
    (ndl.summation, [(5, 4, 2)], {"axes": (0, 2)}),
    (ndl.summation, [(5, 4)], {}),
    (ndl.broadcast_to, [(3, 1)], {"shape": (3, 3)}),
    (ndl.broadcast_to, [(1, 3)], {"shape": (2, 4, 3)}),
    (ndl.reshape, [(5, 4)], {"shape": (4, 5)}),
    (ndl.transpose, [(3, 5, 4)], {"axes": (1, 2)}),
    (ndl.transpose, [(3, 5, 4)], {"axes": (0, 1)}),
    (ndl.transpose, [(3, 5, 4)], {}),
    (ndl.logsumexp, [(3, 4, 5)], {"axes": (1, 2)}),
    (ndl.logsumexp, [(3, 4)], {"axes": None}),
    (ndl.exp, [(3, 4)], {}),
    (ndl.tanh, [(3, 4)], {}),
    (ndl.sigmoid, [(3, 4)], {}),
    (ndl.flip, [(2, 3, 4)], {"axes": (0, 2)}),
    (ndl.dilate, [(2, 3)], {"axes": (0, 1), "dilation": 2}),
])
def test_gradients_by_needles_check(f, shapes, kwargs):
    gradient_check(f, *[rand(*shape) for shape in shapes], **kwargs)
    gradient_check(f, *[rand(*shape) for shape in shapes], backward=False, **kwargs)


def test_gradients_of_log_power_and_relu_away_from_their_kinks():
    gradient_check(ndl.divide, rand(3, 4), rand(3, 4, shift=5.0))
    gradient_check(ndl.log, ndl.Tensor(np.random.rand(3, 4) + 0.5))
    gradient_check(ndl.power, ndl.Tensor(np.random.rand(3, 2) + 0.5), ndl.Tensor(np.random.randn(3, 2)))
    a = np.random.randn(4, 5)
    a[np.abs(a) < 0.1] = 0.5
    gradient_check(ndl.relu, ndl.Tensor(a))


def test_gradients_of_stack_split_and_conv():
    gradient_check(lambda *xs: ndl.stack(list(xs), axis=1), rand(3, 2), rand(3, 2), rand(3, 2))
    gradient_check(lambda x: ndl.split(x, axis=1)[1] * ndl.split(x, axis=1)[2], rand(2, 3, 2))
    gradient_check(ndl.conv, rand(1, 5, 5, 2), rand(3, 3, 2, 3), stride=2, padding=1, tol=1e-5)


def test_backward_takes_out_grad_and_the_gradient_of_a_gradient():
    a = np.random.randn(3, 4)
    x = ndl.Tensor(a)
    y = x * x
    head = np.random.randn(3, 4)
    y.backward(ndl.Tensor(head))
    np.testing.assert_allclose(x.grad.numpy(), 2 * a * head, rtol=1e-12)
    z = ndl.Tensor(a)
    w = ndl.summation(ndl.exp(z))
    w.backward()  # a scalar: out_grad is ones
    np.testing.assert_allclose(z.grad.numpy(), np.exp(a), rtol=1e-12)


def test_a_second_backward_replaces_the_gradients_as_in_needle():
    x = ndl.Tensor(np.array([1.0, 2.0]))
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


@pytest.mark.parametrize("dtype", [None, "float32"])
@pytest.mark.parametrize("create_graph", [False, True])
def test_hw1_gradient_of_gradient_on_integer_and_float_tensors(dtype, create_graph):
    x2, x3 = ndl.Tensor([6], dtype=dtype), ndl.Tensor([0], dtype=dtype)
    y = x2 * x2 + x2 * x3
    y.backward(create_graph=create_graph)  # without it, the gradient's graph is built when needed
    grad_x2, grad_x3 = x2.grad, x3.grad
    grad_x2.backward()
    assert y.numpy() == 36 and grad_x2.numpy() == 12 and grad_x3.numpy() == 6
    assert x2.grad.numpy() == 2 and x3.grad.numpy() == 1


def test_a_gradient_whose_output_is_gone_cannot_be_differentiated():
    z = ndl.Tensor([6.0])
    (z * z).backward()  # the product is dropped at once
    with pytest.raises(DefinitionError, match=r"to differentiate a gradient, make it with backward\(create_graph"):
        z.grad.backward()


# -- the Tensor (needle's autograd.Tensor surface) -------------------------------------------------
def test_tensor_requires_grad_detach_data_and_dtype():
    a = np.random.randn(2, 3).astype(np.float32)
    x = ndl.Tensor(a, device=ndl.cpu())
    assert x.requires_grad and x.device == ndl.cpu() and x.dtype == "float32" and type(x.device) is str
    assert ndl.cpu().enabled() and ndl.cpu() in ndl.all_devices() and repr(ndl.cuda()) == "cuda()"
    assert str(ndl.cpu()) == "cpu()" and ndl.cpu().name == "cpu" and ndl.cpu() == "cpu"  # needle's text
    assert ndl.cuda().enabled() == _runs_cuda()
    assert ndl.Tensor(np.arange(3)).requires_grad  # integers too, as in needle
    assert not ndl.Tensor(a, requires_grad=False).requires_grad
    assert ndl.Tensor(a, dtype="float64").dtype == "float64"
    y = (x * 2).detach()
    assert not y.requires_grad and y.op is None
    np.testing.assert_array_equal(y.numpy(), a * 2)
    assert isinstance(x.cached_data, np.ndarray) and np.shares_memory(x.realize_cached_data(), x.data)
    np.testing.assert_array_equal(x.cached_data.numpy(), a)  # hw3/hw4 read NDArray.numpy()
    assert type(x.cached_data.numpy()) is np.ndarray and x.cached_data.compact().device == "cpu"
    z = x + 1
    z.data = ndl.Tensor(np.zeros((2, 3), np.float32))  # needle assigns a tensor's values
    np.testing.assert_array_equal(z.numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(np.asarray(x), a)
    numbers = x.numpy()
    numbers[0, 0] = 99.0  # a copy
    assert x.numpy()[0, 0] == a[0, 0]


def test_iterating_a_tensor_gives_its_rows():
    a = np.arange(6.0).reshape(2, 3)
    rows = list(ndl.Tensor(a))
    assert len(rows) == 2
    np.testing.assert_array_equal(rows[1].numpy(), a[1])
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(ndl.Tensor(3.0))


def test_the_values_of_data_are_cut_from_the_graph():
    w = ndl.Tensor(np.random.randn(3))
    step = ndl.Tensor(np.random.randn(3))
    w.data = w.data - 0.1 * step.detach()  # needle's optimizer idiom
    assert w.requires_grad and w.op is None and w.grad is None


def _runs_cuda() -> bool:
    try:
        ndl.Tensor([1.0], device="cuda")
    except BackendUnavailable:
        return False
    return True


# -- bad input: an error at the call ----------------------------------------------------------------
@pytest.mark.parametrize(("call", "message"), [
    (lambda: ndl.transpose(ndl.Tensor(np.ones((2, 3, 4))), (0, 5)), r"transpose: axis 5 is out of range"),
    (lambda: ndl.transpose(ndl.Tensor(np.ones((2, 3, 4))), (1, 1)), r"nor two different axes to swap"),
    (lambda: ndl.transpose(ndl.Tensor(np.ones((2, 3, 4))), (0, 1, 1)), r"are not a permutation of the 3 axes"),
    (lambda: ndl.summation(ndl.Tensor(np.ones((2, 3))), axes=(2,)), r"sum: axis 2 is out of range"),
    (lambda: ndl.summation(ndl.Tensor(np.ones(2)), 0, axes=0), r"sum: both axis=0 and axes=0 given"),
    (lambda: ndl.logsumexp(ndl.Tensor(np.ones((2, 3))), axes=(3,)), r"logsumexp: axis 3 is out of range"),
    (lambda: ndl.divide_scalar(ndl.Tensor(np.ones(2)), ndl.Tensor(np.ones(2))), r"divide_scalar: scalar must"),
    (lambda: ndl.mul_scalar(ndl.Tensor(np.ones(2)), np.ones(2)), r"mul_scalar: scalar must be a number, got ndarray"),
    (lambda: ndl.power_scalar(np.ones(2), 2), r"power_scalar: expected a Tensor, got ndarray"),
    (lambda: ndl.conv(ndl.Tensor(np.ones((1, 4, 4, 3))), ndl.Tensor(np.ones((3, 3, 2, 5)))),
     r"conv: the image has 3 channels"),
    (lambda: ndl.conv(ndl.Tensor(np.ones((4, 4, 3))), ndl.Tensor(np.ones((3, 3, 3, 5)))), r"must both have 4 axes"),
    (lambda: ndl.broadcast_to(ndl.Tensor(np.ones((2, 3))), (3, 3)), r"cannot broadcast shape \(2, 3\)"),
    (lambda: ndl.reshape(ndl.Tensor(np.ones((2, 3))), (4, 2)), r"cannot reshape shape \(2, 3\)"),
    (lambda: ndl.matmul(ndl.Tensor(np.ones((2, 3))), ndl.Tensor(np.ones((4, 2)))), r"matmul: shapes \(2, 3\)"),
    (lambda: ndl.summation(np.ones(3)), r"sum: input 0 is a ndarray, not a Tensor; wrap it first"),
    (lambda: ndl.split(ndl.Tensor(np.ones((2, 3))), 2), r"split: axis 2 is out of range for shape \(2, 3\)"),
    (lambda: ndl.stack([ndl.Tensor(np.ones(2))] * 2, 3), r"stack: axis 3 is out of range for 2 tensors of shape"),
    (lambda: ndl.ops.EWiseAdd()(ndl.Tensor(np.ones(2)), ndl.Tensor(np.ones(3))), r"add"),
])
def test_bad_input_is_refused_at_the_call(call, message):
    with pytest.raises(DefinitionError, match=message):
        call()
