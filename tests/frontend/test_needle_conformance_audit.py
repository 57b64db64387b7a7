"""needle conformance, what an audit of needle's public API name by name found untested or
missing: integer tensors that require grad, ``dilate``/``undilate`` along axes past the rank, the
optimizers' state dicts (``SGD.u``, ``Adam.m``/``v``), the device constructors
(``cpu().randn``, ...), ``backend_ndarray.sum``, ``data.Transform``, ``ops.logsoftmax`` and the
tuple ops, ``ndl.ones``/``zeros`` as init's, and the reflected operators. Each is written as a
needle program would be and checked against numpy (values, seeded draws) or central differences
(gradients); each refusal's message is checked."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.errors import DefinitionError

from .needle_checks import conv_reference, gradient_check
from .needle_shim import ndl


def _numeric_gradient(f, x: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """d sum(f(x)) / dx by central differences, in float64 numpy."""
    x, slopes = x.astype(np.float64), np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        step = np.zeros(x.shape)
        step[index] = eps
        slopes[index] = (f(x + step).sum() - f(x - step).sum()) / (2 * eps)
    return slopes


# -- 1. integer tensors that require grad (needle's default for every Tensor) -------------------
def test_conv_of_an_int64_image_gives_the_image_a_float_gradient():
    """hw4's ``nn.Conv`` on an int64 NCHW image: the values are the float convolution, and the
    image gets the gradient needle gives it (needle stores the image as floats), not None."""
    np.random.seed(1)
    image = np.random.randint(-3, 4, (1, 2, 5, 5)).astype(np.int64)
    conv = ndl.nn.Conv(2, 3, 3, stride=1, bias=True)
    x = ndl.Tensor(image)
    assert x.dtype == "int64" and x.requires_grad
    out = conv(x)
    w, b = conv.weight.numpy().astype(np.float64), conv.bias.numpy().astype(np.float64)

    def reference(img):
        nhwc = conv_reference(img.transpose(0, 2, 3, 1), w, 1, 1) + b
        return nhwc.transpose(0, 3, 1, 2)

    np.testing.assert_allclose(out.numpy(), reference(image.astype(np.float64)), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert x.grad is not None and x.grad.dtype.startswith("float") and x.grad.shape == image.shape
    np.testing.assert_allclose(x.grad.numpy(), _numeric_gradient(reference, image), rtol=1e-4, atol=1e-4)


def test_int_tensor_meeting_float_math_gets_the_float_adjoint():
    a, c = np.array([[1, -2, 3]], dtype=np.int64), np.array([[0.5, 1.5, -2.0]], dtype=np.float32)
    x, y = ndl.Tensor(a), ndl.Tensor(c)
    ((x * y) + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), c + 1.0, rtol=1e-6)
    np.testing.assert_allclose(y.grad.numpy(), a.astype(np.float32), rtol=1e-6)


def test_int_tensor_not_requiring_grad_gets_none():
    x = ndl.Tensor(np.array([1, 2, 3]), requires_grad=False)
    y = ndl.Tensor(np.array([0.5, 1.0, 2.0], dtype=np.float32))
    (x * y).sum().backward()
    assert x.grad is None
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 2.0, 3.0])


# -- 2. dilate / undilate along axes past the rank ----------------------------------------------
def _dilated(a: np.ndarray, axes, d: int) -> np.ndarray:
    axes = [ax for ax in axes if ax < a.ndim]
    shape = [n * (d + 1) if ax in axes else n for ax, n in enumerate(a.shape)]
    out = np.zeros(shape, a.dtype)
    out[tuple(slice(None, None, d + 1) if ax in axes else slice(None) for ax in range(a.ndim))] = a
    return out


@pytest.mark.parametrize("shape,axes,d", [((2, 3), (0, 2), 1), ((2, 3), (1, 5), 2), ((3,), (0, 1, 2), 1)])
def test_dilate_passes_over_axes_past_the_rank(shape, axes, d):
    a = np.random.default_rng(0).standard_normal(shape)
    got = ndl.dilate(ndl.Tensor(a), axes, d)
    np.testing.assert_array_equal(got.numpy(), _dilated(a, axes, d))
    back = ndl.undilate(got, axes, d)
    np.testing.assert_array_equal(back.numpy(), a)
    gradient_check(ndl.dilate, ndl.Tensor(a), axes=axes, dilation=d)
    gradient_check(ndl.undilate, ndl.Tensor(_dilated(a, axes, d)), axes=axes, dilation=d)


def test_dilate_with_every_axis_past_the_rank_is_a_copy_node():
    a = np.arange(6.0).reshape(2, 3)
    for function in (ndl.dilate, ndl.undilate):
        x = ndl.Tensor(a)
        out = function(x, (2, 3), 1)
        assert out is not x and out.op is not None and out.inputs == (x,)
        np.testing.assert_array_equal(out.numpy(), a)
        grads = out.op.gradient_as_tuple(ndl.Tensor(np.full(a.shape, 2.0)), out)
        np.testing.assert_array_equal(grads[0].numpy(), np.full(a.shape, 2.0))


def test_dilate_op_class_past_the_rank():
    a = np.ones((2, 2))
    got = ndl.ops.Dilate((1, 2), 1)(ndl.Tensor(a))
    np.testing.assert_array_equal(got.numpy(), _dilated(a, (1,), 1))


@pytest.mark.parametrize("function", ["dilate", "undilate"])
def test_negative_axis_past_the_rank_is_refused(function):
    with pytest.raises(DefinitionError, match=rf"{function}: axis -3 is out of range for a tensor of 2 dimensions; "
                                              r"use integers from -2 to 1"):
        getattr(ndl, function)(ndl.Tensor(np.ones((2, 2))), (-3,), 1)


# -- 3. the optimizers' state as needle's dicts -------------------------------------------------
def _stepped(optimizer, w0: np.ndarray, c: np.ndarray, steps: int, **kwargs):
    w = ndl.nn.Parameter(w0)
    opt = optimizer([w], **kwargs)
    for _ in range(steps):
        opt.reset_grad()
        (w * ndl.Tensor(c)).sum().backward()
        opt.step()
    return w, opt


def test_sgd_momentum_dict_u_follows_needles_recurrence():
    rng = np.random.default_rng(2)
    w0, c = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((2, 3)).astype(np.float32)
    lr, beta, wd = 0.1, 0.9, 0.01
    w, opt = _stepped(ndl.optim.SGD, w0, c, 3, lr=lr, momentum=beta, weight_decay=wd)
    ref_w, ref_u = w0.astype(np.float64), np.zeros(w0.shape)
    for _ in range(3):
        ref_u = beta * ref_u + (1 - beta) * (c + wd * ref_w)
        ref_w = ref_w - lr * ref_u
    assert list(opt.u) == [w] and opt.u[w].shape == w.shape
    np.testing.assert_allclose(opt.u[w].numpy(), ref_u, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-5, atol=1e-6)
    assert (opt.lr, opt.momentum, opt.weight_decay) == (lr, beta, wd)


@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_sgd_without_momentum_keeps_the_last_update_as_needle(wd):
    # needle's SGD at momentum 0: u[p] = 0 * u[p] + 1 * (g + wd * w), the last step's update
    rng = np.random.default_rng(4)
    w0, c = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((2, 3)).astype(np.float32)
    _, fresh = _stepped(ndl.optim.SGD, w0, c, 0, lr=0.1, weight_decay=wd)
    assert fresh.u == {}
    w, opt = _stepped(ndl.optim.SGD, w0, c, 2, lr=0.1, weight_decay=wd)
    ref_w = w0.astype(np.float64)
    for _ in range(2):
        ref_u = c + wd * ref_w
        ref_w = ref_w - 0.1 * ref_u
    assert list(opt.u) == [w] and opt.u[w].shape == w.shape
    np.testing.assert_allclose(opt.u[w].numpy(), ref_u, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-5, atol=1e-6)


def test_adam_dicts_m_v_and_t_follow_needles_recurrence():
    rng = np.random.default_rng(3)
    w0, c = rng.standard_normal((3,)).astype(np.float32), rng.standard_normal((3,)).astype(np.float32)
    lr, b1, b2, eps, wd = 0.01, 0.8, 0.9, 1e-8, 0.1
    w, opt = _stepped(ndl.optim.Adam, w0, c, 2, lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd)
    ref_w, m, v = w0.astype(np.float64), np.zeros(3), np.zeros(3)
    for t in (1, 2):
        g = c + wd * ref_w
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        ref_w = ref_w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    assert opt.t == 2 and (opt.beta1, opt.beta2, opt.eps) == (b1, b2, eps)
    np.testing.assert_allclose(opt.m[w].numpy(), m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(opt.v[w].numpy(), v, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-5, atol=1e-6)


# -- 4. needle's BackendDevice constructors and backend_ndarray.sum ------------------------------
def test_device_randn_and_rand_draw_needles_values():
    np.random.seed(4)
    want_n, want_u = np.random.randn(2, 3), np.random.rand(4)
    np.random.seed(4)
    got_n, got_u = ndl.cpu().randn(2, 3), ndl.cpu().rand(4)
    assert isinstance(got_n, ndl.backend_ndarray.NDArray) and got_n.dtype == "float32"
    np.testing.assert_allclose(got_n.numpy(), want_n.astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(got_u.numpy(), want_u.astype(np.float32), rtol=1e-6)


def test_device_one_hot_empty_full():
    device = ndl.cpu()
    np.testing.assert_array_equal(device.one_hot(4, np.array([1, 3, 0])).numpy(), np.eye(4)[[1, 3, 0]])
    assert device.empty((2, 5)).shape == (2, 5) and device.empty((2, 5)).device == device
    np.testing.assert_array_equal(device.full((2, 2), 1.5).numpy(), np.full((2, 2), 1.5, np.float32))


def test_device_constructor_of_another_dtype_is_refused():
    with pytest.raises(DefinitionError, match=r"Device.randn: dtype 'float64'; needle's NDArray stores float32 "
                                              r"only, give dtype='float32'"):
        ndl.cpu().randn(2, dtype="float64")
    with pytest.raises(DefinitionError, match=r"full: dtype 'int32'; needle's NDArray stores float32 only"):
        ndl.cpu().full((2,), 1, dtype="int32")


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), (2, False)])
def test_backend_ndarray_sum(axis, keepdims):
    a = np.random.default_rng(5).standard_normal((2, 3, 4)).astype(np.float32)
    got = ndl.backend_ndarray.sum(ndl.backend_ndarray.array(a), axis=axis, keepdims=keepdims)
    if axis is None:  # needle's reduction of every axis: shape (1,)
        want = a.sum().reshape((1,) * (a.ndim if keepdims else 1))
    else:
        want = a.sum(axis=axis, keepdims=keepdims)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


def test_ndarray_of_integers_stores_float32_and_fill_writes_in_place():
    nd = ndl.backend_ndarray
    a = nd.array(np.array([[1, 2], [3, 4]], dtype=np.int64))
    assert a.dtype == "float32" and a.numpy().dtype == np.float32
    np.testing.assert_array_equal(a.numpy(), [[1, 2], [3, 4]])
    pointer = a._handle.ptr()
    a.fill(7)
    assert a._handle.ptr() == pointer
    np.testing.assert_array_equal(a.numpy(), np.full((2, 2), 7, np.float32))
    assert ndl.Tensor(a).dtype == "float32"


# -- 5. data.Transform ---------------------------------------------------------------------------
def test_transform_is_the_base_of_needles_transforms():
    class Negate(ndl.data.Transform):
        def __call__(self, x):
            return -x

    assert isinstance(ndl.data.RandomFlipHorizontal(), ndl.data.Transform)
    assert isinstance(ndl.data.RandomCrop(), ndl.data.Transform)
    np.testing.assert_array_equal(Negate()(np.ones(2)), -np.ones(2))
    with pytest.raises(NotImplementedError, match=r"Transform: define __call__\(self, x\)"):
        ndl.data.Transform()(np.ones(2))


# -- 6. ops.logsoftmax and the tuple ops --------------------------------------------------------
def test_logsoftmax_against_numpy_and_central_differences():
    z = np.random.default_rng(6).standard_normal((3, 5))
    want = z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - z.max(1, keepdims=True)
    for got in (ndl.ops.logsoftmax(ndl.Tensor(z)), ndl.ops.LogSoftmax()(ndl.Tensor(z)), ndl.logsoftmax(ndl.Tensor(z))):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-10)
    weights = ndl.Tensor(np.arange(15.0).reshape(3, 5))
    gradient_check(lambda x: ndl.ops.logsoftmax(x) * weights, ndl.Tensor(z))


def test_logsoftmax_of_a_scalar_is_refused():
    with pytest.raises(DefinitionError, match=r"logsoftmax: the tensor of shape \(\) has no axis to normalise "
                                              r"over; give \(batch, classes\) logits"):
        ndl.ops.logsoftmax(ndl.Tensor(1.0))


def test_tuple_ops():
    a = np.array([1.0, -2.0, 4.0])
    x = ndl.Tensor(a)
    pair = ndl.ops.fused_add_scalars(x, 1.5, -3.0)
    assert isinstance(pair, ndl.TensorTuple) and isinstance(pair, ndl.autograd.TensorTuple)
    np.testing.assert_array_equal(pair[0].numpy(), a + 1.5)
    np.testing.assert_array_equal(ndl.ops.tuple_get_item(pair, 1).numpy(), a - 3.0)
    (pair[0] * 2 + ndl.ops.TupleGetItem(1)(pair)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 3.0))
    again = ndl.ops.FusedAddScalars(0.5, 1.0)(ndl.Tensor(a))
    np.testing.assert_array_equal(again[1].numpy(), a + 1.0)
    made = ndl.ops.MakeTensorTuple()(x, x)
    assert len(made) == 2 and ndl.ops.make_tuple(x)[0] is x


# -- 7. top-level names as needle's __init__ binds them -----------------------------------------
def test_top_level_ones_and_zeros_are_inits():
    ones = ndl.ones(2, 3)
    assert ones.shape == (2, 3) and ones.dtype == "float32" and not ones.requires_grad
    np.testing.assert_array_equal(ones.numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(ndl.zeros(4, dtype="float32").numpy(), np.zeros(4))
    like = ndl.zeros_like(ndl.Tensor(np.ones((3, 1), np.float32)))
    assert like.shape == (3, 1) and not like.requires_grad
    np.testing.assert_array_equal(ndl.ones_like(like).numpy(), np.ones((3, 1)))
    assert ndl.autograd.LAZY_MODE is False


# -- 8. reflected operators and op classes not exercised elsewhere -------------------------------
@pytest.mark.parametrize("function,reference", [
    (lambda x: 1.5 - x, lambda a: 1.5 - a),
    (lambda x: 2.0 / x, lambda a: 2.0 / a),
    (lambda x: x ** ndl.Tensor(np.full((2, 3), 2.0)), lambda a: a ** 2),
    (lambda x: ndl.ops.Split(1)(x)[2] * 3, lambda a: a[:, 2] * 3),
])
def test_reflected_operators_and_split_class(function, reference):
    a = np.random.default_rng(7).uniform(0.5, 2.0, (2, 3))
    np.testing.assert_allclose(function(ndl.Tensor(a)).numpy(), reference(a), rtol=1e-12)
    gradient_check(function, ndl.Tensor(a))


# -- 9. hw3's backend device functions on buffers ------------------------------------------------
@pytest.mark.parametrize("m,n,p", [(1, 1, 1), (2, 2, 3), (1, 2, 1), (3, 3, 3)])
def test_matmul_tiled_as_hw3_calls_it(m, n, p):
    nd, device = ndl.backend_ndarray, ndl.backend_ndarray.cpu()
    assert hasattr(device, "matmul_tiled")
    t = device.__tile_size__
    rng = np.random.default_rng(m * 100 + n * 10 + p)
    a = nd.array(rng.standard_normal((m, n, t, t)), device=device)
    b = nd.array(rng.standard_normal((n, p, t, t)), device=device)
    c = nd.NDArray.make((m, p, t, t), device=device)
    device.matmul_tiled(a._handle, b._handle, c._handle, m * t, n * t, p * t)
    lhs = a.numpy().transpose(0, 2, 1, 3).reshape(m * t, n * t) @ b.numpy().transpose(0, 2, 1, 3).reshape(n * t, p * t)
    np.testing.assert_allclose(c.numpy().transpose(0, 2, 1, 3).reshape(m * t, p * t), lhs, atol=1e-5, rtol=1e-5)


def test_device_elementwise_scalar_and_reduce_functions():
    nd, device = ndl.backend_ndarray, ndl.cpu()
    x = np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3)
    y = np.full((2, 3), 2.0, np.float32)
    a, b, out = nd.array(x), nd.array(y), nd.NDArray.make((2, 3))
    for name, want in [("ewise_add", x + y), ("ewise_mul", x * y), ("ewise_div", x / y),
                       ("ewise_maximum", np.maximum(x, y)), ("ewise_eq", x == y), ("ewise_ge", x >= y)]:
        getattr(device, name)(a._handle, b._handle, out._handle)
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-6, err_msg=name)
    for name, want in [("scalar_add", x + 2), ("scalar_mul", x * 2), ("scalar_div", x / 2), ("scalar_power", x ** 2),
                       ("scalar_maximum", np.maximum(x, 2)), ("scalar_eq", x == 2), ("scalar_ge", x >= 2)]:
        getattr(device, name)(a._handle, 2.0, out._handle)
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-6, err_msg=name)
    for name, want in [("ewise_log", np.log(x)), ("ewise_exp", np.exp(x)), ("ewise_tanh", np.tanh(x))]:
        getattr(device, name)(a._handle, out._handle)
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-6, err_msg=name)
    rows = nd.NDArray.make((2,))
    device.reduce_sum(a._handle, rows._handle, 3)
    np.testing.assert_allclose(rows.numpy(), x.sum(1), rtol=1e-6)
    device.reduce_max(a._handle, rows._handle, 3)
    np.testing.assert_array_equal(rows.numpy(), x.max(1))
    product = nd.NDArray.make((2, 2))
    device.matmul(a._handle, b._handle, product._handle, 2, 3, 2)
    np.testing.assert_allclose(product.numpy(), x @ y.reshape(3, 2), rtol=1e-6)


def test_device_compact_setitem_fill_and_numpy_copies():
    nd, device = ndl.backend_ndarray, ndl.cpu()
    x = np.arange(12.0, dtype=np.float32)
    a, out = nd.array(x), nd.NDArray.make((3, 2))
    device.compact(a._handle, out._handle, (3, 2), (1, 4), 1)  # a transposed, strided view
    np.testing.assert_array_equal(out.numpy(), np.lib.stride_tricks.as_strided(x[1:], (3, 2), (4, 16)))
    target = nd.array(np.zeros(12, np.float32))
    device.ewise_setitem(out._handle, target._handle, (3, 2), (2, 6), 0)
    want = np.zeros(12, np.float32)
    np.lib.stride_tricks.as_strided(want, (3, 2), (8, 24), writeable=True)[...] = out.numpy()
    np.testing.assert_array_equal(target.numpy(), want)
    device.scalar_setitem(2, 9.0, target._handle, (2,), (5,), 1)
    want[[1, 6]] = 9.0
    np.testing.assert_array_equal(target.numpy(), want)
    device.fill(target._handle, -1.0)
    np.testing.assert_array_equal(target.numpy(), np.full(12, -1.0))
    buffer = device.Array(4)
    device.from_numpy(np.array([[1, 2], [3, 4]]), buffer)
    np.testing.assert_array_equal(device.to_numpy(buffer, (2, 2), (1, 2), 0), [[1, 3], [2, 4]])
    assert device.__device_name__ == "cpu" and device._datatype is np.float32 and device._datetype_size == 4


def test_device_function_refusals():
    nd, device = ndl.backend_ndarray, ndl.cpu()
    a = nd.array(np.ones((2, 4), np.float32))
    with pytest.raises(DefinitionError, match=r"matmul_tiled: sizes \(4, 4, 4\) must be multiples of the tile size "
                                              r"8; pad the matrices or use matmul"):
        device.matmul_tiled(a._handle, a._handle, a._handle, 4, 4, 4)
    with pytest.raises(DefinitionError, match=r"ewise_add: a buffer of 8 elements is used as 16; give a buffer of at "
                                              r"least that many"):
        device.ewise_add(a._handle, a._handle, nd.NDArray.make((16,))._handle)
    with pytest.raises(DefinitionError, match=r"ewise_add: expected a buffer \(an NDArray's \._handle\), got NDArray"):
        device.ewise_add(a, a, a)
    with pytest.raises(DefinitionError, match=r"reduce_sum: reduce_size 0; give the positive number of elements"):
        device.reduce_sum(a._handle, a._handle, 0)
    with pytest.raises(DefinitionError, match=r"matmul: sizes \(2, 0, 2\); give positive ints m, n, p"):
        device.matmul(a._handle, a._handle, a._handle, 2, 0, 2)
    with pytest.raises(DefinitionError, match=r"scalar_setitem: size 3 but the view \(2,\) has 2 elements"):
        device.scalar_setitem(3, 1.0, a._handle, (2,), (1,), 0)
    with pytest.raises(DefinitionError, match=r"Array: size -1 is not a number of elements"):
        device.Array(-1)
    with pytest.raises(AttributeError, match=r"Device cpu\(\) has no attribute 'ewise_sin'"):
        device.ewise_sin  # noqa: B018 - the attribute lookup is what is tested


# -- 10. constructors called positionally in needle's order --------------------------------------
def test_modules_take_device_then_dtype_positionally():
    device = ndl.cpu()
    linear = ndl.nn.Linear(3, 4, True, device, "float64")
    assert [p.shape for p in linear.parameters()] == [(3, 4), (1, 4)]
    assert all(p.dtype == "float64" and p.device == device for p in linear.parameters())
    batch = ndl.nn.BatchNorm1d(3, 1e-3, 0.2, device, "float64")
    assert (batch.eps, batch.momentum, batch.weight.dtype) == (1e-3, 0.2, "float64")
    layer = ndl.nn.LayerNorm1d(3, 1e-3, device, "float64")
    assert (layer.eps, layer.bias.dtype) == (1e-3, "float64")
    x = np.random.default_rng(8).standard_normal((4, 3))
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    np.testing.assert_allclose(layer(ndl.Tensor(x)).numpy(), (x - mean) / np.sqrt(var + 1e-3), rtol=1e-10)


@pytest.mark.parametrize("optimizer,positional,named", [
    (ndl.optim.SGD, (0.1, 0.9, 0.05), {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.05}),
    (ndl.optim.Adam, (0.01, 0.8, 0.9, 1e-6, 0.05), {"lr": 0.01, "beta1": 0.8, "beta2": 0.9, "eps": 1e-6,
                                                     "weight_decay": 0.05}),
])
def test_optimizers_take_needles_positional_order(optimizer, positional, named):
    rng = np.random.default_rng(9)
    w0, c = rng.standard_normal((2, 2)).astype(np.float32), rng.standard_normal((2, 2)).astype(np.float32)
    by_position = ndl.nn.Parameter(w0)
    opt = optimizer([by_position], *positional)
    assert opt.weight_decay == 0.05
    for _ in range(2):
        opt.reset_grad()
        (by_position * ndl.Tensor(c)).sum().backward()
        opt.step()
    by_name, _ = _stepped(optimizer, w0, c, 2, **named)
    np.testing.assert_array_equal(by_position.numpy(), by_name.numpy())
