"""The weight gradient of a 2-D convolution with the output channels in vectors: a register tile
of input channels x kernel columns (x kernel rows), 16 output channels a vector, runs the long
reduction over ``(n, y, x)`` with one vector of ``dY`` and one broadcast of ``X`` per product.

::

    dY.blocked[n, K, y, x, k] = dY[n, K*16 + k, y, x] or 0        # channels padded to 16
    X.pad = X with a zero border of ``padding``
    parallel for K.outer, c.outer:                                 # 16 output channels, tile_c inputs
      for r.outer:                                                 # all R rows in the tile, or one
        dW.local[tile_c, (R,) S, 16] = 0                           # registers
        for n, y, x:
          unrolled for c, (r,) s: vectorized for k in 0..16:
            dW.local[c, r, s, k] += X.pad[n, c, y*st + r, x*st + s] * dY.blocked[n, K, y, x, k]
        dW[K*16 + k, c, r, s] = dW.local[...]

The frontend's tiled ``dW`` kernel (:func:`schedules.templates.conv_variants.conv_grad_weight`)
keeps the output columns as the vector axis instead: a gather at stride 2, and a partial vector
on rows of 14 or 7 columns.
"""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.intmath import ceil_div
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule
from .conv_nchwc import schedule_padded

#: output channels per vector
LANES = 16
#: the most accumulator vectors in a register tile
TILE_MAX = 12


def default_tiles(in_channels: int, kernel: int) -> tuple[int, bool]:
    """``(tile_c, whole_kernel)``: the whole kernel in the tile where one row of the input
    channels holds fewer than 6 vectors (an RGB or single-channel input) and it fits in 16;
    else rows. ``tile_c`` is the largest divisor of ``in_channels`` whose taps fill at most
    :data:`TILE_MAX` vectors (16 for a whole kernel), at least 1."""
    whole = in_channels * kernel < 6 and kernel * kernel <= TILE_MAX + 4
    taps, most = (kernel * kernel, TILE_MAX + 4) if whole else (kernel, TILE_MAX)
    return max(d for d in range(1, in_channels + 1) if in_channels % d == 0 and (d == 1 or d * taps <= most)), whole


def conv2d_grad_weight(batch: int, in_channels: int, height: int, width: int, out_channels: int,
                       kernel: int = 3, *, stride: int = 1, padding: int = 1, tile_c: int | None = None,
                       whole_kernel: bool | None = None, dtype: str = "float32", parallel: bool = True):
    """``dW[k, c, r, s] = sum_{n, y, x} dY[n, k, y, x] * X[n, c, y*stride + r - p, x*stride + s - p]``
    (zero outside ``X``): ``(schedule, [X, dY, dW])`` on NCHW ``X`` and ``dY``, KCRS ``dW``.

    ``tile_c`` input channels (a divisor of ``in_channels``) and ``kernel`` columns, with
    ``whole_kernel`` all ``kernel`` rows too, make the register tile; by default
    :func:`default_tiles`.
    """
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    if out_h < 1 or out_w < 1:
        raise DefinitionError(f"conv2d_grad_weight: a {kernel}x{kernel} kernel does not fit the {height}x{width} "
                              f"input padded by {padding}; pad it more or take a smaller kernel")
    default_c, default_whole = default_tiles(in_channels, kernel)
    tile_c = default_c if tile_c is None else tile_c
    whole_kernel = default_whole if whole_kernel is None else whole_kernel
    if not isinstance(tile_c, int) or tile_c < 1 or in_channels % tile_c:
        raise DefinitionError(f"conv2d_grad_weight: tile_c must be a positive divisor of in_channels="
                              f"{in_channels}, got {tile_c!r}")
    X = placeholder((batch, in_channels, height, width), dtype, name="X")
    dY = placeholder((batch, out_channels, out_h, out_w), dtype, name="dY")
    kb = ceil_div(out_channels, LANES)
    dyb = compute((batch, kb, out_h, out_w, LANES), lambda n, bk, y, x, k: fn.value_or_zero(
        bk * LANES + k < out_channels, dY[n, bk * LANES + k, y, x]), name="dY.blocked")
    padded = _padded(X, padding)
    n, y, x = reduce_axis(batch, "n"), reduce_axis(out_h, "y"), reduce_axis(out_w, "x")
    local = compute((kb, in_channels, kernel, kernel, LANES), lambda bk, c, r, s, k: fn.sum(
        padded[n, c, y * stride + r, x * stride + s] * dyb[n, bk, y, x, k], axis=[n, y, x]), name="dW.local")
    dw = compute((out_channels, in_channels, kernel, kernel),
                 lambda k, c, r, s: local[k // LANES, c, r, s, k % LANES], name="dW")
    s = create_schedule(dw)
    _schedule(s, padded, dyb, local, dw, tile_c, whole_kernel, parallel)
    return s, [X, dY, dw]


def _padded(X, padding: int):
    if not padding:
        return X
    batch, channels, height, width = X.shape

    def at(n, c, y, x):
        inside = (y >= padding) & (y < height + padding) & (x >= padding) & (x < width + padding)
        return fn.value_or_zero(inside, X[n, c, y - padding, x - padding])

    return compute((batch, channels, height + 2 * padding, width + 2 * padding), at, name="X.pad")


def _schedule(s, padded, dyb, local, dw, tile_c: int, whole_kernel: bool, parallel: bool) -> None:
    k, c, r, rs = dw.op.axis
    ko, ki = s[dw].split(k, factor=LANES)
    co, ci = s[dw].split(c, factor=tile_c)
    if whole_kernel:
        s[dw].reorder(ko, co, ci, r, rs, ki)
        at = co
    else:
        s[dw].reorder(ko, co, r, ci, rs, ki)
        at = r
    s[local].set_scope("local")
    s[local].compute_at(s[dw], at)
    _, lc, lr, ls, lk = s[local].op.axis
    n, y, x = s[local].op.reduce_axis
    s[local].reorder(n, y, x, lc, lr, ls, lk)
    for axis in (lc, lr, ls):
        s[local].unroll(axis)
    s[local].vectorize(lk)
    for axis in (ci, r, rs) if whole_kernel else (ci, rs):
        s[dw].unroll(axis)
    bn, bk, _, _, _ = dyb.op.axis
    if parallel:
        s[dw].parallel(s[dw].fuse(ko, co))
        s[dyb].parallel(s[dyb].fuse(bn, bk))
    schedule_padded(s, padded, parallel)
