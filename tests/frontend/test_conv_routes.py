"""The frontend's conv2d on the blocked and Winograd kernels (frontend/ops/conv_routes.py): which
kernel each shape gets, and for every routed form (stride 1 and 2, padding below, at and above
the kernel's reach, 1x1, 3x3, 7x7, channels off a multiple of 16, batch 1) the float32 forward
against a float64 numpy convolution and the float32 gradients of both operands against central
differences of the float64 convolution."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import ops
from frontend.ops.conv_routes import ConvMethod, forward_method, grad_input_plan, grad_weight_method
from schedules.templates.conv_variants import ConvParams

from .test_ops import _conv_reference

M = ConvMethod


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, method", [
    ((64, 1, 28, 28), (16, 1, 3, 3), 1, 1, M.TILED),          # CNN step, first layer: 9 products per output
    ((64, 16, 14, 14), (32, 16, 3, 3), 1, 1, M.WINOGRAD2),    # CNN step, second layer
    ((8, 3, 224, 224), (64, 3, 7, 7), 2, 3, M.BLOCKED),       # ResNet-18 conv1
    ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1, M.WINOGRAD4),
    ((8, 64, 56, 56), (128, 64, 3, 3), 2, 1, M.BLOCKED),
    ((8, 64, 56, 56), (128, 64, 1, 1), 2, 0, M.BLOCKED),
    ((8, 512, 7, 7), (512, 512, 3, 3), 1, 1, M.WINOGRAD4),
    ((8, 8, 7, 7), (16, 8, 3, 3), 1, 1, M.BLOCKED),           # too few channels for Winograd's blocks
    ((64, 16, 30, 30), (1, 16, 3, 3), 1, 0, M.TILED),         # the CNN step's first dX: one output channel
    ((8, 17, 30, 30), (32, 17, 1, 1), 1, 0, M.TILED),         # 17 products per output, stride 1
    ((8, 17, 30, 30), (32, 17, 1, 1), 2, 0, M.BLOCKED),       # the same at stride 2
])
def test_forward_method(x_shape, w_shape, stride, padding, method):
    assert forward_method(x_shape, w_shape, ConvParams(stride, padding), "float32", "llvm") is method


@pytest.mark.parametrize("params, dtype, target", [
    (ConvParams(1, 1), "float64", "llvm"), (ConvParams(1, 1), "int32", "llvm"), (ConvParams(1, 1), "float32", "cuda"),
    (ConvParams(1, 1, 2), "float32", "llvm"), (ConvParams(1, 1, 1, 2), "float32", "llvm")])
def test_other_convolutions_keep_the_tiled_kernel(params, dtype, target):
    shape = (2, 32, 9, 9)
    assert forward_method(shape, (32, 32 // params.groups, 3, 3), params, dtype, target) is M.TILED
    assert grad_input_plan((2, 32, 9, 9), (32, 32 // params.groups, 3, 3), params, (9, 9), dtype, target) is None
    assert grad_weight_method(shape, (3, 3), params, (dtype, dtype), target) is M.TILED


def test_a_strided_input_gradient_is_a_convolution_of_spread_dy():
    """Even where that convolution stays on the tiled kernel (3 output channels); a 1x1 kernel's
    is its product spread out; other dtypes keep the tiled dX kernel."""
    params = ConvParams(2, 1)
    assert grad_input_plan((2, 32, 5, 5), (3, 64, 7, 7), params, (9, 9), "float32", "llvm") == "spread"
    assert grad_input_plan((2, 32, 5, 5), (32, 20, 1, 1), params, (9, 9), "float32", "llvm") == "scatter"
    assert grad_input_plan((2, 32, 5, 5), (32, 20, 1, 1), params, (9, 9), "float64", "llvm") is None
    assert grad_input_plan((2, 32, 5, 5), (3, 64, 7, 7), ConvParams(2, 1, 2), (9, 9), "float32", "llvm") is None


def test_weight_gradients_run_on_the_vector_kernel():
    """Every float32 CPU dW of one group, no dilation and a square kernel (the CNN step's first
    layer included), but not a mixed-dtype or rectangular one."""
    for shape, kernel in (((64, 1, 28, 28), (3, 3)), ((8, 3, 224, 224), (7, 7)), ((1, 17, 9, 9), (1, 1))):
        assert grad_weight_method(shape, kernel, ConvParams(2, 1), ("float32", "float32"), "llvm") is M.BLOCKED
    assert grad_weight_method((1, 4, 9, 9), (3, 1), ConvParams(), ("float32", "float32"), "llvm") is M.TILED
    assert grad_weight_method((1, 4, 9, 9), (3, 3), ConvParams(), ("float32", "float64"), "llvm") is M.TILED


def _directional(fn, arrays, k, direction, adjoint, eps=1e-3):
    """Central difference of ``sum(adjoint * fn(...))`` along ``direction`` in operand ``k``, float64."""
    values = []
    for sign in (1.0, -1.0):
        moved = [a + sign * eps * direction if j == k else a for j, a in enumerate(arrays)]
        with nf.no_grad():
            values.append(fn(*[nf.Tensor(a) for a in moved]).numpy())
    return float(((values[0] - values[1]) * adjoint).sum() / (2 * eps))


#: (x shape, weight shape, stride, padding, forward method, dX's convolution method)
ROUTED = [
    ((2, 16, 10, 9), (16, 16, 3, 3), 1, 1, M.WINOGRAD2, M.WINOGRAD2),    # 3x3 s1, rectangular
    ((1, 64, 8, 8), (20, 64, 3, 3), 1, 1, M.WINOGRAD4, M.WINOGRAD2),     # F(4x4,3x3), 20 output channels
    ((1, 20, 9, 9), (24, 20, 3, 3), 2, 1, M.BLOCKED, M.WINOGRAD2),       # 3x3 s2, batch 1
    ((2, 3, 15, 15), (17, 3, 7, 7), 2, 3, M.BLOCKED, M.TILED),           # 7x7 s2, 3 input channels
    ((1, 33, 9, 9), (40, 33, 1, 1), 2, 0, M.BLOCKED, M.BLOCKED),         # 1x1 s2
    ((1, 12, 9, 9), (16, 12, 1, 1), 2, 0, M.BLOCKED, M.TILED),           # 1x1 s2, 12 products per output
    ((1, 20, 9, 9), (24, 20, 1, 1), 2, 1, M.BLOCKED, M.TILED),           # 1x1 s2, padded: dX scattered
    ((2, 5, 12, 12), (8, 5, 3, 3), 1, 0, M.BLOCKED, M.TILED),            # unpadded; dX has 5 output channels
    ((2, 8, 11, 11), (16, 8, 3, 3), 2, 3, M.BLOCKED, M.BLOCKED),         # padding above the kernel's reach
    ((1, 30, 7, 7), (18, 30, 3, 3), 1, 4, M.WINOGRAD2, M.WINOGRAD2),     # stride 1, padding above the reach
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, method, dx_method", ROUTED)
def test_routed_convolution(x_shape, w_shape, stride, padding, method, dx_method, rng):
    params = ConvParams(stride, padding)
    assert forward_method(x_shape, w_shape, params, "float32", "llvm") is method
    k, c, kr, _ = w_shape
    spread = (x_shape[0], k, x_shape[2] + kr - 1, x_shape[3] + kr - 1)
    assert forward_method(spread, (c, k, kr, kr), ConvParams(), "float32", "llvm") is dx_method
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    x32, w32 = nf.Tensor(x.astype(np.float32), requires_grad=True), nf.Tensor(w.astype(np.float32), requires_grad=True)
    y = ops.conv2d(x32, w32, stride, padding)
    reference = _conv_reference(x.astype(np.float32).astype(np.float64), w.astype(np.float32).astype(np.float64),
                                stride, padding, 1, 1)
    scale = np.sqrt(c * kr * kr)
    assert y.dtype == "float32"
    np.testing.assert_allclose(y.numpy(), reference, rtol=0, atol=2e-5 * scale)
    adjoint = rng.standard_normal(y.shape)
    y.backward(nf.Tensor(adjoint.astype(np.float32)))
    conv = lambda a, b: ops.conv2d(a, b, stride, padding)  # noqa: E731
    for k_, tensor in enumerate((x32, w32)):
        assert tensor.grad is not None and tensor.grad.shape == (x_shape, w_shape)[k_]
        direction = rng.standard_normal(tensor.shape)
        direction /= np.linalg.norm(direction)
        numeric = _directional(conv, [x, w], k_, direction, adjoint)
        analytic = float((tensor.grad.numpy().astype(np.float64) * direction).sum())
        assert abs(numeric - analytic) <= 1e-4 * max(1.0, abs(numeric)), (k_, numeric, analytic)


def test_routed_input_gradient_equals_the_tiled_kernel(rng):
    """dX by the flipped-weight convolution over spread dY against the tiled dX kernel itself."""
    from frontend.ops.base import Op
    from frontend.ops.conv import Conv2dGradInput

    params = ConvParams(2, 1)
    dy = rng.standard_normal((2, 24, 5, 5)).astype(np.float32)
    w = rng.standard_normal((24, 20, 3, 3)).astype(np.float32)
    op = Conv2dGradInput(params, (10, 10))
    assert grad_input_plan(dy.shape, w.shape, params, (10, 10), "float32", "llvm") == "spread"
    np.testing.assert_allclose(op.forward(dy, w), Op.forward(op, dy, w), rtol=0, atol=1e-4)


def test_needle_conv_trains_on_the_routed_kernels(rng):
    """nn.Conv with a bias (one fused conv + bias kernel, the bias folded into the routed
    kernel's NCHW output) on a routed shape: its output and the image's gradient against the
    float64 tiled path."""
    from frontend import nn

    conv = nn.Conv(16, 16, 3, stride=1, bias=True, device=None, dtype="float32")
    assert forward_method((2, 16, 8, 8), (16, 16, 3, 3), ConvParams(1, 1), "float32", "llvm") is M.WINOGRAD2
    image = rng.standard_normal((2, 16, 8, 8)).astype(np.float32)
    x = nf.Tensor(image, requires_grad=True)
    y = conv(x)
    (y * y).sum().backward()
    x64 = nf.Tensor(image.astype(np.float64), requires_grad=True)
    w64 = ops.permute(nf.Tensor(conv.weight.numpy().astype(np.float64)), (3, 2, 0, 1))
    y64 = ops.conv2d(x64, w64, 1, 1) + ops.reshape(nf.Tensor(conv.bias.numpy().astype(np.float64)), (1, 16, 1, 1))
    (y64 * y64).sum().backward()
    np.testing.assert_allclose(y.numpy(), y64.numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), x64.grad.numpy(), rtol=0, atol=1e-3)


def test_a_registered_config_chooses_the_kernel_and_a_bad_method_is_refused(rng):
    from frontend import dispatch
    from frontend.ops.conv import Conv2d
    from tensorir.errors import ScheduleError

    x = rng.standard_normal((1, 16, 6, 6)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    params = ConvParams(1, 1)
    key, shapes, dtypes = ("conv2d", params), (x.shape, w.shape), ("float32", "float32")
    try:
        dispatch.register_config(key, shapes, dtypes, "cpu", {"method": "blocked"})
        y = Conv2d(params).forward(x, w)
        kernel = next(k for r, k in dispatch.cache.kernels.items() if r.op == "conv2d" and r.shapes == shapes)
        assert kernel.config["method"] == "blocked"
        np.testing.assert_allclose(y, _conv_reference(x.astype(np.float64), w.astype(np.float64), 1, 1, 1, 1),
                                   rtol=0, atol=1e-4)
        dispatch.clear()
        dispatch.register_config(key, shapes, dtypes, "cpu", {"method": "fft"})
        with pytest.raises(ScheduleError, match=r"conv2d: the config's method 'fft' is not one of 'tiled', "
                                                r"'blocked', 'winograd2', 'winograd4'; register one of them"):
            Conv2d(params).forward(x, w)
    finally:
        dispatch.cache.configs.pop((key, shapes, dtypes, "cpu"), None)
        dispatch.clear()
