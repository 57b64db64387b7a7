"""Epilogues folded into the matmul and convolution templates (schedules/templates/epilogue.py):
the printed nest of one small case, values against numpy across the templates' knobs, layouts
and edge tiles, trace round trips, and the errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from schedules.templates import matmul_cpu, matmul_dot, matmul_layout
from schedules.templates.conv_variants import conv2d_tiled
from schedules.templates.epilogue import Epilogue, fold
from tensorir.errors import DefinitionError, ScheduleError

from .helpers import check_roundtrip, nest

ACT = {None: lambda z: z, "relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh,
       "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}

GOLDEN = """\
func f(A: float32[8, 8], B: float32[8, 16], bias: float32[16], D: float32[8, 16]) {
  for i.inner.outer in 0..2:
    for j.inner.outer in 0..2:
      allocate C.local: float32[4, 8] in local
      unrolled for i in 0..4:
        vectorized for j in 0..8:
          C.local[i, j] = 0.0
      for k.outer in 0..2:
        unrolled for k.inner in 0..4:
          unrolled for i in 0..4:
            vectorized for j in 0..8:
              C.local[i, j] = C.local[i, j] + A[k.outer * 4 + k.inner, i.inner.outer * 4 + i] \
* B[k.outer * 4 + k.inner, j.inner.outer * 8 + j]
      unrolled for i.inner.inner in 0..4:
        vectorized for j.inner.inner in 0..8:
          D[i.inner.outer * 4 + i.inner.inner, j.inner.outer * 8 + j.inner.inner] = \
max(C.local[i.inner.inner, j.inner.inner] + bias[j.inner.outer * 8 + j.inner.inner], 0.0)
}"""


def test_register_tile_write_back_applies_the_epilogue():
    s, args = fold(matmul_layout((8, 8), (8, 16), transpose_a=True, v1=4, v2=8, v3=4, b1=8, b2=16),
                   Epilogue("relu", 1))
    assert nest(s, args) == GOLDEN
    check_roundtrip(s, args)


def _run(s, args, inputs):
    out = np.full(args[-1].shape, np.nan, np.float32)
    ns.build(s, args, target="llvm")(*inputs, out)
    return out


def _operands(rng, m, n, k, transpose_a=False, transpose_b=False):
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    stored = (np.ascontiguousarray(a.T) if transpose_a else a, np.ascontiguousarray(b.T) if transpose_b else b)
    return a, b, stored


CPU_CONFIGS = [  # (m, n, k, knobs): divisible and edge tiles, padded and guarded edges, b3=None
    (32, 64, 64, dict(v1=4, v2=16, v3=4, b1=8, b2=32, b3=32)),
    (37, 45, 23, dict(v1=4, v2=16, v3=4, b1=8, b2=16, b3=32)),
    (37, 45, 23, dict(v1=4, v2=16, v3=4, b1=8, b2=16, b3=32, edge="guard")),
    pytest.param(17, 33, 70, dict(v1=8, v2=16, v3=2, b1=16, b2=32, b3=16), marks=pytest.mark.slow),
    (19, 40, 9, dict(v1=2, v2=8, v3=1, b1=4, b2=8, b3=None)),
    pytest.param(64, 48, 31, dict(v1=8, v2=16, v3=4, b1=64, b2=48, b3=8, parallel=False), marks=pytest.mark.slow),
]


@pytest.mark.parametrize("m, n, k, knobs", CPU_CONFIGS)
@pytest.mark.parametrize("transpose_b", [False, True])
def test_matmul_cpu_epilogue_matches_numpy(m, n, k, knobs, transpose_b):
    rng = np.random.default_rng(m + n + k)
    a, b, (a_store, b_store) = _operands(rng, m, n, k, transpose_b=transpose_b)
    bias = rng.standard_normal(n, dtype=np.float32)
    template = matmul_cpu(m, n, k, transpose_b=transpose_b, **knobs)
    s, args = fold(template, Epilogue("tanh", 1), tiles=(knobs["b1"], knobs["b2"]))
    got = _run(s, args, [a_store, b_store, bias])
    np.testing.assert_allclose(got, np.tanh(a @ b + bias), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation, bias_axis, scale", [("relu", 1, None), ("sigmoid", 0, 0.5),
                                                          pytest.param(None, 1, None, marks=pytest.mark.slow),
                                                          ("tanh", None, -2.0)])
@pytest.mark.parametrize("a_shape, b_shape, transpose_a, transpose_b", [
    ((23, 19), (23, 37), True, False),      # the frontend's A stored transposed (X.T @ G, wide inputs)
    ((19, 23), (37, 23), False, True),
    ((3, 11, 13), (13, 20), False, False),  # a batch over a shared right operand
])
def test_layout_variants_with_epilogues(activation, bias_axis, scale, a_shape, b_shape, transpose_a, transpose_b):
    rng = np.random.default_rng(7)
    a_store = rng.standard_normal(a_shape, dtype=np.float32)
    b_store = rng.standard_normal(b_shape, dtype=np.float32)
    a = np.swapaxes(a_store, -1, -2) if transpose_a else a_store
    b = np.swapaxes(b_store, -1, -2) if transpose_b else b_store
    product = a @ b
    axis = None if bias_axis is None else bias_axis + product.ndim - 2
    epilogue = Epilogue(activation, axis, scale)
    s, args = fold(matmul_layout(a_shape, b_shape, transpose_a=transpose_a, transpose_b=transpose_b, v1=4, v2=8,
                                 b1=8, b2=16), epilogue)
    value = product * (1.0 if scale is None else scale)
    inputs = [a_store, b_store]
    if axis is not None:
        bias = rng.standard_normal(product.shape[axis], dtype=np.float32)
        inputs.append(bias)
        value = value + bias.reshape([-1 if d == axis else 1 for d in range(product.ndim)])
    np.testing.assert_allclose(_run(s, args, inputs), ACT[activation](value), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("m, n, k", [(9, 5, 40), (16, 12, 17)])
def test_dot_products_with_epilogue(m, n, k):
    rng = np.random.default_rng(3)
    a, b, (a_store, bt) = _operands(rng, m, n, k, transpose_b=True)
    bias = rng.standard_normal(n, dtype=np.float32)
    s, args = fold(matmul_dot(m, n, k, vector=8), Epilogue("sigmoid", 1), tiles=(1, n))
    np.testing.assert_allclose(_run(s, args, [a_store, bt, bias]), ACT["sigmoid"](a @ b + bias), rtol=1e-5, atol=1e-6)


def _conv(x, w, stride, padding):
    n, c, h, wd = x.shape
    k, _, r, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - r) // stride + 1, (wd + 2 * padding - r) // stride + 1
    out = np.zeros((n, k, oh, ow))
    for dy in range(r):
        for dx in range(r):
            window = xp[:, :, dy:dy + stride * oh:stride, dx:dx + stride * ow:stride]
            out += np.einsum("ncyx,kc->nkyx", window, w[:, :, dy, dx])
    return out


@pytest.mark.parametrize("sizes, stride, padding, tile_c, tile_v", [
    ((2, 3, 7, 9, 5, 3), 1, 1, 4, 8), ((1, 4, 9, 9, 8, 3), 2, 1, 8, 16), ((2, 2, 6, 6, 3, 1), 1, 0, 8, 4)])
def test_conv_forward_with_bias_and_activation(sizes, stride, padding, tile_c, tile_v):
    n, c, h, w, k, kernel = sizes
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    weight = rng.standard_normal((k, c, kernel, kernel), dtype=np.float32)
    bias = rng.standard_normal(k, dtype=np.float32)
    s, args = fold(conv2d_tiled(*sizes, stride=stride, padding=padding, tile_c=tile_c, tile_v=tile_v),
                   Epilogue("relu", 1))
    want = np.maximum(_conv(x, weight, stride, padding) + bias[None, :, None, None], 0.0)
    np.testing.assert_allclose(_run(s, args, [x, weight, bias]), want, rtol=1e-4, atol=1e-5)


def test_accumulating_template_is_tiled_around_its_tile():
    s, args = fold(matmul_cpu(37, 45, 23, v1=4, v2=16, v3=4, b1=8, b2=16, b3=32, parallel=True),
                   Epilogue("relu", 1), tiles=(8, 16))
    text = nest(s, args)
    # the padded product's tile is computed in each D tile, and D written from it while it is hot
    # (after the column block's panel of B, packed by the thread that uses it)
    assert re.search(r"parallel for j.outer in 0..3:\n +allocate B.packed: float32\[1, 24, 16\] in global\n"
                     r"(?: +(?:for|vectorized for|B.packed).*\n){3} +for i.outer in 0..5:\n +allocate C.padded: "
                     r"float32\[8, 16\]", text)
    assert "C[" not in text  # the corner copy is gone: D reads the padded tile
    check_roundtrip(s, args)


def test_accumulating_template_needs_its_tiles():
    with pytest.raises(ScheduleError, match=re.escape("fold: the template's output C accumulates in memory, so the "
                                                      "epilogue needs its cache tile; pass tiles=(rows, columns)")):
        fold(matmul_cpu(32, 64, 64, v1=4, v2=16, b1=8, b2=32, b3=32), Epilogue("relu", 1))


@pytest.mark.parametrize("kwargs, message", [
    ({"activation": "gelu"}, "Epilogue: activation 'gelu' is not one of relu, sigmoid, tanh; pass one of them or None"),
    ({"bias_axis": -1}, "Epilogue: bias_axis must be a non-negative int or None, got -1"),
    ({"scale": "2"}, "Epilogue: scale must be a number or None, got '2'"),
])
def test_bad_epilogues_are_refused(kwargs, message):
    with pytest.raises(DefinitionError, match=re.escape(message)):
        Epilogue(**kwargs)


def test_bias_axis_outside_the_output():
    with pytest.raises(DefinitionError, match=re.escape("Epilogue: bias_axis 2 is not an axis of the 2-D output C; "
                                                        "pick an axis below 2")):
        fold(matmul_layout((4, 4), (4, 4)), Epilogue("relu", 2))


def test_reduction_chunks_keep_their_register_tiles():
    s, args = fold(matmul_cpu(16, 32, 16, v1=4, v2=8, v3=4, b1=8, b2=16, b3=8, transpose_b=False,
                              parallel=True), Epilogue("relu", 1), tiles=(8, 16))
    text = nest(s, args)
    assert "    for i.outer in 0..2:\n      allocate C: float32[8, 16] in global" in text
    assert ("unrolled for k.inner.inner in 0..4:\n                unrolled for i.inner.inner in 0..4:\n"
            "                  vectorized for j.inner.inner in 0..8:") in text
    assert ("vectorized for j.inner.inner in 0..16:\n          "
            "D[i.outer * 8 + i.inner, j.outer * 16 + j.inner.inner] = "
            "max(C[i.inner, j.inner.inner] + bias[j.outer * 16 + j.inner.inner], 0.0)") in text
    # B's panels packed in D's column blocks, by the thread that uses them: one parallel region
    assert "parallel for j.outer in 0..2:\n    allocate B.packed: float32[2, 16, 8] in global" in text
    assert text.count("parallel for") == 1


def test_conv_template_with_its_own_tiles():
    from schedules.templates import conv2d_cpu

    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 3, 8, 10), dtype=np.float32)
    weight = rng.standard_normal((16, 3, 3, 3), dtype=np.float32)
    bias = rng.standard_normal(16, dtype=np.float32)
    s, args = fold(conv2d_cpu(1, 3, 8, 10, 16, 3, padding=1), Epilogue("sigmoid", 1, 0.5))
    want = ACT["sigmoid"](0.5 * _conv(x, weight, 1, 1) + bias[None, :, None, None])
    np.testing.assert_allclose(_run(s, args, [x, weight, bias]), want, rtol=1e-4, atol=1e-5)


def test_one_axis_accumulating_output_cannot_be_tiled():
    a = ns.placeholder((4, 8), "float32", name="A")
    k = ns.reduce_axis(8, "k")
    row = ns.compute((4,), lambda i: ns.sum(a[i, k], axis=k), name="S")
    with pytest.raises(ScheduleError, match=re.escape("fold: the template's output S has 1 axis and accumulates in "
                                                      "memory; tiles need its last two axes")):
        fold((ns.create_schedule(row), [a, row]), Epilogue("relu"), tiles=(1, 4))
