"""needle's hw4 tests (test_conv.py, test_nd_backend.py) as conformance programs, through the
shim: needle's own gradient check (a float64 random adjoint, the stored values moved through
``realize_cached_data().flat``, ``op.gradient_as_tuple`` and ``TensorTuple``), tensors made from
``backend_ndarray`` arrays, stack/flip/dilate/pad, ``nn.Conv`` and ``conv`` with stride and padding
against numpy loops, and needle's published initial values and ResNet9 outputs."""

from __future__ import annotations

import numpy as np
import pytest

from .needle_checks import conv_reference
from .needle_shim import ndl

nd = ndl.backend_ndarray


def needle_backward_check(f, *args, eps=1e-3, tol=1e-2, **kwargs):
    """needle's ``backward_check``: central differences of ``sum(f(args) * c)`` for a random float64
    adjoint ``c``, each stored element moved in place, against ``out.op.gradient_as_tuple(c)``;
    a list as the first argument (``stack``) is the op's inputs."""
    out = f(*args, **kwargs)
    c = np.random.randn(*out.shape)
    stacked = isinstance(args[0], list)
    inputs = args[0] if stacked else args

    def value():
        return float(((f(inputs, **kwargs) if stacked else f(*inputs, **kwargs)).numpy() * c).sum())

    numeric = [np.zeros(a.shape) for a in inputs]
    for tensor, slopes in zip(inputs, numeric):
        stored = tensor.realize_cached_data()
        for j in range(stored.size):
            stored.flat[j] += eps
            above = value()
            stored.flat[j] -= 2 * eps
            below = value()
            stored.flat[j] += eps
            slopes.flat[j] = (above - below) / (2 * eps)
    grads = out.op.gradient_as_tuple(ndl.Tensor(c, device=inputs[0].device), out)
    if isinstance(grads[0], ndl.TensorTuple):
        grads = grads[0].tuple()
    error = sum(np.linalg.norm(g.numpy() - n) for g, n in zip(grads, numeric))
    assert error < tol, f"gradient error {error}"
    return [g.numpy() for g in grads]


def tensor(*shape, scale=1.0):
    return ndl.Tensor(np.random.randn(*shape) * scale, device=ndl.cpu())


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)


# -- stack, flip, dilate, pad -------------------------------------------------------------------------
@pytest.mark.parametrize(("shape", "n", "axis"), [((3, 4), 3, 0), ((3, 4), 3, 1), ((3, 4), 3, 2), ((3, 4), 1, 2)])
def test_stack_backward(shape, n, axis):
    needle_backward_check(ndl.stack, [tensor(*shape, scale=5) for _ in range(n)], axis=axis)


@pytest.mark.parametrize(("shape", "n", "axis"), [((10, 3), 4, 0), ((4, 5, 6), 3, 1), ((4, 5, 6), 2, 2)])
def test_stack_forward(shape, n, axis):
    values = [np.random.randn(*shape) for _ in range(n)]
    got = ndl.stack([ndl.Tensor(v, device=ndl.cpu()) for v in values], axis=axis)
    np.testing.assert_allclose(got.numpy(), np.stack(values, axis=axis))


def test_stack_of_products_and_its_gradients_against_numpy():
    A, B, C, D = (np.random.randn(*s) for s in ((5, 5), (5, 5), (5, 5), (15, 5)))
    a, b, c, d = (ndl.Tensor(v, requires_grad=True) for v in (A, B, C, D))
    x = ndl.stack([a, c @ b, c], axis=1)
    np.testing.assert_allclose(x.numpy(), np.stack([A, C @ B, C], axis=1), atol=1e-10)
    y = (d @ x.reshape((5, 15)) @ d).sum()
    np.testing.assert_allclose(y.numpy(), (D @ np.stack([A, C @ B, C], 1).reshape(5, 15) @ D).sum(), rtol=1e-10)
    y.backward()
    g = (D.T @ np.ones((15, 5)) @ D.T).reshape(5, 3, 5)  # d y / d x, split along the stacked axis
    np.testing.assert_allclose(a.grad.cached_data.numpy(), g[:, 0], rtol=1e-9)
    np.testing.assert_allclose(b.grad.cached_data.numpy(), C.T @ g[:, 1], rtol=1e-9)
    np.testing.assert_allclose(c.grad.cached_data.numpy(), g[:, 1] @ B.T + g[:, 2], rtol=1e-9)


