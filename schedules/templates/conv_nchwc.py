"""Direct 2-D convolution in the blocked ``NCHW[x]c`` layout, as TVM schedules it on x86: the
input's channels in blocks of ``ic_block`` (innermost), the weights as ``K/ob, C/ib, R, S, ib, ob``,
the output's channels in blocks of ``oc_block`` (a vector). Layout-transform stages bring NCHW
data into the blocked layout and back, so the template takes and returns NCHW arrays like
:func:`schedules.templates.conv2d_cpu`; ``layout="NCHWc"`` instead takes blocked input and
weights and returns the blocked output, for a model that keeps the blocked layout between
layers (no transform at all).

On NCHW arrays the transforms are fused by default (``fused_transforms``): the kernel broadcasts
from a padded NCHW copy of the input (from ``X`` itself without padding) and writes each register
tile straight to NCHW ``Y``; only the weights are blocked in a separate stage.
``fused_transforms=False`` blocks the whole input and output in stages of their own, as TVM's
layout-transform operators do.
"""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.intmath import ceil_div
from tensorir.tensor import PlaceholderOp, compute, placeholder, reduce_axis

from ..schedule import create_schedule
from .conv_winograd import conv2d_winograd
from .tuned import tunable

LAYOUTS = ("NCHW", "NCHWc")


@tunable("conv2d_nchwc", "llvm", 6,
         knobs=("ic_block", "oc_block", "tile_x", "oc_tiles", "unroll_kernel", "winograd", "winograd_s2"),
         options=("stride", "padding", "parallel"))
