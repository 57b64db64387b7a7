"""Winograd F(2x2, 3x3) against numpy: odd and even sizes, padding 0 and 1; the transform
expressions fold to their nonzero terms; the errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from schedules.templates.conv_winograd import A_T, B_T, G, conv2d_winograd, transformed
from tensorir.errors import DefinitionError

from .test_conv_nchwc import conv_reference


@pytest.mark.parametrize("batch, channels, size, out_channels, padding, rows", [
    (1, 4, 6, 16, 1, 6), (2, 3, 7, 5, 1, 4), (1, 8, 9, 32, 0, 6)])
def test_matches_numpy(batch, channels, size, out_channels, padding, rows):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size), dtype=np.float32)
    w = rng.standard_normal((out_channels, channels, 3, 3), dtype=np.float32)
    s, args = conv2d_winograd(batch, channels, size, size, out_channels, padding=padding, rows=rows)
    y = np.full(args[2].shape, np.nan, np.float32)
    ns.build(s, args, target="llvm")(x, w, y)
    np.testing.assert_allclose(y, conv_reference(x, w, 1, padding), rtol=1e-4, atol=1e-4)


def test_transform_matrices_are_f23():
    d = np.arange(16.0).reshape(4, 4)
    g = np.arange(9.0).reshape(3, 3)
    bt, gm, at = (np.array(m, dtype=float) for m in (B_T, G, A_T))
    # the identity F(2,3) rests on: A^T [(G g G^T) * (B^T d B)] A is the 2x2 correlation of d with g
    product = at @ ((gm @ g @ gm.T) * (bt @ d @ bt.T)) @ at.T
    direct = np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(2)] for i in range(2)])
    np.testing.assert_allclose(product, direct)


def test_transformed_is_the_matrix_product_without_zero_terms():
    D = ns.placeholder((4, 4), name="D")
    V = ns.compute((4, 4), lambda e, f: transformed(B_T, B_T, e, f, lambda i, j: D[i, j]), name="V")
    s = ns.create_schedule(V)
    for axis in V.op.axis:
        s[V].unroll(axis)
    assert "0.0 *" not in str(ns.lower(s, [D, V]))
    d = np.arange(16, dtype=np.float32).reshape(4, 4) ** 1.5
    v = np.full((4, 4), np.nan, np.float32)
    ns.build(s, [D, V], target="llvm")(d, v)
    bt = np.array(B_T, dtype=np.float64)
    np.testing.assert_allclose(v, bt @ d @ bt.T, rtol=1e-5)


def test_nest_schedules_the_products_as_register_tiles():
    s, args = conv2d_winograd(1, 4, 6, 6, 16, rows=3)
    text = str(ns.lower(s, args))
    assert "allocate M.local: float32[1, 1, 3, 16] in local" in text
    assert re.search(r"for c in 0..4:\n\s+unrolled for t in 0..3:\n\s+vectorized for k in 0..16:", text)


@pytest.mark.parametrize("call, message", [
    (lambda: conv2d_winograd(1, 4, 6, 6, 8, rows=0), "conv2d_winograd: rows must be a positive integer, got 0"),
    (lambda: conv2d_winograd(1, 4, 1, 1, 8, padding=0),
     "conv2d_winograd: a 1x1 input with padding 0 has no 3x3 output; pad it more"),
])
def test_errors(call, message):
    with pytest.raises(DefinitionError, match=re.escape(message)):
        call()