@pytest.mark.parametrize("padding", [((0, 0), (2, 2), (2, 2), (0, 0)), ((0, 0),) * 4])
def test_pad_forward(padding):
    values = np.random.randn(2, 6, 6, 3)
    padded = nd.NDArray(values, device=nd.cpu()).pad(padding)
    np.testing.assert_allclose(padded.numpy(), np.pad(values, padding), rtol=1e-6)


@pytest.mark.parametrize(("shape", "axes"), [((10, 5), (0,)), ((10, 5), (0, 1)), ((4, 6, 6, 3), (1, 2)),
                                             ((3, 3, 6, 8), (2, 3)), ((2, 6, 6, 3), (0, 1, 2, 3))])
def test_flip_forward(shape, axes):
    values = np.random.randn(*shape)
    np.testing.assert_array_equal(ndl.flip(ndl.Tensor(values), axes=axes).numpy(), np.flip(values, axes))


@pytest.mark.parametrize(("shape", "axes"), [((10, 5), (1,)), ((2, 3, 3, 4), (0, 1)), ((2, 3, 3, 4), (0, 1, 2, 3))])
def test_flip_backward(shape, axes):
    needle_backward_check(ndl.flip, tensor(*shape), axes=axes)


def dilated(values, dilation, axes):
    shape = tuple(n * (dilation + 1) if a in axes else n for a, n in enumerate(values.shape))
    out = np.zeros(shape)
    out[tuple(slice(None, None, dilation + 1) if a in axes else slice(None) for a in range(values.ndim))] = values
    return out


@pytest.mark.parametrize(("shape", "dilation", "axes"), [((2, 5), 0, (0,)), ((2, 5), 1, (0,)), ((2, 5), 1, (1,)),
                                                         ((2, 5), 1, (0, 1)), ((2, 2), 2, (0, 1)),
                                                         ((2, 2, 2, 2), 1, (1, 2))])
def test_dilate_forward(shape, dilation, axes):
    values = np.random.randint(1, 10, size=shape)
    got = ndl.dilate(ndl.Tensor(values, device=ndl.cpu()), dilation=dilation, axes=axes).numpy()
    np.testing.assert_array_equal(got, dilated(values, dilation, axes))


@pytest.mark.parametrize(("shape", "dilation", "axes"), [((2, 5), 1, (0,)), ((2, 5), 2, (1,)), ((2, 5), 0, (0, 1)),
                                                         ((2, 3, 3, 4), 1, (1, 2)), ((2, 3, 3, 4), 1, (0, 1, 2, 3))])
def test_dilate_backward(shape, dilation, axes):
    needle_backward_check(ndl.dilate, tensor(*shape), dilation=dilation, axes=axes)


# -- initial values and the ResNet9 of apps/models.py --------------------------------------------------
def test_init_kaiming_uniform_draws_needles_values():
    shape = ndl.Tensor(np.random.randn(3, 3, 16, 8), device=ndl.cpu()).shape
    np.random.seed(0)
    weights = ndl.init.kaiming_uniform(16 * 9, 8 * 9, shape=shape)
    assert abs(weights.sum().numpy() - -2.5719218) < 1e-4  # needle's published value


def test_resnet9_parameter_count_and_outputs_are_needles():
    from .test_needle_conformance_apps import ResNet9

    model = ResNet9(device=ndl.cpu())
    assert sum(np.prod(p.shape) for p in model.parameters()) == 431946
    logits = model(ndl.Tensor(np.random.randn(2, 3, 32, 32), device=ndl.cpu())).numpy()
    published = [[-1.8912625, 0.64833605, 1.9400386, 1.1435282, 1.89777, 2.9039745, -0.10433993, 0.35458302,
                  -0.5684191, 2.6178317],
                 [-0.2905612, -0.4147861, 0.90268034, 0.46530387, 1.3335679, 1.8534894, -0.1867125, -2.4298222,
                  -0.5344223, 4.362149]]
    assert np.linalg.norm(logits - np.array(published)) < 1e-2


