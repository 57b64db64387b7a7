"""The weight-gradient template with output channels in vectors against numpy: partial channel
blocks, strides, padding, 1x1, 3x3 and 7x7 kernels, both register tiles; its default tiles and
its errors."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from schedules.templates.conv_grad_weight import conv2d_grad_weight, default_tiles
from tensorir.errors import DefinitionError


def grad_weight_reference(x, dy, kernel, stride, padding):
    """``dW[k, c, r, s] = sum_{n, y, x} dY[n, k, y, x] * Xp[n, c, y*st + r, x*st + s]`` in float64."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    _, _, oh, ow = dy.shape
    dw = np.zeros((dy.shape[1], x.shape[1], kernel, kernel))
    for r in range(kernel):
        for s in range(kernel):
            patch = xp[:, :, r:r + stride * oh:stride, s:s + stride * ow:stride]
            dw[:, :, r, s] = np.einsum("nkyx,ncyx->kc", dy.astype(np.float64), patch)
    return dw


@pytest.mark.parametrize("batch, channels, size, out_channels, kernel, stride, padding, knobs", [
    (2, 16, 9, 32, 3, 1, 1, {}),                            # whole channel vectors, rows of the kernel
    (1, 1, 10, 20, 3, 1, 1, {}),                            # one input channel: the whole kernel, 20 = 16 + 4
    (2, 5, 9, 17, 3, 2, 1, {"tile_c": 5}),                  # stride 2, 5 channels in one tile
    (1, 3, 15, 8, 7, 2, 3, {}),                             # 7x7 stride 2 on an RGB input
    (1, 33, 9, 40, 1, 2, 0, {"tile_c": 11}),                # 1x1 stride 2, no padding
    (2, 6, 8, 16, 3, 1, 3, {"tile_c": 2, "whole_kernel": True}),  # padding beyond the kernel's reach
])
def test_against_numpy(batch, channels, size, out_channels, kernel, stride, padding, knobs, rng):
    s, args = conv2d_grad_weight(batch, channels, size, size, out_channels, kernel, stride=stride, padding=padding,
                                 **knobs)
    x = rng.standard_normal(args[0].shape).astype(np.float32)
    dy = rng.standard_normal(args[1].shape).astype(np.float32)
    dw = np.full(args[2].shape, np.nan, np.float32)
    ns.build(s, args, target="llvm")(x, dy, dw)
    np.testing.assert_allclose(dw, grad_weight_reference(x, dy, kernel, stride, padding), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("channels, kernel, tiles", [
    (1, 3, (1, True)), (3, 7, (1, False)), (16, 3, (4, False)), (64, 1, (8, False)), (3, 3, (3, False)),
    (7, 3, (1, False)), (2, 1, (2, True))])
def test_default_tiles(channels, kernel, tiles):
    assert default_tiles(channels, kernel) == tiles


@pytest.mark.parametrize("knobs, size, message", [
    ({"tile_c": 3}, 8, r"tile_c must be a positive divisor of in_channels=4, got 3"),
    ({"tile_c": 0}, 8, r"tile_c must be a positive divisor of in_channels=4, got 0"),
    ({}, 1, r"a 3x3 kernel does not fit the 1x1 input padded by 0; pad it more"),
])
def test_errors(knobs, size, message):
    with pytest.raises(DefinitionError, match=message):
        conv2d_grad_weight(1, 4, size, size, 16, 3, stride=1, padding=0, **knobs)
