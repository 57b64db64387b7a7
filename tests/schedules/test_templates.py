"""Every template of ``schedules.templates`` through the interpreter against numpy, at sizes
that its tiles do not divide, with its trace replayed."""

from __future__ import annotations

import numpy as np
import pytest

from schedules import templates

from .helpers import check_numpy, check_roundtrip, nest


@pytest.mark.parametrize("transpose_b", [True, False])
@pytest.mark.parametrize("pack_b", [True, False])
def test_matmul_cpu(transpose_b, pack_b):
    s, args = templates.matmul_cpu(37, 45, 23, v1=4, v2=8, v3=4, b1=16, b2=16, transpose_b=transpose_b, pack_b=pack_b)
    check_numpy(s, args, lambda a, b: a @ (b.T if transpose_b else b))
    check_roundtrip(s, args)


def test_matmul_cpu_register_tile():
    s, args = templates.matmul_cpu(37, 45, 23, v1=4, v2=8, v3=4, b1=16, b2=16, b3=None, parallel=True)
    text = nest(s, args)
    assert "allocate C.local: float32[4, 8] in local" in text
    assert "parallel for i.outer in 0..3:" in text


def test_matmul_gpu():
    s, args = templates.matmul_gpu(37, 45, 19, L=16, S=4, V=4)
    text = nest(s, args)
    assert "allocate A.shared: float32[4, 16] in shared" in text  # k-major
    assert "allocate B.shared: float32[4, 16] in shared" in text
    assert "allocate C.local: float32[4, 4] in local" in text
    assert text.count("barrier()") >= 2
    check_numpy(s, args, lambda a, b: a @ b)
    check_roundtrip(s, args)


@pytest.mark.parametrize("n, threads", [(45, 16), (64, 32), (7, 8)])
def test_window_sum_gpu(n, threads):
    s, args = templates.window_sum_gpu(n, threads=threads)
    assert f"allocate A.shared: float32[{min(threads, n) + 4}] in shared" in nest(s, args)
    check_numpy(s, args, lambda a: sum(a[d:d + n] for d in range(5)))
    check_roundtrip(s, args)


def conv_reference(stride: int, padding: int = 1):
    def reference(x, w):
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        kernel = w.shape[2]
        out_h = (x.shape[2] - kernel) // stride + 1
        out_w = (x.shape[3] - kernel) // stride + 1
        return sum(np.einsum("nchw,kc->nkhw",
                             x[:, :, r:r + stride * out_h:stride, q:q + stride * out_w:stride], w[:, :, r, q])
                   for r in range(kernel) for q in range(kernel))

    return reference


@pytest.mark.parametrize("cache_input", [True, False])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_cpu(cache_input, stride):
    s, args = templates.conv2d_cpu(2, 3, 9, 19, 5, stride=stride, tile_k=4, tile_y=4, tile_x=8, cache_input=cache_input)
    text = nest(s, args)
    if cache_input:
        patch = ((4 - 1) * stride + 3, (8 - 1) * stride + 3)
        assert f"allocate X.pad: float32[1, 3, {patch[0]}, {patch[1]}] in local" in text
    else:
        assert "X.pad" not in text
    check_numpy(s, args, conv_reference(stride))
    check_roundtrip(s, args)


def test_conv2d_cpu_padded_input_at_root():
    s, args = templates.conv2d_cpu(1, 2, 7, 6, 3, input_cache="root", tile_k=2, tile_y=3, tile_x=4)
    check_numpy(s, args, conv_reference(1))
    check_roundtrip(s, args)


@pytest.mark.parametrize("shape", [(37,), (5, 13), (2, 3, 7)])
def test_elementwise_cpu(shape):
    s, args = templates.elementwise_cpu(shape, vector=8)
    check_numpy(s, args, lambda a, b: a + b)
    check_roundtrip(s, args)


def test_elementwise_cpu_with_a_function():
    s, args = templates.elementwise_cpu((13,), lambda a, b, c: a * b - c, inputs=3, vector=4)
    check_numpy(s, args, lambda a, b, c: a * b - c)


def test_bias_add():
    s, args = templates.bias_add(5, 37, vector=8)
    check_numpy(s, args, lambda a, bias: a + bias)
    check_roundtrip(s, args)


def test_row_sum_cpu():
    s, args = templates.row_sum_cpu(5, 37, vector=8)
    check_numpy(s, args, lambda a: a.sum(axis=1))
    check_roundtrip(s, args)


def test_softmax_cpu():
    s, args = templates.softmax_cpu(5, 37, vector=8)

    def reference(a):
        e = np.exp(a - a.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    check_numpy(s, args, reference)
    check_roundtrip(s, args)


@pytest.mark.parametrize("a_shape, b_shape, transpose_a, transpose_b", [
    ((23, 37), (23, 45), True, False),
    ((3, 37, 23), (23, 45), False, False),
    ((3, 23, 37), (3, 45, 23), True, True),
    ((37, 23), (3, 23, 45), False, False),
])
def test_matmul_layout(a_shape, b_shape, transpose_a, transpose_b):
    s, args = templates.matmul_layout(a_shape, b_shape, transpose_a=transpose_a, transpose_b=transpose_b,
                                      v1=4, v2=8, v3=4, b1=16, b2=16, parallel=True)

    def reference(a, b):
        return (np.swapaxes(a, -1, -2) if transpose_a else a) @ (np.swapaxes(b, -1, -2) if transpose_b else b)

    check_numpy(s, args, reference)
    check_roundtrip(s, args)


def test_matmul_layout_is_the_register_tile_form_of_matmul_cpu():
    knobs = {"v1": 4, "v2": 8, "v3": 4, "b1": 16, "b2": 16, "parallel": True}
    s, args = templates.matmul_layout((37, 23), (23, 45), **knobs)
    s_cpu, args_cpu = templates.matmul_cpu(37, 45, 23, b3=None, transpose_b=False, pack_b=False, **knobs)
    assert nest(s, args) == nest(s_cpu, args_cpu)


@pytest.mark.parametrize("k", [32, 23])
def test_matmul_dot(k):
    s, args = templates.matmul_dot(19, 5, k, vector=8)
    assert "allocate C.partial: float32[1, 1, 8] in local" in nest(s, args)
    check_numpy(s, args, lambda a, bt: a @ bt.T)
    check_roundtrip(s, args)