# -- convolutions --------------------------------------------------------------------------------------
def conv_sum_gradients(x, w, stride, padding):
    """The gradients of ``sum(conv(x, w))`` (NHWC image, (K, K, C_in, C_out) weight) in numpy loops."""
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    k = w.shape[0]
    rows, cols = (xp.shape[1] - k) // stride + 1, (xp.shape[2] - k) // stride + 1
    dx, dw = np.zeros_like(xp), np.zeros_like(w)
    per_channel = w.sum(axis=3)
    for i in range(rows):
        for j in range(cols):
            window = (slice(None), slice(i * stride, i * stride + k), slice(j * stride, j * stride + k))
            dw += xp[window].sum(axis=0)[..., None]
            dx[window] += per_channel
    return dx[:, padding:xp.shape[1] - padding, padding:xp.shape[2] - padding], dw


@pytest.mark.parametrize(("s", "cin", "cout", "k", "stride"), [(4, 8, 16, 3, 1), (9, 8, 16, 3, 2), (8, 4, 6, 3, 2)])
def test_nn_conv_forward(s, cin, cout, k, stride):
    f = ndl.nn.Conv(cin, cout, k, stride=stride, device=ndl.cpu())
    x = ndl.init.rand(3, cin, s, s, device=ndl.cpu())
    want = conv_reference(x.cached_data.numpy().transpose(0, 2, 3, 1), f.weight.cached_data.numpy(), stride, k // 2)
    want = want.transpose(0, 3, 1, 2) + f.bias.cached_data.numpy().reshape(1, cout, 1, 1)
    assert np.linalg.norm(f(x).cached_data.numpy() - want) < 1e-3


@pytest.mark.parametrize(("s", "cin", "cout", "k", "stride"), [(4, 1, 1, 3, 1), (7, 4, 6, 3, 2), (8, 2, 3, 5, 2)])
def test_nn_conv_backward(s, cin, cout, k, stride):
    f = ndl.nn.Conv(cin, cout, k, stride=stride, device=ndl.cpu())
    x = ndl.init.rand(1, cin, s, s, device=ndl.cpu(), requires_grad=True)
    out = f(x)
    out.sum().backward()
    dx, dw = conv_sum_gradients(x.cached_data.numpy().transpose(0, 2, 3, 1), f.weight.cached_data.numpy(), stride,
                                k // 2)
    assert np.linalg.norm(f.weight.grad.cached_data.numpy() - dw) < 1e-3
    assert np.linalg.norm(f.bias.grad.cached_data.numpy() - np.prod(out.shape) / cout) < 1e-3
    assert np.linalg.norm(x.grad.cached_data.numpy() - dx.transpose(0, 3, 1, 2)) < 1e-3


@pytest.mark.parametrize(("z_shape", "w_shape", "stride", "padding"), [
    ((3, 8, 8, 4), (3, 3, 4, 6), 1, 1), ((3, 9, 9, 4), (3, 3, 4, 6), 1, 2), ((3, 8, 8, 2), (3, 3, 2, 5), 2, 0),
    ((3, 9, 9, 4), (3, 3, 4, 6), 2, 2), ((2, 9, 9, 1), (5, 5, 1, 4), 1, 0), ((2, 9, 9, 4), (1, 1, 4, 1), 1, 0),
])
def test_op_conv(z_shape, w_shape, stride, padding):
    z_values = (np.random.randn(*z_shape) * 5).astype(np.float32)
    w_values = (np.random.randn(*w_shape) * 5).astype(np.float32)
    z, w = ndl.Tensor(z_values, device=ndl.cpu()), ndl.Tensor(w_values, device=ndl.cpu())
    total = ndl.conv(z, w, padding=padding, stride=stride).sum()
    want = conv_reference(z_values.astype(np.float64), w_values, stride, padding).sum()
    assert abs(total.numpy() - want) < 1e-1 + 1e-5 * abs(want)
    total.backward()
    dz, dw = conv_sum_gradients(z_values.astype(np.float64), w_values.astype(np.float64), stride, padding)
    assert np.linalg.norm(z.grad.numpy() - dz) < 1e-2 * max(1.0, np.abs(dz).max() * 1e-3)
    assert np.linalg.norm(w.grad.numpy() - dw) < 1e-2 * max(1.0, np.abs(dw).max() * 1e-3)


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1)])
def test_conv_is_one_node_whose_op_gives_both_gradients(stride, padding):
    z, w = tensor(1, 5, 5, 2), tensor(3, 3, 2, 3)
    out = ndl.conv(z, w, stride=stride, padding=padding)
    assert out.inputs == (z, w)  # needle's one Conv node
    dz, dw = needle_backward_check(ndl.conv, z, w, stride=stride, padding=padding)
    assert dz.shape == z.shape and dw.shape == w.shape


