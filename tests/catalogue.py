"""A catalogue of operators written in the lambda form, each with random inputs and a numpy reference.

Every builder returns a fresh :class:`Operator`, so a test may schedule it without affecting
another test. ``args`` lists the parameters of the lowered function, inputs then outputs.
Shapes are small (the interpreter runs Python) and mostly not multiples of 8, so tiled
schedules of these operators meet imperfect splits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

import nestor as ns
from nestor import Tensor

Inputs = list[np.ndarray]


class Operator(NamedTuple):
    name: str
    args: list[Tensor]
    outputs: list[Tensor]
    make_inputs: Callable[[np.random.Generator], Inputs]
    reference: Callable[[Inputs], Inputs]

    @property
    def inputs(self) -> list[Tensor]:
        return self.args[: len(self.args) - len(self.outputs)]


def random_array(rng: np.random.Generator, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
    """Floats uniform in [-1, 1), ints in [-5, 5]."""
    if np.dtype(dtype).kind == "f":
        return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
    return rng.integers(-5, 6, size=shape).astype(dtype)


def _random_inputs(*tensors: Tensor) -> Callable[[np.random.Generator], Inputs]:
    return lambda rng: [random_array(rng, t.shape, t.dtype.value) for t in tensors]


def _operator(name: str, inputs: list[Tensor], outputs: list[Tensor],
              reference: Callable[..., np.ndarray | tuple]) -> Operator:
    """An Operator over random inputs whose reference is ``reference(*input_arrays)``."""

    def ref(arrays: Inputs) -> Inputs:
        result = reference(*arrays)
        results = list(result) if isinstance(result, tuple) else [result]
        return [np.asarray(r).astype(t.dtype.numpy) for r, t in zip(results, outputs)]

    return Operator(name, inputs + outputs, outputs, _random_inputs(*inputs), ref)


def _f64(*arrays: np.ndarray) -> list[np.ndarray]:
    return [a.astype(np.float64) for a in arrays]


def _wide(array: np.ndarray) -> np.ndarray:
    """``array`` in float64 or int64, so a reference does not lose precision or overflow."""
    return array.astype(np.float64 if array.dtype.kind == "f" else np.int64)


# linear algebra ----------------------------------------------------------------------------
def _matmul(name: str, m: int, n: int, kk: int, dtype: str) -> Operator:
    A = ns.placeholder((m, kk), dtype, name="A")
    B = ns.placeholder((kk, n), dtype, name="B")
    k = ns.reduce_axis(kk, "k")
    C = ns.compute((m, n), lambda i, j: ns.sum(A[i, k] * B[k, j], axis=k), name="C")
    return _operator(name, [A, B], [C], lambda a, b: _wide(a) @ _wide(b))


def matmul() -> Operator:
    return _matmul("matmul", 13, 11, 7, "float32")


def matmul_int32() -> Operator:
    return _matmul("matmul_int32", 7, 9, 5, "int32")


def matmul_float64() -> Operator:
    return _matmul("matmul_float64", 9, 5, 7, "float64")


def matmul_bt() -> Operator:
    """``C = A @ B.T``: both operands read along their rows."""
    A = ns.placeholder((13, 9), name="A")
    B = ns.placeholder((11, 9), name="B")
    k = ns.reduce_axis(9, "k")
    C = ns.compute((13, 11), lambda i, j: ns.sum(A[i, k] * B[j, k], axis=k), name="C")
    return _operator("matmul_bt", [A, B], [C], lambda a, b: _f64(a)[0] @ _f64(b)[0].T)


def batch_matmul() -> Operator:
    A = ns.placeholder((3, 5, 7), name="A")
    B = ns.placeholder((3, 7, 6), name="B")
    k = ns.reduce_axis(7, "k")
    C = ns.compute((3, 5, 6), lambda b, i, j: ns.sum(A[b, i, k] * B[b, k, j], axis=k), name="C")
    return _operator("batch_matmul", [A, B], [C], lambda a, b: np.matmul(*_f64(a, b)))


def contraction3() -> Operator:
    """``D[i, j] = sum_{k, l} A[i, k] * B[k, l] * C[l, j]`` in one reduction over two axes."""
    A = ns.placeholder((5, 6), name="A")
    B = ns.placeholder((6, 7), name="B")
    C = ns.placeholder((7, 3), name="C")
    k = ns.reduce_axis(6, "k")
    l = ns.reduce_axis(7, "l")  # noqa: E741
    D = ns.compute((5, 3), lambda i, j: ns.sum(A[i, k] * B[k, l] * C[l, j], axis=[k, l]), name="D")
    return _operator("contraction3", [A, B, C], [D],
                     lambda a, b, c: np.einsum("ik,kl,lj->ij", *_f64(a, b, c)))


# convolutions and pooling ------------------------------------------------------------------
def _conv_out(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1


def _conv_reference(x: np.ndarray, w: np.ndarray, stride: int = 1, pad: int = 0) -> np.ndarray:
    x, w = _f64(x, w)
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, _, h, wd = x.shape
    f, c, r, s = w.shape
    oh, ow = _conv_out(h, r, stride), _conv_out(wd, s, stride)
    out = np.zeros((n, f, oh, ow))
    for dr in range(r):
        for ds in range(s):
            patch = x[:, :, dr:dr + stride * oh:stride, ds:ds + stride * ow:stride]
            out += np.einsum("nchw,fc->nfhw", patch, w[:, :, dr, ds])
    return out


def _conv2d(x_shape, w_shape, stride: int) -> tuple[Tensor, Tensor, Tensor]:
    X = ns.placeholder(x_shape, name="X")
    W = ns.placeholder(w_shape, name="W")
    n, _, h, w = x_shape
    f, c, r, s = w_shape
    rc, rr, rs = ns.reduce_axis(c, "rc"), ns.reduce_axis(r, "rr"), ns.reduce_axis(s, "rs")
    Y = ns.compute(
        (n, f, _conv_out(h, r, stride), _conv_out(w, s, stride)),
        lambda b, o, y, x: ns.sum(X[b, rc, y * stride + rr, x * stride + rs] * W[o, rc, rr, rs],
                                  axis=[rc, rr, rs]),
        name="Y")
    return X, W, Y


def conv2d() -> Operator:
    """NCHW, valid (no padding), stride 1."""
    X, W, Y = _conv2d((2, 3, 7, 7), (4, 3, 3, 3), 1)
    return _operator("conv2d", [X, W], [Y], _conv_reference)


def conv2d_stride2() -> Operator:
    X, W, Y = _conv2d((1, 2, 9, 9), (3, 2, 3, 3), 2)
    return _operator("conv2d_stride2", [X, W], [Y], lambda x, w: _conv_reference(x, w, stride=2))


def conv2d_pad() -> Operator:
    """NCHW with padding 1: a padding stage (``if_then_else``), then a valid convolution."""
    X = ns.placeholder((1, 3, 6, 5), name="X")
    W = ns.placeholder((4, 3, 3, 3), name="W")
    Xp = ns.compute(
        (1, 3, 8, 7),
        lambda b, c, y, x: ns.if_then_else((y >= 1) & (y < 7) & (x >= 1) & (x < 6),
                                           X[b, c, y - 1, x - 1], 0.0),
        name="Xpad")
    rc, rr, rs = ns.reduce_axis(3, "rc"), ns.reduce_axis(3, "rr"), ns.reduce_axis(3, "rs")
    Y = ns.compute((1, 4, 6, 5), lambda b, o, y, x: ns.sum(
        Xp[b, rc, y + rr, x + rs] * W[o, rc, rr, rs], axis=[rc, rr, rs]), name="Y")
    return _operator("conv2d_pad", [X, W], [Y], lambda x, w: _conv_reference(x, w, pad=1))


def depthwise_conv2d() -> Operator:
    X = ns.placeholder((1, 4, 7, 7), name="X")
    W = ns.placeholder((4, 3, 3), name="W")
    rr, rs = ns.reduce_axis(3, "rr"), ns.reduce_axis(3, "rs")
    Y = ns.compute((1, 4, 5, 5), lambda b, c, y, x: ns.sum(
        X[b, c, y + rr, x + rs] * W[c, rr, rs], axis=[rr, rs]), name="Y")

    def reference(x, w):
        x, w = _f64(x, w)
        return sum(x[:, :, dr:dr + 5, ds:ds + 5] * w[None, :, dr, ds, None, None]
                   for dr in range(3) for ds in range(3))

    return _operator("depthwise_conv2d", [X, W], [Y], reference)


def max_pool2d() -> Operator:
    """2x2 windows, stride 2, over an odd extent (the last row and column are dropped)."""
    X = ns.placeholder((2, 3, 9, 9), name="X")
    rr, rs = ns.reduce_axis(2, "rr"), ns.reduce_axis(2, "rs")
    Y = ns.compute((2, 3, 4, 4), lambda b, c, y, x: ns.max(
        X[b, c, y * 2 + rr, x * 2 + rs], axis=[rr, rs]), name="Y")
    return _operator("max_pool2d", [X], [Y],
                     lambda x: x[:, :, :8, :8].reshape(2, 3, 4, 2, 4, 2).max(axis=(3, 5)))


# elementwise and broadcasting --------------------------------------------------------------
def relu() -> Operator:
    X = ns.placeholder((7, 13), name="X")
    Y = ns.compute((7, 13), lambda i, j: ns.maximum(X[i, j], 0.0), name="Y")
    return _operator("relu", [X], [Y], lambda x: np.maximum(x, 0))


def bias_add() -> Operator:
    """A per-channel bias broadcast over batch and spatial axes."""
    X = ns.placeholder((2, 5, 3, 7), name="X")
    b = ns.placeholder((5,), name="b")
    Y = ns.compute((2, 5, 3, 7), lambda n, c, h, w: X[n, c, h, w] + b[c], name="Y")
    return _operator("bias_add", [X, b], [Y], lambda x, bias: x + bias[None, :, None, None])


def elementwise_chain() -> Operator:
    a = ns.placeholder((5, 13), name="a")
    b = ns.placeholder((5, 13), name="b")
    Y = ns.compute((5, 13), lambda i, j: ns.tanh(ns.exp(a[i, j]) * b[i, j] + 1.0), name="Y")
    return _operator("elementwise_chain", [a, b], [Y], lambda x, y: np.tanh(np.exp(_f64(x)[0]) * y + 1))


def elementwise_int32() -> Operator:
    """Integer arithmetic with floor division and modulo of negative values."""
    a = ns.placeholder((33,), "int32", name="a")
    b = ns.placeholder((33,), "int32", name="b")
    Y = ns.compute((33,), lambda i: a[i] * 3 - b[i] // 2 + a[i] % 4 - ns.abs(b[i]), name="Y")
    return _operator("elementwise_int32", [a, b], [Y],
                     lambda x, y: x * 3 - y // 2 + x % 4 - np.abs(y))


def transpose() -> Operator:
    X = ns.placeholder((7, 13), name="X")
    Y = ns.compute((13, 7), lambda i, j: X[j, i], name="Y")
    return _operator("transpose", [X], [Y], lambda x: x.T)


def pixel_shuffle() -> Operator:
    """Depth to space with factor 2: channel groups become 2x2 pixel blocks (``//`` and ``%``)."""
    X = ns.placeholder((1, 8, 3, 5), name="X")
    Y = ns.compute((1, 2, 6, 10), lambda n, c, h, w: X[n, c * 4 + h % 2 * 2 + w % 2, h // 2, w // 2],
                   name="Y")
    return _operator("pixel_shuffle", [X], [Y],
                     lambda x: x.reshape(1, 2, 2, 2, 3, 5).transpose(0, 1, 4, 2, 5, 3).reshape(1, 2, 6, 10))


def flatten_unflatten() -> Operator:
    """A (5, 7) matrix read through its flat (35,) view, with ``//`` and ``%`` of a fused index."""
    X = ns.placeholder((5, 7), name="X")
    F = ns.compute((35,), lambda f: X[f // 7, f % 7], name="F")
    Y = ns.compute((7, 5), lambda i, j: F[j * 7 + i] * 2.0, name="Y")
    return _operator("flatten_unflatten", [X], [Y], lambda x: x.T * 2)


# reductions --------------------------------------------------------------------------------
def sum_two_axes() -> Operator:
    X = ns.placeholder((5, 7, 6), name="X")
    k1, k2 = ns.reduce_axis(7, "k1"), ns.reduce_axis(6, "k2")
    Y = ns.compute((5,), lambda i: ns.sum(X[i, k1, k2], axis=[k1, k2]), name="Y")
    return _operator("sum_two_axes", [X], [Y], lambda x: _f64(x)[0].sum(axis=(1, 2)))


def row_min() -> Operator:
    X = ns.placeholder((7, 13), name="X")
    k = ns.reduce_axis(13, "k")
    Y = ns.compute((7,), lambda i: ns.min(X[i, k], axis=k), name="Y")
    return _operator("row_min", [X], [Y], lambda x: x.min(axis=1))


def row_max_int32() -> Operator:
    X = ns.placeholder((7, 13), "int32", name="X")
    k = ns.reduce_axis(13, "k")
    Y = ns.compute((7,), lambda i: ns.max(X[i, k], axis=k), name="Y")
    return _operator("row_max_int32", [X], [Y], lambda x: x.max(axis=1))


def window_sum() -> Operator:
    """``B[i] = sum_{r < 5} A[i + r]``: a sliding window of radius 2 over ``n + 4`` elements."""
    n = 13
    A = ns.placeholder((n + 4,), name="A")
    r = ns.reduce_axis(5, "r")
    B = ns.compute((n,), lambda i: ns.sum(A[i + r], axis=r), name="B")
    return _operator("window_sum", [A], [B],
                     lambda a: sum(_f64(a)[0][d:d + n] for d in range(5)))


def _softmax(name: str, dtype: str) -> Operator:
    X = ns.placeholder((5, 13), dtype, name="X")
    k1 = ns.reduce_axis(13, "k")
    M = ns.compute((5,), lambda i: ns.max(X[i, k1], axis=k1), name="rowmax")
    k2 = ns.reduce_axis(13, "k")
    S = ns.compute((5,), lambda i: ns.sum(ns.exp(X[i, k2] - M[i]), axis=k2), name="expsum")
    Y = ns.compute((5, 13), lambda i, j: ns.exp(X[i, j] - M[i]) / S[i], name="Y")

    def reference(x):
        e = np.exp(_f64(x)[0] - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return _operator(name, [X], [Y], reference)


def softmax() -> Operator:
    """Row softmax in three stages: row max, sum of exponentials, division."""
    return _softmax("softmax", "float32")


def softmax_float64() -> Operator:
    return _softmax("softmax_float64", "float64")


def layer_norm() -> Operator:
    """Normalise each row to zero mean and unit variance, then scale by gamma and shift by beta."""
    rows, n, eps = 5, 13, 1e-5
    X = ns.placeholder((rows, n), name="X")
    gamma = ns.placeholder((n,), name="gamma")
    beta = ns.placeholder((n,), name="beta")
    k1, k2 = ns.reduce_axis(n, "k"), ns.reduce_axis(n, "k")
    rowsum = ns.compute((rows,), lambda i: ns.sum(X[i, k1], axis=k1), name="rowsum")
    mean = ns.compute((rows,), lambda i: rowsum[i] / n, name="mean")
    var = ns.compute((rows,), lambda i: ns.sum((X[i, k2] - mean[i]) * (X[i, k2] - mean[i]), axis=k2),
                     name="sqsum")
    Y = ns.compute((rows, n), lambda i, j: (X[i, j] - mean[i]) / ns.sqrt(var[i] / n + eps)
                   * gamma[j] + beta[j], name="Y")

    def reference(x, g, b):
        x = _f64(x)[0]
        mu = x.mean(axis=1, keepdims=True)
        return (x - mu) / np.sqrt(x.var(axis=1, keepdims=True) + eps) * g + b

    return _operator("layer_norm", [X, gamma, beta], [Y], reference)


def two_outputs() -> Operator:
    """Two outputs sharing an input: a row sum and a scaled copy."""
    X = ns.placeholder((7, 5), name="X")
    k = ns.reduce_axis(5, "k")
    S = ns.compute((7,), lambda i: ns.sum(X[i, k], axis=k), name="S")
    Y = ns.compute((7, 5), lambda i, j: X[i, j] * 0.5, name="Y")
    return _operator("two_outputs", [X], [S, Y], lambda x: (_f64(x)[0].sum(axis=1), x * 0.5))


CATALOGUE: list[Callable[[], Operator]] = [
    matmul, matmul_int32, matmul_float64, matmul_bt, batch_matmul, contraction3,
    conv2d, conv2d_stride2, conv2d_pad, depthwise_conv2d, max_pool2d,
    relu, bias_add, elementwise_chain, elementwise_int32, transpose, pixel_shuffle, flatten_unflatten,
    sum_two_axes, row_min, row_max_int32, window_sum, softmax, softmax_float64, layer_norm,
    two_outputs,
]


def by_name(name: str) -> Operator:
    """A fresh Operator of the catalogue entry called ``name``."""
    for builder in CATALOGUE:
        if builder.__name__ == name:
            return builder()
    raise KeyError(f"no catalogue operator {name!r}; known: {[b.__name__ for b in CATALOGUE]}")


def empty_outputs(op: Operator) -> Inputs:
    """Output arrays filled with values no kernel computes here, so an unwritten element shows."""
    return [np.full(t.shape, np.nan if t.dtype.is_float else -7, dtype=t.dtype.numpy)
            for t in op.outputs]


def run_module(module, op: Operator, inputs: Inputs) -> Inputs:
    """Call a built module of ``op`` on ``inputs``; its outputs."""
    outputs = empty_outputs(op)
    module(*inputs, *outputs)
    return outputs


def assert_outputs_match(got: Inputs, want: Inputs, rtol: float = 1e-5) -> None:
    """Floats within ``rtol`` (float64 much tighter); ints and bools exactly."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        if g.dtype == np.float64:
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
        elif g.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-6)
        else:
            np.testing.assert_array_equal(g, w)
