"""Winograd F(2x2, 3x3) and F(4x4, 3x3) against numpy: odd and even sizes, padding 0 and 1,
batch 1, partial channel blocks and partial tiles, NCHW and blocked arrays, the ``winograd`` knob
of conv2d_nchwc; the transform identities; the transform expressions fold to their nonzero terms;
the fused nest; the errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from schedules.templates.conv_nchwc import conv2d_nchwc
from schedules.templates.conv_winograd import (
    A_T,
    B_T,
    G,
    conv2d_winograd,
    default_fused,
    default_group,
    default_rows,
    transformed,
)
from schedules.templates.winograd_transforms import F2, F4, row_transform
from tensorir.errors import DefinitionError

from .helpers import check_roundtrip, nest
from .test_conv_nchwc import conv_reference

#: F(4x4,3x3) in float32: the largest error measured over these cases is about 3e-6 of the
#: output's largest magnitude (F(2x2,3x3): 2e-7), on ResNet-18's 3x3 layers 0.8-1.5e-5 (rms
#: 2-3.5e-6); the bound is twice the largest
F4_RELATIVE = 3e-5


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


@pytest.mark.parametrize("wino", [F2, F4], ids=["F2", "F4"])
def test_transform_matrices_are_minimal_filtering(wino):
    a, m = wino.alpha, wino.m
    d = np.random.default_rng(3).standard_normal((a, a))
    g = np.arange(9.0).reshape(3, 3)
    bt, gm, at = (np.array(x, dtype=float) for x in (wino.B_T, wino.G, wino.A_T))
    # the identity F(m,3) rests on: A^T [(G g G^T) * (B^T d B)] A is the m x m correlation of d with g
    product = at @ ((gm @ g @ gm.T) * (bt @ d @ bt.T)) @ at.T
    direct = np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(m)] for i in range(m)])
    np.testing.assert_allclose(product, direct, atol=1e-12)
    assert (B_T, G, A_T) == (F2.B_T, F2.G, F2.A_T)


def _winograd_case(batch, channels, size, out_channels, padding, **knobs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size), dtype=np.float32)
    w = rng.standard_normal((out_channels, channels, 3, 3), dtype=np.float32)
    s, args = conv2d_winograd(batch, channels, size, size, out_channels, padding=padding, **knobs)
    y = np.full(args[2].shape, np.nan, np.float32)
    ns.build(s, args, target="llvm")(x, w, y)
    return y, conv_reference(x, w, 1, padding)


@pytest.mark.parametrize("batch, channels, size, out_channels, padding, knobs", [
    (2, 5, 7, 20, 1, {}),                        # partial channel blocks, a partial tile
    (1, 8, 9, 32, 0, {"rows": 3, "lanes": 32}),  # padding 0, a partial register tile, batch 1
    pytest.param(1, 16, 8, 16, 1, {}, marks=pytest.mark.slow),  # whole tiles and blocks
    (2, 20, 11, 16, 1, {"group": 1, "fused": True}),  # odd size, stages per tile row, partial tiles
    pytest.param(2, 20, 11, 16, 1, {"fused": False, "rows": 5}, marks=pytest.mark.slow),  # stages over all tiles
])
def test_f4_matches_numpy(batch, channels, size, out_channels, padding, knobs):
    y, expected = _winograd_case(batch, channels, size, out_channels, padding, tile=4, **knobs)
    np.testing.assert_allclose(y, expected, rtol=0, atol=F4_RELATIVE * np.abs(expected).max())


@pytest.mark.parametrize("tile", [pytest.param(2, marks=pytest.mark.slow), 4])
def test_blocked_arrays_match_numpy(tile):
    """``layout="NCHWc"`` takes conv2d_nchwc's blocked arrays; a size whose tiles reach past the
    padded input reads zeros there."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 32, 7, 7), dtype=np.float32)
    w = rng.standard_normal((16, 32, 3, 3), dtype=np.float32)
    s, args = conv2d_winograd(2, 32, 7, 7, 16, padding=1, tile=tile, layout="NCHWc")
    assert [t.shape for t in args] == [(2, 2, 9, 9, 16), (1, 2, 3, 3, 16, 16), (2, 1, 7, 7, 16)]
    xb = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).reshape(2, 2, 16, 9, 9).transpose(0, 1, 3, 4, 2)
    wb = w.reshape(1, 16, 2, 16, 3, 3).transpose(0, 2, 4, 5, 3, 1)
    yb = np.full(args[2].shape, np.nan, np.float32)
    ns.build(s, args, target="llvm")(np.ascontiguousarray(xb), np.ascontiguousarray(wb), yb)
    expected = conv_reference(x, w, 1, 1)
    np.testing.assert_allclose(yb.transpose(0, 1, 4, 2, 3).reshape(2, 16, 7, 7), expected, rtol=0,
                               atol=F4_RELATIVE * np.abs(expected).max())


