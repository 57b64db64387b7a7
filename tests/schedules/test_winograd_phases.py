"""Winograd over the four phases of a stride-2 3x3 convolution (F(4x4,2x2), F(7x7,2x2)) against
numpy: odd and even sizes, padding 0 and 1, partial channel blocks and partial tiles, NCHW and
blocked arrays, weights raw and transformed once; the transform identities; the phase weights;
the ``winograd_s2`` knob of conv2d_nchwc and its tuning space; the errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from schedules.templates.conv_nchwc import conv2d_nchwc
from schedules.templates.conv_winograd import conv2d_winograd, default_fused
from schedules.templates.winograd_transforms import F2, F4, F4_2, F7_2, STRIDE2_VARIANTS
from schedules.templates.winograd_weights import conv2d_winograd_weights, weight_shape
from tensorir.errors import DefinitionError

from .test_conv_nchwc import conv_reference

#: float32 error of F(7x7,2x2) relative to the output's largest magnitude: about 1e-5 on these
#: cases, 3.6-6.4e-5 on ResNet-18's stride-2 layers (256 to 1024 phase channels); F(4x4,2x2)
#: about 1e-6 here and 6.5-8.5e-6 there. The bound is about twice the largest seen here.
RELATIVE = {4: 5e-6, 7: 3e-5}


@pytest.mark.parametrize("wino", [F4_2, F7_2], ids=["F4_2", "F7_2"])
def test_transform_matrices_are_minimal_filtering(wino):
    a, m = wino.alpha, wino.m
    assert (a, wino.r) == (m + 1, 2)
    d = np.random.default_rng(3).standard_normal((a, a))
    g = np.array([[1.0, -2.0], [0.5, 3.0]])
    bt, gm, at = (np.array(x, dtype=float) for x in (wino.B_T, wino.G, wino.A_T))
    product = at @ ((gm @ g @ gm.T) * (bt @ d @ bt.T)) @ at.T
    direct = np.array([[np.sum(d[i:i + 2, j:j + 2] * g) for j in range(m)] for i in range(m)])
    np.testing.assert_allclose(product, direct, atol=1e-9)


def _case(batch, channels, size, out_channels, padding, tile, layout="NCHW", weights="raw", rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    x = rng.standard_normal((batch, channels, size, size), dtype=np.float32)
    w = rng.standard_normal((out_channels, channels, 3, 3), dtype=np.float32)
    s, args = conv2d_winograd(batch, channels, size, size, out_channels, padding=padding, tile=tile, stride=2,
                              layout=layout, weights=weights)
    expected = conv_reference(x, w, 2, padding)
    wa = w
    if weights == "transformed":
        sw, aw = conv2d_winograd_weights(channels, out_channels, tile=tile, stride=2)
        wa = np.full(aw[1].shape, np.nan, np.float32)
        ns.build(sw, aw, target="llvm")(w, wa)
        assert wa.shape == weight_shape(channels, out_channels, tile, 2) == args[1].shape
    y = np.full(args[2].shape, np.nan, np.float32)
    if layout == "NCHW":
        ns.build(s, args, target="llvm")(x, wa, y)
        return y, expected
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    xb = xp.reshape(batch, channels // 16, 16, *xp.shape[2:]).transpose(0, 1, 3, 4, 2)
    if weights == "raw":
        wa = np.ascontiguousarray(w.reshape(out_channels // 16, 16, channels // 16, 16, 3, 3)
                                  .transpose(0, 2, 4, 5, 3, 1))
    ns.build(s, args, target="llvm")(np.ascontiguousarray(xb), wa, y)
    return y.transpose(0, 1, 4, 2, 3).reshape(expected.shape), expected


@pytest.mark.parametrize("batch, channels, size, out_channels, padding, tile, layout, weights", [
    (1, 4, 9, 16, 1, 4, "NCHW", "raw"),            # output 5: a partial tile
    pytest.param(2, 5, 11, 20, 1, 7, "NCHW", "raw", marks=pytest.mark.slow),  # partial channel blocks, batch 2
    (1, 20, 8, 16, 0, 4, "NCHW", "raw"),           # padding 0, two input blocks
    (1, 8, 15, 16, 1, 7, "NCHW", "transformed"),   # output 8: a tile of 7 and a partial one
    (2, 32, 14, 16, 1, 7, "NCHWc", "raw"),         # blocked arrays, output 7: one whole tile
    (1, 16, 16, 32, 1, 4, "NCHWc", "transformed"),  # blocked, transformed, tiles past the input
])
def test_matches_numpy(batch, channels, size, out_channels, padding, tile, layout, weights):
    y, expected = _case(batch, channels, size, out_channels, padding, tile, layout, weights)
    np.testing.assert_allclose(y, expected, rtol=0, atol=RELATIVE[tile] * np.abs(expected).max())


def test_phase_weights_are_the_taps_of_each_phase():
    """U of the phases: per phase (py, px), the 2x2 filter W[2r + py, 2s + px] (zero past 3)."""
    w = np.random.default_rng(7).standard_normal((16, 3, 3, 3), dtype=np.float32)
    sw, aw = conv2d_winograd_weights(3, 16, tile=4, stride=2)
    u = np.empty(aw[1].shape, np.float32)
    ns.build(sw, aw, target="llvm")(w, u)
    g = np.array(F4_2.G)
    padded = np.zeros((16, 3, 4, 4))
    padded[:, :, :3, :3] = w
    for phase in range(4):
        py, px = divmod(phase, 2)
        taps = padded[:, :, py::2, px::2]
        np.testing.assert_allclose(u[:, :, phase, :, :], np.einsum("er,kcrs,fs->efck", g, taps, g),
                                   rtol=1e-5, atol=1e-5)


def test_nchwc_template_winograd_s2_knob():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 12, 11, 11), dtype=np.float32)
    w = rng.standard_normal((24, 12, 3, 3), dtype=np.float32)
    s, args = conv2d_nchwc(1, 12, 11, 11, 24, 3, stride=2, winograd_s2=4)
    assert {"V", "X.phases"} <= {stage.op.name for stage in s.stages}
    y = np.full(args[2].shape, np.nan, np.float32)
    ns.build(s, args, target="llvm")(x, w, y)
    expected = conv_reference(x, w, 2, 1)
    np.testing.assert_allclose(y, expected, rtol=0, atol=RELATIVE[4] * np.abs(expected).max())


def test_search_space_offers_phases_for_stride_2():
    from schedules.autotune.spaces import TEMPLATES

    spec = TEMPLATES["conv2d_nchwc"]
    sizes, options = (1, 12, 9, 9, 16, 3), {"stride": 2}
    space = spec.space(sizes, options)
    assert tuple(spec.space(sizes).knobs["winograd_s2"].choices) == (0,)
    points = [point for point in space.points() if point["winograd_s2"]]
    assert [point["winograd_s2"] for point in points] == [4, 7]
    assert not any(point["winograd"] for point in space.points())
    rng = np.random.default_rng(2)
    s, args = spec.instantiate(sizes, spec.to_kwargs(points[-1]), "float32", options)
    inputs = [rng.uniform(-1, 1, t.shape).astype(np.float32) for t in args[:-1]]
    out = np.full(args[-1].shape, np.nan, np.float32)
    ns.build(s, args, target="llvm")(*inputs, out)
    np.testing.assert_allclose(out, spec.reference(inputs, sizes, spec.task_options(options))[0], rtol=1e-4,
                               atol=1e-4)


def test_stages_run_over_all_tiles_where_the_weights_outgrow_the_cache():
    """Per group of tile rows each group reads the transformed weights again: not where they
    exceed 4 MiB (ResNet-18's 128 -> 256 stride-2 layer, 13 MiB by F(4x4,2x2)); the stride-1
    ResNet layers keep their choice."""
    assert default_fused(F4_2, 8 * 7 * 7, 256, out_channels=128)  # 64 -> 128: 3.2 MiB of weights
    assert default_fused(F4_2, 8 * 4 * 4, 512) and not default_fused(F4_2, 8 * 4 * 4, 512, out_channels=256)
    assert [default_fused(F4, tiles, c, out_channels=c) for tiles, c in ((8 * 14 * 14, 64), (8 * 7 * 7, 128),
                                                                         (8 * 4 * 4, 256), (8 * 2 * 2, 512))] == \
        [True, True, False, False]
    assert default_fused(F2, 8 * 7 * 7, 256, out_channels=256)  # exactly 4 MiB


def test_variants():
    assert sorted(STRIDE2_VARIANTS) == [4, 7]
    assert [STRIDE2_VARIANTS[t].alpha for t in (4, 7)] == [5, 8]


@pytest.mark.parametrize("call, message", [
    (lambda: conv2d_winograd(1, 4, 9, 9, 8, stride=2, tile=2),
     "conv2d_winograd: a stride-2 tile must be 4 (F(4x4,2x2)) or 7 (F(7x7,2x2)), got tile 2 with stride 2"),
    (lambda: conv2d_winograd(1, 4, 9, 9, 8, stride=3, tile=4),
     "conv2d_winograd: stride must be 1 or 2, got tile 4 with stride 3"),
    (lambda: conv2d_nchwc(1, 4, 6, 6, 8, 3, stride=2, winograd=4),
     "conv2d_nchwc: winograd=4 needs a 3x3 kernel with stride 1, got kernel 3 and stride 2; use winograd=0 "
     "(the direct method) or winograd_s2=4 (Winograd over the stride-2 phases)"),
    (lambda: conv2d_nchwc(1, 4, 6, 6, 8, 3, stride=2, winograd_s2=5),
     "conv2d_nchwc: winograd_s2 must be 0 (direct), 4 (F(4x4,2x2)) or 7 (F(7x7,2x2)), got 5"),
    (lambda: conv2d_nchwc(1, 4, 6, 6, 8, 3, stride=1, winograd_s2=4),
     "conv2d_nchwc: winograd_s2=4 needs a 3x3 kernel with stride 2, got kernel 3 and stride 1; use "
     "winograd_s2=0 (the direct method)"),
    (lambda: conv2d_nchwc(1, 4, 6, 6, 8, 3, stride=2, winograd=2, winograd_s2=4),
     "conv2d_nchwc: winograd=2 (stride 1) and winograd_s2=4 (stride 2) exclude each other; set at most one"),
    (lambda: conv2d_nchwc(1, 32, 6, 6, 8, 3, stride=2, oc_block=32, winograd_s2=7),
     "conv2d_nchwc: winograd_s2=7 blocks channels by ic_block=16 and oc_block=16, got ic_block=None and "
     "oc_block=32; leave them unset"),
])
def test_errors(call, message):
    with pytest.raises(DefinitionError, match=re.escape(message)):
        call()
