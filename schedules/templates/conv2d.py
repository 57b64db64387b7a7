"""Direct 2-D convolution (NCHW input, KCRS weights) tiled over the output image, with the input
patch that one output tile needs cached (padding applied while copying)."""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule


def conv2d_cpu(batch: int, in_channels: int, height: int, width: int, out_channels: int,
               kernel: int = 3, *, stride: int = 1, padding: int = 1, tile_y: int = 8,
               tile_x: int = 8, vector: int = 8, cache_input: bool = True, dtype: str = "float32",
               parallel: bool = True):
    """``Y[n, k, y, x] = sum(X[n, c, y*stride + r - p, x*stride + q - p] * W[k, c, r, q])``. The
    nest (with ``cache_input``)::

        parallel for n in 0..batch:
          for y.outer in ..: for x.outer in ..:
            allocate X.pad.local[in_channels, (tile_y-1)*stride + kernel, (tile_x-1)*stride + kernel]
            X.pad.local[..] = X (zero outside the image)       # the input patch, copied once
            for k in 0..out_channels:
              Y[..] = 0
              for c, r, q: for y.inner in 0..tile_y: vectorized for x.inner in 0..tile_x:
                Y[..] += X.pad.local[..] * W[..]
    """
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
    n, k, y, x = Y.op.axis
    yo, xo, yi, xi = s[Y].tile(y, x, tile_y, tile_x)
    s[Y].reorder(n, yo, xo, k, c, r, q, yi, xi)
    if cache_input:
        s[padded].set_scope("local")
        s[padded].compute_at(s[Y], xo)
    else:
        s[padded].compute_inline()
    if tile_x % vector == 0:
        s[Y].vectorize(xi)
    if parallel:
        s[Y].parallel(n)
    return s, [X, W, Y]