@pytest.mark.parametrize("winograd", [pytest.param(2, marks=pytest.mark.slow), 4])
def test_nchwc_template_winograd_knob(winograd):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 12, 10, 10), dtype=np.float32)
    w = rng.standard_normal((24, 12, 3, 3), dtype=np.float32)
    s, args = conv2d_nchwc(1, 12, 10, 10, 24, 3, winograd=winograd)
    assert "V" in {stage.op.name for stage in s.stages}
    y = np.full(args[2].shape, np.nan, np.float32)
    ns.build(s, args, target="llvm")(x, w, y)
    expected = conv_reference(x, w, 1, 1)
    np.testing.assert_allclose(y, expected, rtol=0, atol=F4_RELATIVE * np.abs(expected).max())


def test_row_transform_keeps_only_nonzero_terms():
    D = ns.placeholder((6,), name="D")
    V = ns.compute((6,), lambda e: row_transform(F4.B_T, e, lambda i: D[i]), name="V")
    s = ns.create_schedule(V)
    s[V].unroll(V.op.axis[0])
    module = ns.build(s, [D, V], target="llvm")
    assert "select" not in module.source  # each unrolled entry is its own sum of constant multiples
    d = np.arange(1, 7, dtype=np.float32) ** 1.5
    v = np.full(6, np.nan, np.float32)
    module(d, v)
    np.testing.assert_allclose(v, np.array(F4.B_T, dtype=np.float64) @ d, rtol=1e-6)
    assert str(row_transform(F2.A_T, V.op.axis[0], lambda i: D[i])) == \
        "if_then_else(e == 0, D[0] + D[1] + D[2], D[1] - D[2] - D[3])"


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


def test_fused_nest_golden():
    """Each group of tile rows: its input transforms (row pass in a local tile), products and
    output tiles in one parallel iteration."""
    s, args = conv2d_winograd(1, 16, 8, 8, 16, tile=4, rows=2, group=1, fused=True, layout="NCHWc")
    text = nest(s, args)
    lines = [line.split(" = ")[0].rstrip() for line in text.splitlines()]
    assert lines[0] == "func f(X: float32[1, 1, 10, 10, 16], W: float32[1, 1, 3, 3, 16, 16], " \
                       "Y.blocked: float32[1, 1, 8, 8, 16]) {"
    assert "\n".join(lines[1:14]) == """  allocate U: float32[6, 6, 1, 16, 16] in global
  parallel for bc.c.fused in 0..16:
    allocate Ug: float32[6, 3, 1, 1, 16] in local
    unrolled for e in 0..6:
      unrolled for q in 0..3:
        vectorized for k in 0..16:
          Ug[e, q, 0, 0, k]
    unrolled for e in 0..6:
      unrolled for f in 0..6:
        vectorized for k.inner in 0..16:
          U[e, f, 0, bc.c.fused, k.inner]
  parallel for n.y.outer.outer.fused in 0..2:
    allocate V: float32[6, 6, 2, 1, 16] in local"""
    assert "allocate M: float32[6, 6, 2, 16] in local" in text
    assert "allocate T: float32[6, 6, 1, 1, 16] in local" in text
    assert "allocate S: float32[6, 4, 1, 16] in local" in text
    assert "allocate M.local: float32[1, 1, 2, 16] in local" in text
    check_roundtrip(s, args)


