"""Winograd weights transformed once: conv2d_winograd_weights' U against numpy's G g G^T,
conv2d_winograd(weights="transformed") against numpy's convolution (NCHW and blocked arrays,
partial channel blocks, odd sizes, F(2x2,3x3) and F(4x4,3x3)), and the errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from schedules.templates.conv_winograd import conv2d_winograd
from schedules.templates.winograd_transforms import F2, F4
from schedules.templates.winograd_weights import conv2d_winograd_weights, weight_shape
from tensorir.errors import DefinitionError

from .test_conv_nchwc import conv_reference
from .test_conv_winograd import F4_RELATIVE


def _transformed(w, tile, layout="NCHW"):
    s, args = conv2d_winograd_weights(w.shape[1], w.shape[0], tile=tile, layout=layout)
    u = np.full(args[1].shape, np.nan, np.float32)
    ns.build(s, args, target="llvm")(_blocked_weights(w) if layout == "NCHWc" else w, u)
    return u


def _blocked_weights(w):
    k, c = w.shape[:2]
    ib, kb = min(16, c), -(-k // 16)
    wp = np.zeros((kb * 16, -(-c // ib) * ib, 3, 3), np.float32)
    wp[:k, :c] = w
    return np.ascontiguousarray(wp.reshape(kb, 16, -1, ib, 3, 3).transpose(0, 2, 4, 5, 3, 1))


@pytest.mark.parametrize("tile, wino", [(2, F2), (4, F4)], ids=["F2", "F4"])
@pytest.mark.parametrize("layout", [pytest.param("NCHW", marks=pytest.mark.slow), "NCHWc"])
def test_weights_are_g_w_gt(tile, wino, layout):
    """``U[e, f, C, c, k] = (G w[k, C*ib + c] G^T)[e, f]``, zero for padded channels."""
    w = np.random.default_rng(5).standard_normal((20, 5, 3, 3), dtype=np.float32)
    u = _transformed(w, tile, layout)
    assert u.shape == weight_shape(5, 20, tile) == (wino.alpha, wino.alpha, 1, 5, 32)
    g = np.array(wino.G)
    expected = np.einsum("er,kcrq,fq->efck", g, w.astype(np.float64), g)
    np.testing.assert_allclose(u[:, :, 0, :, :20], expected, rtol=1e-6, atol=1e-6)
    assert not u[..., 20:].any()


@pytest.mark.parametrize("batch, channels, size, out_channels, tile, layout", [
    (2, 5, 7, 20, 2, "NCHW"),     # partial channel blocks, a partial tile
    pytest.param(1, 20, 9, 16, 4, "NCHW", marks=pytest.mark.slow),  # two input blocks, the last partial
    (2, 32, 7, 16, 4, "NCHWc"),   # blocked arrays, tiles past the padded input
])
def test_transformed_weights_match_numpy(batch, channels, size, out_channels, tile, layout):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((batch, channels, size, size), dtype=np.float32)
    w = rng.standard_normal((out_channels, channels, 3, 3), dtype=np.float32)
    u = _transformed(w, tile)
    s, args = conv2d_winograd(batch, channels, size, size, out_channels, tile=tile, layout=layout,
                              weights="transformed")
    assert args[1].shape == u.shape
    kernel = ns.build(s, args, target="llvm")
    expected = conv_reference(x, w, 1, 1)
    if layout == "NCHW":
        y = np.full(args[2].shape, np.nan, np.float32)
        kernel(x, u, y)
    else:
        xb = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).reshape(batch, channels // 16, 16, size + 2, size + 2)
        yb = np.full(args[2].shape, np.nan, np.float32)
        kernel(np.ascontiguousarray(xb.transpose(0, 1, 3, 4, 2)), u, yb)
        y = yb.transpose(0, 1, 4, 2, 3).reshape(expected.shape)
    np.testing.assert_allclose(y, expected, rtol=0, atol=F4_RELATIVE * np.abs(expected).max())


def test_transformed_nest_has_no_weight_stages():
    s, _ = conv2d_winograd(1, 16, 8, 8, 16, weights="transformed")
    names = {stage.op.name for stage in s.stages}
    assert "V" in names and not names & {"U", "Ug", "W.blocked"}


@pytest.mark.parametrize("call, message", [
    (lambda: conv2d_winograd(1, 4, 6, 6, 8, weights="blocked"),
     "conv2d_winograd: weights must be 'raw' (KCRS or blocked 3x3 weights) or 'transformed' "
     "(conv2d_winograd_weights' output), got 'blocked'"),
    (lambda: conv2d_winograd_weights(4, 8, tile=6),
     "conv2d_winograd_weights: tile must be 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)), got tile 6 with stride 1"),
    (lambda: conv2d_winograd_weights(4, 8, tile=2, stride=2),
     "conv2d_winograd_weights: a stride-2 tile must be 4 (F(4x4,2x2)) or 7 (F(7x7,2x2)), got tile 2 with stride 2"),
    (lambda: conv2d_winograd_weights(4, 8, stride=3),
     "conv2d_winograd_weights: stride must be 1 or 2, got tile 2 with stride 3"),
    (lambda: conv2d_winograd_weights(4, 8, layout="KCRS"),
     "conv2d_winograd_weights: layout must be 'NCHW' or 'NCHWc', got 'KCRS'"),
    (lambda: conv2d_winograd_weights(0, 8),
     "conv2d_winograd_weights: in_channels must be a positive integer, got 0"),
    (lambda: conv2d_winograd_weights(4, 2.5),
     "conv2d_winograd_weights: out_channels must be a positive integer, got 2.5"),
])
def test_errors(call, message):
    with pytest.raises(DefinitionError, match=re.escape(message)):
        call()
