"""The te computes of TVM's topi that user programs copy (topi.nn: ``pad``, ``conv2d_nchw``,
``dense`` with a bias, ``pool2d`` max and average with and without the padding counted,
``softmax``), written as topi writes them (``te.all`` of the padding conditions in an
``if_then_else``, tags, attrs) through :mod:`te_shim`, with the schedules topi's CPU strategies
give them (the padding inlined, a parallel outer loop, a vectorized inner one, the softmax stages
attached per row); on LLVM against numpy, the softmax nest golden."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def _pad(data, width, value=0.0):
    """topi.nn.pad of the last two axes by ``width`` on each side."""
    rank = len(data.shape)
    shape = tuple(d + 2 * width if n >= rank - 2 else d for n, d in enumerate(data.shape))

    def padded(*index):
        inside = [c for n in range(rank - 2, rank)
                  for c in (index[n] >= width, index[n] < data.shape[n] + width)]
        source = [i - width if n >= rank - 2 else i for n, i in enumerate(index)]
        return te.if_then_else(te.all(*inside), data(*source), tvm.tir.const(value, data.dtype))

    return te.compute(shape, padded, name="PadInput", tag="injective,pad")


def _conv2d_nchw(data, kernel, stride, padding, dilation):
    _, channels, height, width = data.shape
    filters, _, kh, kw = kernel.shape
    out_h = (height + 2 * padding - (kh - 1) * dilation - 1) // stride + 1
    out_w = (width + 2 * padding - (kw - 1) * dilation - 1) // stride + 1
    padded = _pad(data, padding)
    rc, ry, rx = te.reduce_axis((0, channels), "rc"), te.reduce_axis((0, kh), "ry"), te.reduce_axis((0, kw), "rx")
    conv = te.compute((data.shape[0], filters, out_h, out_w), lambda n, f, y, x: te.sum(
        padded[n, rc, y * stride + ry * dilation, x * stride + rx * dilation] * kernel[f, rc, ry, rx],
        axis=[rc, ry, rx]), name="conv2d_nchw", tag="conv2d_nchw")
    return conv, padded


def _conv_reference(x, w, stride, padding, dilation):
    p = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    kh, kw = w.shape[2:]
    out_h = (p.shape[2] - (kh - 1) * dilation - 1) // stride + 1
    out_w = (p.shape[3] - (kw - 1) * dilation - 1) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], out_h, out_w))
    for ry in range(kh):
        for rx in range(kw):
            taps = p[:, :, ry * dilation::stride, rx * dilation::stride][:, :, :out_h, :out_w]
            out += np.einsum("bchw,oc->bohw", taps, w[:, :, ry, rx])
    return out


@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 1, 1), (1, 0, 2), (2, 2, 2)])
def test_conv2d_nchw_with_the_padding_inlined_parallel_and_vectorized(stride, padding, dilation):
    X, W = te.placeholder((1, 3, 9, 9), name="X"), te.placeholder((4, 3, 3, 3), name="W")
    conv, padded = _conv2d_nchw(X, W, stride, padding, dilation)
    assert (conv.op.tag, padded.op.tag) == ("conv2d_nchw", "injective,pad")
    s = te.create_schedule(conv.op)
    s[padded].compute_inline()
    _, f, _, x = conv.op.axis
    outer, _ = s[conv].split(f, 2)
    s[conv].parallel(outer)
    s[conv].vectorize(s[conv].split(x, 4)[1])
    rng = np.random.default_rng(21)
    x_in, w_in = uniform(rng, (1, 3, 9, 9)), uniform(rng, (4, 3, 3, 3))
    out = empty(tuple(int(d) for d in conv.shape), "float32")
    tvm.build(s, [X, W, conv], "llvm")(x_in, w_in, out)
    close(out, _conv_reference(x_in, w_in, stride, padding, dilation), rtol=1e-5, atol=1e-5)


def test_dense_with_a_bias_and_the_product_attached_per_row():
    X, W, B = te.placeholder((8, 16), name="X"), te.placeholder((10, 16), name="W"), te.placeholder((10,), name="B")
    k = te.reduce_axis((0, 16), "k")
    product = te.compute((8, 10), lambda i, j: te.sum(X[i, k] * W[j, k], axis=k), name="T_matmul_NT", tag="dense")
    out = te.compute((8, 10), lambda i, j: product[i, j] + B[j], name="T_add", tag="broadcast")
    s = te.create_schedule(out.op)
    s[product].compute_at(s[out], out.op.axis[0])
    s[out].parallel(out.op.axis[0])
    rng = np.random.default_rng(22)
    x, w, b = uniform(rng, (8, 16)), uniform(rng, (10, 16)), uniform(rng, (10,))
    result = empty((8, 10), "float32")
    tvm.build(s, [X, W, B, out])(x, w, b, result)
    close(result, x.astype(np.float64) @ w.T + b, rtol=1e-5, atol=1e-5)


def _pool(X, kind: str, count_padding: bool):
    """topi.nn.pool2d over 3 x 3 windows, stride 2, padding 1."""
    padded = _pad(X, 1, te.min_value("float32").value if kind == "max" else 0.0)
    ry, rx = te.reduce_axis((0, 3), "ry"), te.reduce_axis((0, 3), "rx")

    def window(n, c, y, x):
        return padded[n, c, y * 2 + ry, x * 2 + rx]

    if kind == "max":
        return te.compute((1, 2, 4, 4), lambda *i: te.max(window(*i), axis=[ry, rx]), tag="pool_max"), padded
    total = te.compute((1, 2, 4, 4), lambda *i: te.sum(window(*i), axis=[ry, rx]), tag="pool_sum")

    def count(y, x):
        rows = te.min(y * 2 + 2, 7) - te.max(y * 2 - 1, 0)
        cols = te.min(x * 2 + 2, 7) - te.max(x * 2 - 1, 0)
        return tvm.tir.const(9.0, "float32") if count_padding else (rows * cols).astype("float32")

    return te.compute(total.shape, lambda n, c, y, x: total[n, c, y, x] / count(y, x), tag="elemwise"), padded


@pytest.mark.parametrize("kind,count_padding", [("max", True), ("avg", True), ("avg", False)])
def test_pool2d_with_padding(kind, count_padding):
    X = te.placeholder((1, 2, 7, 7), name="X")
    out, padded = _pool(X, kind, count_padding)
    s = te.create_schedule(out.op)
    s[padded].compute_inline()
    x = uniform(np.random.default_rng(23), (1, 2, 7, 7))
    result = empty((1, 2, 4, 4), "float32")
    tvm.build(s, [X, out])(x, result)
    fill = -np.inf if kind == "max" else 0.0
    p = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=fill)
    inside = np.pad(np.ones((7, 7)), 1)
    want = np.zeros((1, 2, 4, 4))
    for y in range(4):
        for c in range(4):
            window = p[:, :, 2 * y:2 * y + 3, 2 * c:2 * c + 3]
            count = 9 if count_padding else inside[2 * y:2 * y + 3, 2 * c:2 * c + 3].sum()
            want[:, :, y, c] = window.max(axis=(2, 3)) if kind == "max" else window.sum(axis=(2, 3)) / count
    close(result, want, rtol=1e-5, atol=1e-6)


def test_softmax_stages_attached_per_row_under_a_parallel_loop():
    X = te.placeholder((4, 10), name="X")
    k1, k2 = te.reduce_axis((0, 10), "k1"), te.reduce_axis((0, 10), "k2")
    top = te.compute((4,), lambda i: te.max(X[i, k1], axis=k1), name="T_softmax_maxelem")
    exps = te.compute((4, 10), lambda i, j: te.exp(X[i, j] - top[i]), name="T_softmax_exp")
    total = te.compute((4,), lambda i: te.sum(exps[i, k2], axis=k2), name="T_softmax_expsum")
    out = te.compute((4, 10), lambda i, j: exps[i, j] / total[i], name="T_softmax_norm", attrs={"axis": 1})
    s = te.create_schedule(out.op)
    for stage in (top, exps, total):
        s[stage].compute_at(s[out], out.op.axis[0])
    s[out].parallel(out.op.axis[0])
    assert str(tvm.lower(s, [X, out])) == textwrap.dedent("""\
        func main(X: float32[4, 10], T_softmax_norm: float32[4, 10]) {
          parallel for i in 0..4:
            allocate T_softmax_maxelem: float32[1] in global
            allocate T_softmax_exp: float32[1, 10] in global
            allocate T_softmax_expsum: float32[1] in global
            T_softmax_maxelem[0] = -3.4028235e+38
            for k1 in 0..10:
              T_softmax_maxelem[0] = max(T_softmax_maxelem[0], X[i, k1])
            for j in 0..10:
              T_softmax_exp[0, j] = exp(X[i, j] - T_softmax_maxelem[0])
            T_softmax_expsum[0] = 0.0
            for k2 in 0..10:
              T_softmax_expsum[0] = T_softmax_expsum[0] + T_softmax_exp[0, k2]
            for j in 0..10:
              T_softmax_norm[i, j] = T_softmax_exp[0, j] / T_softmax_expsum[0]
        }""")
    x = uniform(np.random.default_rng(24), (4, 10), low=-3, high=3)
    result = empty((4, 10), "float32")
    tvm.build(s, [X, out])(x, result)
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    close(result, e / e.sum(axis=1, keepdims=True))