def test_unfused_nest():
    """Small images: each stage over all tiles, the products' column panels outside the row
    blocks (each transformed weight panel read once)."""
    s, args = conv2d_winograd(1, 16, 8, 8, 32, tile=4, rows=2, layout="NCHWc")
    text = nest(s, args)
    assert "allocate V: float32[6, 6, 4, 1, 16] in global" in text
    assert re.search(r"parallel for e.f.k.outer.fused in 0..72:\n\s+for t.outer in 0..2:\n"
                     r"\s+allocate M.local: float32\[1, 1, 2, 16\] in local", text)


def test_defaults():
    assert default_fused(F4, 8 * 14 * 14, 64) and not default_fused(F4, 8 * 4, 512)  # ResNet's first / last stage
    assert [default_group(ty, tx) for ty, tx in ((14, 14), (7, 7), (4, 4), (2, 2), (28, 28))] == [1, 7, 4, 2, 1]
    assert [default_rows(n) for n in (14, 49, 16, 4, 28, 11)] == [7, 7, 8, 4, 7, 6]


@pytest.mark.parametrize("call, message", [
    (lambda: conv2d_winograd(1, 4, 6, 6, 8, rows=0), "conv2d_winograd: rows must be a positive integer, got 0"),
    (lambda: conv2d_winograd(1, 4, 6, 6, 8, group=0), "conv2d_winograd: group must be a positive integer, got 0"),
    (lambda: conv2d_winograd(1, 4, 6, 6, 8, tile=3),
     "conv2d_winograd: tile must be 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)), got 3"),
    (lambda: conv2d_winograd(1, 4, 6, 6, 8, layout="NHWC"),
     "conv2d_winograd: layout must be 'NCHW' or 'NCHWc', got 'NHWC'"),
    (lambda: conv2d_nchwc(1, 4, 6, 6, 8, 3, winograd=3),
     "conv2d_nchwc: winograd must be 0 (direct), 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)), got 3"),
    (lambda: conv2d_nchwc(1, 4, 6, 6, 8, 3, stride=2, winograd=4),
     "conv2d_nchwc: winograd=4 needs a 3x3 kernel with stride 1, got kernel 3 and stride 2; use winograd=0 "
     "(the direct method)"),
    (lambda: conv2d_nchwc(1, 4, 6, 6, 8, 1, padding=0, winograd=2),
     "conv2d_nchwc: winograd=2 needs a 3x3 kernel with stride 1, got kernel 1 and stride 1"),
    (lambda: conv2d_nchwc(1, 32, 6, 6, 8, 3, oc_block=32, winograd=4),
     "conv2d_nchwc: winograd=4 blocks channels by ic_block=16 and oc_block=16, got ic_block=None and "
     "oc_block=32; leave them unset"),
    (lambda: conv2d_winograd(1, 4, 1, 1, 8, padding=0),
     "conv2d_winograd: a 1x1 input with padding 0 has no 3x3 output; pad it more"),
])
def test_errors(call, message):
    with pytest.raises(DefinitionError, match=re.escape(message)):
        call()


def test_interpreter_agrees():
    """The reference interpreter runs the same nest (its selects chosen per unrolled index)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 3, 6, 6), dtype=np.float32)
    w = rng.standard_normal((5, 3, 3, 3), dtype=np.float32)
    s, args = conv2d_winograd(1, 3, 6, 6, 5, tile=4)
    y = np.full(args[2].shape, np.nan, np.float32)
    ns.build(s, args, target="interp")(x, w, y)
    np.testing.assert_allclose(y, conv_reference(x, w, 1, 1), rtol=0, atol=1e-4)