def conv2d_nchwc(batch: int, in_channels: int, height: int, width: int, out_channels: int, kernel: int = 3, *,
                 stride: int = 1, padding: int = 1, ic_block: int | None = None, oc_block: int = 16,
                 tile_x: int | None = None, oc_tiles: int | None = None, unroll_kernel: bool = False,
                 winograd: int = 0, winograd_s2: int = 0, layout: str = "NCHW",
                 dtype: str = "float32", parallel: bool = True, fused_transforms: bool = True):
    """``Y[n, k, y, x] = sum(X[n, c, y*stride + r - p, x*stride + s - p] * W[k, c, r, s])`` in
    the blocked layout. The nest (``layout="NCHW"``: the transforms around it)::

        X.blocked[n, C, y, x, c] = X[n, C*ib + c, y - p, x - p] or 0     # padded, blocked
        W.blocked[K, C, r, s, c, k] = W[K*ob + k, C*ib + c, r, s]
        parallel for n.K.outer.y in 0..batch*ceil(K/ob/oc_tiles)*out_h:
          for x.outer in 0..ceil(out_w/tile_x):
            Y.local[oc_tiles, tile_x, ob] = 0                          # registers
            for C, r, s:                                                # unrolled r, s: unroll_kernel
              for c in 0..ib:
                unrolled for K in 0..oc_tiles:
                  unrolled for x in 0..tile_x:
                    vectorized for k in 0..ob:
                      Y.local[K, x, k] += X.blocked[n, C, .., .., c] * W.blocked[.., C, r, s, c, k]
            Y.blocked[n, .., y, x.outer*tile_x + .., ..] = Y.local
        Y[n, k, y, x] = Y.blocked[n, k / ob, y, x, k % ob]

    Channels that do not fill a block are zero-padded in the blocked copies. By default
    ``ic_block`` is 16 or all input channels when fewer (an RGB input is not padded to 16), and
    ``tile_x`` the widest of 16..6 columns that divides the output width (14 when none does).
    ``oc_tiles`` output-channel blocks share one register tile (each input broadcast feeds that
    many weight vectors); by default :func:`default_oc_tiles`.

    ``winograd=2`` or ``4`` computes a 3x3 stride-1 convolution by Winograd's F(2x2,3x3) or
    F(4x4,3x3) instead (:func:`schedules.templates.conv_winograd.conv2d_winograd`, same arrays;
    ``tile_x``, ``oc_tiles`` and ``unroll_kernel`` are knobs of the direct method only). The
    tuning space offers it, so a tuned task uses it where it measured faster.

    ``winograd_s2=4`` or ``7`` computes a 3x3 stride-2 convolution as a 2x2 stride-1 one over the
    four phases of its input (:mod:`schedules.templates.winograd_phases`) by F(4x4,2x2) or
    F(7x7,2x2): 6.25 or 5.2 products per output and input channel instead of 9 (about 1.2x the
    direct kernel's speed on ResNet-18's 64->128 channel layer; slower where the transformed
    weights outgrow the cache: the 256 and 512 channel layers). In the tuning space too.
    """
    if layout not in LAYOUTS:
        raise DefinitionError(f"conv2d_nchwc: layout must be 'NCHW' or 'NCHWc', got {layout!r}")
    for knob, value in (("ic_block", ic_block), ("oc_block", oc_block), ("tile_x", tile_x), ("oc_tiles", oc_tiles)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise DefinitionError(f"conv2d_nchwc: {knob} must be a positive integer, got {value!r}")
    if winograd or winograd_s2:
        return _winograd(batch, in_channels, height, width, out_channels, kernel, stride, padding, ic_block,
                         oc_block, (winograd, winograd_s2), layout, dtype, parallel)
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    ic_block = ic_block or min(16, in_channels)
    tile_x = tile_x or default_tile(out_w)
    cb, kb = ceil_div(in_channels, ic_block), ceil_div(out_channels, oc_block)
    oc_tiles = oc_tiles or default_oc_tiles(tile_x, oc_block, kb)
    if layout == "NCHW" and fused_transforms:
        return _nchw_arrays(batch, in_channels, height, width, out_channels, kernel, stride, padding, ic_block,
                            oc_block, tile_x, oc_tiles, unroll_kernel, dtype, parallel)
    if layout == "NCHW":
        X = placeholder((batch, in_channels, height, width), dtype, name="X")
        W = placeholder((out_channels, in_channels, kernel, kernel), dtype, name="W")
        xb = _block_input(X, ic_block, padding)
        wb = _block_weights(W, ic_block, oc_block)
    else:
        X = xb = placeholder((batch, cb, height + 2 * padding, width + 2 * padding, ic_block), dtype, name="X")
        W = wb = placeholder((kb, cb, kernel, kernel, ic_block, oc_block), dtype, name="W")
    big_c, c = reduce_axis(cb, "C"), reduce_axis(ic_block, "c")
    r, s = reduce_axis(kernel, "r"), reduce_axis(kernel, "s")
    yb = compute((batch, kb, out_h, out_w, oc_block), lambda n, bk, y, x, k: fn.sum(
        xb[n, big_c, y * stride + r, x * stride + s, c] * wb[bk, big_c, r, s, c, k], axis=[big_c, r, s, c]),
        name="Y.blocked")
    if layout == "NCHW":
        out = compute((batch, out_channels, out_h, out_w),
                      lambda n, k, y, x: yb[n, k // oc_block, y, x, k % oc_block], name="Y")
    else:
        out = yb
    s_ = create_schedule(out)
    _schedule_blocked(s_, yb, tile_x, oc_tiles, unroll_kernel, parallel)
    if layout == "NCHW":
        for stage in (xb, wb):
            axes = stage.op.axis
            s_[stage].vectorize(axes[-1])
            if parallel:
                s_[stage].parallel(s_[stage].fuse(axes[0], axes[1]))
        n, k, y, x = out.op.axis
        if parallel:
            s_[out].parallel(s_[out].fuse(n, k))
    return s_, [X, W, out]


def _winograd(batch, in_channels, height, width, out_channels, kernel, stride, padding, ic_block, oc_block, tiles,
              layout, dtype, parallel):
    tile, knob = _winograd_tile(tiles, kernel, stride)
    if ic_block not in (None, min(16, in_channels)) or oc_block != 16:
        raise DefinitionError(f"conv2d_nchwc: {knob}={tile} blocks channels by ic_block={min(16, in_channels)} "
                              f"and oc_block=16, got ic_block={ic_block} and oc_block={oc_block}; leave them "
                              f"unset")
    return conv2d_winograd(batch, in_channels, height, width, out_channels, padding=padding, tile=tile,
                           stride=stride, layout=layout, dtype=dtype, parallel=parallel)


def _winograd_tile(tiles: tuple, kernel: int, stride: int) -> tuple:
    """The Winograd tile of the ``winograd`` or ``winograd_s2`` knob (one of them set) and its
    name, checked against the kernel and stride."""
    winograd, winograd_s2 = tiles
    if winograd and winograd_s2:
        raise DefinitionError(f"conv2d_nchwc: winograd={winograd!r} (stride 1) and winograd_s2={winograd_s2!r} "
                              f"(stride 2) exclude each other; set at most one")
    if winograd:
        if winograd not in (2, 4):
            raise DefinitionError(f"conv2d_nchwc: winograd must be 0 (direct), 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)), "
                                  f"got {winograd!r}")
        if kernel != 3 or stride != 1:
            fix = "winograd_s2=4 (Winograd over the stride-2 phases)" if kernel == 3 and stride == 2 else "winograd=0"
            raise DefinitionError(f"conv2d_nchwc: winograd={winograd} needs a 3x3 kernel with stride 1, got kernel "
                                  f"{kernel} and stride {stride}; use winograd=0 (the direct method) or {fix}")
        return winograd, "winograd"
    if winograd_s2 not in (4, 7):
        raise DefinitionError(f"conv2d_nchwc: winograd_s2 must be 0 (direct), 4 (F(4x4,2x2)) or 7 (F(7x7,2x2)), "
                              f"got {winograd_s2!r}")
    if kernel != 3 or stride != 2:
        raise DefinitionError(f"conv2d_nchwc: winograd_s2={winograd_s2} needs a 3x3 kernel with stride 2, got "
                              f"kernel {kernel} and stride {stride}; use winograd_s2=0 (the direct method)")
    return winograd_s2, "winograd_s2"


def _nchw_arrays(batch, in_channels, height, width, out_channels, kernel, stride, padding, ic_block, oc_block,
                 tile_x, oc_tiles, unroll_kernel, dtype, parallel):
    """The blocked kernel on NCHW arrays without whole-tensor transforms: it broadcasts its input
    from a padded NCHW copy (a contiguous copy; consecutive columns are consecutive there too),
    and each register tile is written to NCHW ``Y`` straight from registers."""
    X = placeholder((batch, in_channels, height, width), dtype, name="X")
    W = placeholder((out_channels, in_channels, kernel, kernel), dtype, name="W")
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    cb, kb = ceil_div(in_channels, ic_block), ceil_div(out_channels, oc_block)
    padded = _padded_nchw(X, padding) if padding else X  # no copy: a 1x1 stride-2 kernel reads a quarter of X
    wb = _block_weights(W, ic_block, oc_block)

    def x_at(n, bc, yy, xx, c):
        if in_channels % ic_block:
            return fn.value_or_zero(bc * ic_block + c < in_channels, padded[n, bc * ic_block + c, yy, xx])
        return padded[n, bc * ic_block + c, yy, xx]

    big_c, c = reduce_axis(cb, "C"), reduce_axis(ic_block, "c")
    r, s = reduce_axis(kernel, "r"), reduce_axis(kernel, "s")
    yb = compute((batch, kb, out_h, out_w, oc_block), lambda n, bk, y, x, k: fn.sum(
        x_at(n, big_c, y * stride + r, x * stride + s, c) * wb[bk, big_c, r, s, c, k], axis=[big_c, r, s, c]),
        name="Y.blocked")
    out = compute((batch, out_channels, out_h, out_w),
                  lambda n, k, y, x: yb[n, k // oc_block, y, x, k % oc_block], name="Y")
    sch = create_schedule(out)
    _schedule_fused(sch, padded, wb, yb, out, oc_block, tile_x, oc_tiles, unroll_kernel, parallel)
    return sch, [X, W, out]


def _padded_nchw(X, padding: int):
    batch, channels, height, width = X.shape

    def at(n, c, y, x):
        inside = (y >= padding) & (y < height + padding) & (x >= padding) & (x < width + padding)
        return fn.value_or_zero(inside, X[n, c, y - padding, x - padding])

    return compute((batch, channels, height + 2 * padding, width + 2 * padding), at, name="X.pad")


def _schedule_fused(sch, padded, wb, yb, out, oc_block: int, tile_x: int, oc_tiles: int, unroll_kernel: bool,
                    parallel: bool):
    """``Y.blocked`` as a register tile inside each (n, ``oc_tiles`` k blocks, y, x tile) of ``Y``."""
    n, k, y, x = out.op.axis
    ko, ki = sch[out].split(k, factor=oc_block * oc_tiles)
    xo, xi = sch[out].split(x, factor=tile_x)
    sch[out].reorder(n, ko, y, xo, ki, xi)
    sch[yb].set_scope("local")
    sch[yb].compute_at(sch[out], xo)
    _register_tile(sch, yb, unroll_kernel)
    sch[out].unroll(xi)
    sch[wb].vectorize(wb.op.axis[-1])
    if parallel:
        sch[wb].parallel(sch[wb].fuse(*wb.op.axis[:2]))
    schedule_padded(sch, padded, parallel)
    if parallel:
        sch[out].parallel(sch[out].fuse(n, ko, y))


def default_oc_tiles(tile_x: int, oc_block: int, blocks: int, lanes: int = 16) -> int:
    """Output-channel blocks per register tile: two where one block's ``tile_x`` columns make
    fewer than the 8 independent FMA chains that keep both FMA units busy (rows of 7 outputs,
    ResNet's last stage) and the blocks pair up, else one."""
    return 2 if tile_x * ceil_div(oc_block, lanes) < 8 and blocks % 2 == 0 else 1


def default_tile(out_w: int) -> int:
    """Output columns per register tile: the widest of 16..6 that divides ``out_w`` (no guarded
    partial tile), else 14; ``out_w`` itself when narrower than 6."""
    if out_w < 6:
        return out_w
    return next((tile for tile in range(16, 5, -1) if out_w % tile == 0), 14)


def _block_input(X, ic_block: int, padding: int):
    batch, channels, height, width = X.shape
    cb = ceil_div(channels, ic_block)

    def at(n, bc, y, x, c):
        inside = (y >= padding) & (y < height + padding) & (x >= padding) & (x < width + padding)
        if channels % ic_block:
            inside = inside & (bc * ic_block + c < channels)
        return fn.value_or_zero(inside, X[n, bc * ic_block + c, y - padding, x - padding])

    return compute((batch, cb, height + 2 * padding, width + 2 * padding, ic_block), at, name="X.blocked")


def _block_weights(W, ic_block: int, oc_block: int):
    out_channels, in_channels, kernel, _ = W.shape
    cb, kb = ceil_div(in_channels, ic_block), ceil_div(out_channels, oc_block)

    def at(bk, bc, r, s, c, k):
        value = W[bk * oc_block + k, bc * ic_block + c, r, s]
        if in_channels % ic_block or out_channels % oc_block:
            return fn.value_or_zero((bk * oc_block + k < out_channels) & (bc * ic_block + c < in_channels), value)
        return value

    return compute((kb, cb, kernel, kernel, ic_block, oc_block), at, name="W.blocked")


def _schedule_blocked(s, yb, tile_x: int, oc_tiles: int, unroll_kernel: bool, parallel: bool) -> None:
    """Register tiles of ``tile_x`` output columns x ``oc_tiles`` output-channel blocks."""
    local = s.cache_write(yb, "local")
    n, bk, y, x, k = yb.op.axis
    bo, bi = s[yb].split(bk, factor=oc_tiles)
    xo, xi = s[yb].split(x, factor=tile_x)
    s[yb].reorder(n, bo, y, xo, bi, xi, k)
    s[local].compute_at(s[yb], xo)
    _register_tile(s, local, unroll_kernel)
    s[yb].vectorize(k)
    if parallel:
        s[yb].parallel(s[yb].fuse(n, bo, y))


def _register_tile(s, tile, unroll_kernel: bool) -> None:
    """The accumulator tile ``[blocks, columns, lanes]``: the reduction outside, each step one
    broadcast input per column times one weight vector per block."""
    _, lb, _, lx, lk = s[tile].op.axis
    big_c, r, rs, c = s[tile].op.reduce_axis
    s[tile].reorder(big_c, r, rs, c, lb, lx, lk)
    if unroll_kernel:
        s[tile].unroll(r)
        s[tile].unroll(rs)
    s[tile].unroll(lb)
    s[tile].unroll(lx)
    s[tile].vectorize(lk)


def schedule_padded(sch, padded, parallel: bool) -> None:
    """The zero-padded copy of a 4-D input (``X.pad``): 16-lane rows, images and channels over
    the threads; nothing where ``padded`` is the input itself (no padding: the kernel reads X)."""
    if isinstance(padded.op, PlaceholderOp):
        return
    pn, pc, _, px = padded.op.axis
    _, lanes = sch[padded].split(px, factor=16)
    sch[padded].vectorize(lanes)
    if parallel:
        sch[padded].parallel(sch[padded].fuse(pn, pc))
