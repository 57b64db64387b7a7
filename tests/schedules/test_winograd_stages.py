"""The Winograd pipeline's stages as kernels of their own (for profiles): run one after another
they compute numpy's convolution, for stride 1 and the stride-2 phases, partial tiles included;
the errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from schedules.templates.winograd_stages import STAGES, winograd_stage
from tensorir.errors import DefinitionError

from .test_conv_nchwc import conv_reference


def _run(stage, sizes, inputs, **options):
    s, args = winograd_stage(stage, *sizes, **options)
    out = np.full(args[-1].shape, np.nan, np.float32)
    ns.build(s, args, target="llvm")(*inputs, out)
    return out


@pytest.mark.parametrize("sizes, options, atol", [
    ((1, 32, 7, 7, 16), {"tile": 4}, 3e-5),               # a partial tile
    ((2, 16, 9, 9, 32), {"tile": 4, "stride": 2}, 5e-6),  # the stride-2 phases, output 5
    ((1, 16, 6, 6, 16), {"tile": 2, "padding": 0}, 1e-5),
])
def test_stages_compose_to_the_convolution(sizes, options, atol):
    batch, channels, size, _, out_channels = sizes
    padding, stride = options.get("padding", 1), options.get("stride", 1)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((batch, channels, size, size), dtype=np.float32)
    w = rng.standard_normal((out_channels, channels, 3, 3), dtype=np.float32)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    xb = np.ascontiguousarray(xp.reshape(batch, channels // 16, 16, *xp.shape[2:]).transpose(0, 1, 3, 4, 2))
    wb = np.ascontiguousarray(w.reshape(out_channels // 16, 16, channels // 16, 16, 3, 3).transpose(0, 2, 4, 5, 3, 1))
    u = _run("weights", sizes, [wb], **options)
    v = _run("input", sizes, [xb], **options)
    m = _run("products", sizes, [v, u], **options)
    yb = _run("output", sizes, [m], **options)
    expected = conv_reference(x, w, stride, padding)
    y = yb.transpose(0, 1, 4, 2, 3).reshape(expected.shape)
    np.testing.assert_allclose(y, expected, rtol=0, atol=atol * np.abs(expected).max())
    assert STAGES == ("weights", "input", "products", "output")


@pytest.mark.parametrize("call, message", [
    (lambda: winograd_stage("gemm", 1, 16, 6, 6, 16), "winograd_stage: stage must be one of weights, input, "
                                                     "products, output, got 'gemm'"),
    (lambda: winograd_stage("input", 1, 16, 6, 6, 16, tile=7),
     "winograd_stage: tile must be 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)), got tile 7 with stride 1"),
])
def test_errors(call, message):
    with pytest.raises(DefinitionError, match=re.escape(message)):
        call()
