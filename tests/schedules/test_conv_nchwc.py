"""The blocked NCHW[x]c convolution template against numpy: both layouts, partial channel blocks,
partial column tiles, strides, 1x1 and 7x7 kernels; its micro-kernel; its errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from schedules.templates.conv_nchwc import conv2d_nchwc, default_oc_tiles, default_tile
from tensorir.errors import DefinitionError

from .helpers import check_roundtrip, nest


def conv_reference(x, w, stride, padding):
    n, c, h, wd = x.shape
    k, _, r, q = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - r) // stride + 1, (wd + 2 * padding - q) // stride + 1
    out = np.zeros((n, k, oh, ow))
    for i in range(r):
        for j in range(q):
            patch = xp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
            out += np.einsum("nchw,kc->nkhw", patch, w[:, :, i, j])
    return out


def _run(s, args, x, w):
    y = np.full(args[2].shape, np.nan, np.float32)
    ns.build(s, args, target="llvm")(x, w, y)
    return y


@pytest.mark.parametrize("batch, channels, size, out_channels, kernel, stride, padding, knobs", [
    (2, 16, 9, 32, 3, 1, 1, {"tile_x": 4}),          # whole blocks, a partial column tile
    (1, 5, 8, 20, 3, 2, 1, {"ic_block": 4, "oc_block": 8}),  # partial channel blocks, stride 2
    (1, 8, 7, 16, 1, 2, 0, {}),                      # 1x1 stride 2
    (1, 3, 16, 16, 7, 2, 3, {"unroll_kernel": True}),  # the RGB stem: ic_block = 3
])
@pytest.mark.parametrize("fused", [True, False])
def test_nchw_arrays_match_numpy(batch, channels, size, out_channels, kernel, stride, padding, knobs, fused):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size), dtype=np.float32)
    w = rng.standard_normal((out_channels, channels, kernel, kernel), dtype=np.float32)
    s, args = conv2d_nchwc(batch, channels, size, size, out_channels, kernel, stride=stride, padding=padding,
                           fused_transforms=fused, **knobs)
    text = nest(s, args)
    assert ("X.blocked" in text) is not fused and "W.blocked" in text
    np.testing.assert_allclose(_run(s, args, x, w), conv_reference(x, w, stride, padding), rtol=1e-4, atol=1e-4)


def test_unpadded_input_is_read_in_place():
    """Without padding the fused kernel reads ``X`` itself: no copy of which a 1x1 stride-2
    layer would read a quarter."""
    s, args = conv2d_nchwc(1, 8, 7, 7, 16, 1, stride=2, padding=0)
    assert [stage.op.name for stage in s.stages] == ["X", "W", "W.blocked", "Y.blocked", "Y"]
    assert "X.pad" not in nest(s, args)


def test_fused_transforms_write_each_tile_from_registers():
    s, args = conv2d_nchwc(1, 16, 8, 8, 16, 3, tile_x=8)
    text = nest(s, args)
    assert "allocate Y.blocked: float32[1, 1, 1, 8, 16] in local" in text
    assert "Y.blocked[0, 0, 0, x, k] = Y.blocked[0, 0, 0, x, k] + X.pad[" in text
    check_roundtrip(s, args)


def test_blocked_arrays_match_numpy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 32, 6, 6), dtype=np.float32)
    w = rng.standard_normal((16, 32, 3, 3), dtype=np.float32)
    s, args = conv2d_nchwc(2, 32, 6, 6, 16, 3, padding=1, ic_block=16, oc_block=8, layout="NCHWc")
    assert [t.shape for t in args] == [(2, 2, 8, 8, 16), (2, 2, 3, 3, 16, 8), (2, 2, 6, 6, 8)]
    xb = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).reshape(2, 2, 16, 8, 8).transpose(0, 1, 3, 4, 2)
    wb = w.reshape(2, 8, 2, 16, 3, 3).transpose(0, 2, 4, 5, 3, 1)
    yb = _run(s, args, np.ascontiguousarray(xb), np.ascontiguousarray(wb))
    y = yb.transpose(0, 1, 4, 2, 3).reshape(2, 16, 6, 6)
    np.testing.assert_allclose(y, conv_reference(x, w, 1, 1), rtol=1e-4, atol=1e-4)


def test_register_tile_nest_and_trace():
    s, args = conv2d_nchwc(1, 16, 8, 8, 16, 3, padding=1, tile_x=8, layout="NCHWc")
    text = nest(s, args)
    assert "allocate Y.blocked.local: float32[1, 1, 1, 8, 16] in local" in text
    assert re.search(r"for c in 0..16:\n\s+unrolled for x in 0..8:\n\s+vectorized for k in 0..16:", text)
    check_roundtrip(s, args)


def test_micro_kernel_is_broadcast_fmas():
    from backends.llvm.target import host_target

    if host_target().vector_bytes != 64:
        pytest.skip("the host has no AVX-512")
    s, args = conv2d_nchwc(1, 16, 14, 14, 16, 3, padding=1, layout="NCHWc")
    asm = ns.build(s, args, target="llvm").asm
    assert len(re.findall(r"vfmadd231ps\t-?\d*\(%\w+(,%\w+,4)?\)\{1to16\}", asm)) >= 14


@pytest.mark.parametrize("batch, channels, size, out_channels, kernel, stride, padding, knobs, fused", [
    (1, 16, 13, 64, 1, 2, 0, {}, True),                        # 1x1 stride 2, 7-wide rows: two blocks a tile
    (2, 5, 7, 40, 3, 1, 1, {"oc_block": 8, "oc_tiles": 2}, False),  # an odd block count: a partial pair
    (1, 8, 9, 48, 3, 2, 1, {"oc_tiles": 2}, True),              # stride 2, partial blocks and pairs
])
def test_output_channel_blocks_share_a_register_tile(batch, channels, size, out_channels, kernel, stride, padding,
                                                      knobs, fused):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((batch, channels, size, size), dtype=np.float32)
    w = rng.standard_normal((out_channels, channels, kernel, kernel), dtype=np.float32)
    s, args = conv2d_nchwc(batch, channels, size, size, out_channels, kernel, stride=stride, padding=padding,
                           fused_transforms=fused, **knobs)
    np.testing.assert_allclose(_run(s, args, x, w), conv_reference(x, w, stride, padding), rtol=1e-4, atol=1e-4)


def test_two_block_register_tile_nest():
    """ResNet's last 1x1 stride-2 layer: 7-wide output rows, so each step feeds one broadcast
    input to the weight vectors of two output-channel blocks (14 FMA chains)."""
    s, args = conv2d_nchwc(8, 256, 14, 14, 512, 1, stride=2, padding=0, layout="NCHWc")
    text = nest(s, args)
    assert "parallel for n.bk.outer.y.fused in 0..896:" in text
    assert "allocate Y.blocked.local: float32[1, 2, 1, 7, 16] in local" in text
    assert re.search(r"for C in 0..16:\n\s+for c in 0..16:\n\s+unrolled for bk in 0..2:\n"
                     r"\s+unrolled for x in 0..7:\n\s+vectorized for k in 0..16:\n"
                     r"\s+Y.blocked.local\[0, bk, 0, x, k\] = Y.blocked.local\[0, bk, 0, x, k\] \+ "
                     r"X\[n.bk.outer.y.fused // 7 // 16, C, n.bk.outer.y.fused % 7 \* 2, x \* 2, c\] \* "
                     r"W\[n.bk.outer.y.fused // 7 % 16 \* 2 \+ bk, C, 0, 0, c, k\]", text)
    check_roundtrip(s, args)


def test_default_oc_tiles():
    assert [default_oc_tiles(t, ob, blocks) for t, ob, blocks in
            ((7, 16, 32), (7, 16, 3), (7, 32, 16), (14, 16, 4), (5, 16, 2))] == [2, 1, 1, 1, 2]


def test_default_tile():
    assert [default_tile(w) for w in (56, 28, 14, 7, 112, 5, 17)] == [14, 14, 14, 7, 16, 5, 14]


@pytest.mark.parametrize("knobs, message", [
    ({"layout": "NHWC"}, "conv2d_nchwc: layout must be 'NCHW' or 'NCHWc', got 'NHWC'"),
    ({"ic_block": 0}, "conv2d_nchwc: ic_block must be a positive integer, got 0"),
    ({"tile_x": 2.5}, "conv2d_nchwc: tile_x must be a positive integer, got 2.5"),
    ({"oc_tiles": 0}, "conv2d_nchwc: oc_tiles must be a positive integer, got 0"),
])
def test_errors(knobs, message):
    with pytest.raises(DefinitionError, match=re.escape(message)):
        conv2d_nchwc(1, 16, 8, 8, 16, 3, **knobs)


def test_search_space_configs_compute_the_reference():
    from schedules.autotune.spaces import TEMPLATES

    spec = TEMPLATES["conv2d_nchwc"]
    sizes = (1, 12, 8, 8, 24, 3)
    space = spec.space(sizes)
    options = spec.task_options()
    rng = np.random.default_rng(2)
    assert {"ic_block", "oc_block", "tile_x", "oc_tiles", "unroll_kernel", "winograd", "winograd_s2"} == \
        set(spec.to_kwargs(space.points()[0]))
    winograd = [point for point in space.points() if point["winograd"]]
    assert [point["winograd"] for point in winograd] == [2, 4]
    for config in [space.points()[0], space.points()[-1], space.sample(np.random.default_rng(1)), winograd[-1]]:
        s, args = spec.instantiate(sizes, spec.to_kwargs(config), "float32", options)
        inputs = [rng.uniform(-1, 1, t.shape).astype(np.float32) for t in args[:-1]]
        out = np.full(args[-1].shape, np.nan, np.float32)
        ns.build(s, args, target="llvm")(*inputs, out)
        np.testing.assert_allclose(out, spec.reference(inputs, sizes, options)[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel, stride, padding", [(3, 1, 1), (1, 2, 0)])
def test_the_nchw_form_runs_its_output_loop_on_threads_exactly_when_asked(kernel, stride, padding):
    """With padding (a padded copy) and without it (1x1 stride 2 reads X), ``parallel`` decides
    whether the output's outer loop is parallel: a one-thread build has no parallel loop."""
    for parallel in (True, False):
        s, args = conv2d_nchwc(1, 16, 8, 8, 16, kernel, stride=stride, padding=padding, parallel=parallel)
        text = nest(s, args)
        assert ("parallel for n.k.outer.y.fused" in text) == parallel, text
        assert text.count("parallel for") == (2 if parallel and padding else int(parallel))  # and X.pad's
