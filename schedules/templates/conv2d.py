"""Direct 2-D convolution (NCHW input, KCRS weights) with register tiles: each tile keeps
``tile_k`` output channels x ``tile_y`` rows x ``tile_x`` columns of the output in registers
while it runs over all input channels and kernel taps."""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule
from .tuned import tunable


@tunable("conv2d_cpu", "llvm", 6, knobs=("tile_k", "tile_y", "tile_x", "input_cache", "cache_input"),
         options=("stride", "padding", "parallel"))
def conv2d_cpu(batch: int, in_channels: int, height: int, width: int, out_channels: int,
               kernel: int = 3, *, stride: int = 1, padding: int = 1, tile_k: int = 8, tile_y: int = 2,
               tile_x: int = 16, input_cache: str = "root", cache_input: bool | None = None,
               dtype: str = "float32", parallel: bool = True):
    """``Y[n, k, y, x] = sum(X[n, c, y*stride + r - p, x*stride + q - p] * W[k, c, r, q])``. The nest::

        X.pad = X with a zero border                      # input_cache="root": once, in parallel
        parallel for n.k.outer in 0..batch*ceil(K/tile_k):
          for y.outer in ..: for x.outer in ..:
            Y.local[tile_k, tile_y, tile_x] = 0           # registers
            for c, r, q:
              unrolled for k, y: vectorized for x in 0..tile_x:
                Y.local[k, y, x] += X.pad[n, c, .., ..] * W[k.outer*tile_k + k, c, r, q]
            Y[..] = Y.local

    ``input_cache="tile"`` instead copies, inside each (y, x) tile, exactly the input patch the
    tile reads (``(tile_y-1)*stride + kernel`` rows by ``(tile_x-1)*stride + kernel`` columns);
    ``"inline"`` reads the input through the padding expression. ``cache_input`` (True/False)
    is the older spelling of ``"tile"``/``"inline"``.
    """
    if cache_input is not None:
        input_cache = "tile" if cache_input else "inline"
    if input_cache not in ("root", "tile", "inline"):
        raise ValueError(f"conv2d_cpu: input_cache must be 'root', 'tile' or 'inline', got {input_cache!r}")
    X = placeholder((batch, in_channels, height, width), dtype, name="X")
    W = placeholder((out_channels, in_channels, kernel, kernel), dtype, name="W")
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    padded = compute(
        (batch, in_channels, height + 2 * padding, width + 2 * padding),
        lambda n, c, y, x: fn.if_then_else(
            (y >= padding) & (y < height + padding) & (x >= padding) & (x < width + padding),
            X[n, c, y - padding, x - padding], 0.0),
        name="X.pad")
    c = reduce_axis(in_channels, "c")
    r = reduce_axis(kernel, "r")
    q = reduce_axis(kernel, "q")
    Y = compute((batch, out_channels, out_h, out_w), lambda n, k, y, x: fn.sum(
        padded[n, c, y * stride + r, x * stride + q] * W[k, c, r, q], axis=[c, r, q]), name="Y")
    s = create_schedule(Y)
    local = s.cache_write(Y, "local")
    n, k, y, x = Y.op.axis
    ko, ki = s[Y].split(k, factor=tile_k)
    yo, yi = s[Y].split(y, factor=tile_y)
    xo, xi = s[Y].split(x, factor=tile_x)
    s[Y].reorder(n, ko, yo, xo, ki, yi, xi)
    s[local].compute_at(s[Y], xo)
    ln, lk, ly, lx = s[local].op.axis
    lc, lr, lq = s[local].op.reduce_axis
    s[local].reorder(ln, lc, lr, lq, lk, ly, lx)
    s[local].unroll(lk)
    s[local].unroll(ly)
    s[local].vectorize(lx)
    s[Y].vectorize(xi)
    if input_cache == "tile":
        s[padded].set_scope("local")
        s[padded].compute_at(s[Y], xo)
    elif input_cache == "inline":
        s[padded].compute_inline()
    elif parallel:
        pn, pc, py, px = padded.op.axis
        s[padded].parallel(s[padded].fuse(pn, pc))
    if parallel:
        s[Y].parallel(s[Y].fuse(n, ko))
    return s, [X, W, Y]