# -- test_nd_backend: tensors made of backend_ndarray arrays -------------------------------------------
def nd_tensor(values):
    return ndl.Tensor(nd.array(values), device=ndl.cpu())


@pytest.mark.parametrize("shape", [(1, 1, 1), (4, 5, 6)])
def test_nd_backend_elementwise_scalar_and_maps(shape):
    a, b = np.random.randn(*shape).astype(np.float32), np.random.randn(*shape).astype(np.float32)
    A, B = nd_tensor(a), nd_tensor(b)
    s = np.random.randn(1).astype(np.float32).item()
    for fn in (lambda x, y: x / y, lambda x, y: x - y):
        np.testing.assert_allclose(fn(A, B).numpy(), fn(a, b), atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(fn(A, s).numpy(), fn(a, s), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose((A ** np.random.randint(1)).numpy(), a ** 0, atol=1e-5)  # a numpy int exponent
    np.testing.assert_allclose(ndl.log(nd_tensor(a + 5.0)).numpy(), np.log(a + 5.0), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(ndl.exp(A).numpy(), np.exp(a), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(ndl.relu(A).numpy(), np.maximum(a, 0), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(ndl.tanh(A).numpy(), np.tanh(a), atol=1e-5, rtol=1e-5)
    assert A.dtype == "float32"


@pytest.mark.parametrize(("m", "n", "p"), [(1, 2, 3), (5, 4, 3), (16, 16, 32), (72, 73, 74)])
def test_nd_backend_matmul(m, n, p):
    a, b = np.random.randn(m, n).astype(np.float32), np.random.randn(n, p).astype(np.float32)
    np.testing.assert_allclose((nd_tensor(a) @ nd_tensor(b)).numpy(), a @ b, atol=1e-4, rtol=1e-4)


def test_nd_backend_tanh_summation_and_logsumexp_gradients_with_float64_adjoints():
    needle_backward_check(ndl.tanh, nd_tensor(np.random.randn(4, 5, 6)), eps=1e-2, tol=0.42)
    for shape, axes in (((1, 1, 1), None), ((5, 3), 0), ((8, 3, 2), 1), ((2, 1, 2, 3), 3)):
        needle_backward_check(ndl.summation, nd_tensor(np.random.randn(*shape)), eps=1e-2, tol=0.42, axes=axes)
        needle_backward_check(ndl.logsumexp, nd_tensor(np.random.randn(*shape)), eps=1e-2, tol=0.42, axes=axes)


@pytest.mark.parametrize(("shape", "axis", "count"), [((5, 5), 0, 2), ((1, 5, 7), 2, 5)])
def test_nd_backend_stack_and_its_gradient(shape, axis, count):
    values = [np.random.randn(*shape).astype(np.float32) for _ in range(count)]
    parts = [nd_tensor(v) for v in values]
    out = ndl.stack(parts, axis=axis)
    np.testing.assert_allclose(out.numpy(), np.stack(values, axis), atol=1e-6)
    out.sum().backward()
    for part in parts:
        np.testing.assert_array_equal(part.grad.numpy(), np.ones(shape))


def test_nd_backend_shapes_and_reductions():
    a = np.random.randn(4, 1, 6).astype(np.float32)
    A = nd_tensor(a)
    np.testing.assert_array_equal(ndl.broadcast_to(A, (4, 3, 6)).numpy(), np.broadcast_to(a, (4, 3, 6)))
    np.testing.assert_array_equal(ndl.reshape(A, (6, 4, 1)).numpy(), a.reshape(6, 4, 1))
    b = np.random.randn(4, 5, 6).astype(np.float32)
    for axes, swap in (((0, 1), (0, 1)), ((0, 2), (0, 2)), (None, (1, 2))):
        np.testing.assert_array_equal(ndl.transpose(nd_tensor(b), axes=axes).numpy(), np.swapaxes(b, *swap))
    for axes in (None, 1, 2):
        np.testing.assert_allclose(ndl.summation(nd_tensor(b), axes=axes).numpy(), b.sum(axes), atol=1e-5)
        m = b.max(axis=axes, keepdims=True)
        want = (np.log(np.exp(b - m).sum(axis=axes, keepdims=True)) + m).squeeze(axes)
        np.testing.assert_allclose(ndl.logsumexp(nd_tensor(b), axes=axes).numpy(), want, atol=1e-5, rtol=1e-5)
