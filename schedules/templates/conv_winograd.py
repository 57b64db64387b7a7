"""Winograd F(2x2, 3x3) convolution for 3x3 stride-1 kernels, written as index expressions: each
output 2x2 tile from a 4x4 input tile with 16 products per channel instead of 36.

The four stages (``B``, ``G``, ``A`` the constant transform matrices of F(2, 3))::

    U[e, f, c, k] = sum(G[e, r] * W[k, c, r, q] * G[f, q])                 # weights, once
    V[e, f, t, c] = sum(B[a, e] * X.pad[n, c, 2*ty + a, 2*tx + b] * B[b, f])  # input tiles
    M[e, f, t, k] = sum(V[e, f, t, c] * U[e, f, c, k], c)                # 16 matrix products
    Y[n, k, y, x] = sum(A[e, y % 2] * M[e, f, t(n, y/2, x/2), k] * A[f, x % 2])

``M`` is scheduled as the CPU matmul is: ``rows`` tiles x ``lanes`` output channels in registers
(broadcast ``V``, vector ``U``), the 16 products in parallel. The constant matrices are
expressions of their indices (a chain of selects), folded to constants where the loops over them
are unrolled.
"""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.intmath import ceil_div
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule

#: F(2x2, 3x3): Y = A^T [(G g G^T) * (B^T d B)] A
B_T = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))
A_T = ((1, 1, 1, 0), (0, 1, -1, -1))


def constant(matrix: tuple, row, col):
    """``matrix[row][col]`` as an expression of the index expressions ``row`` and ``col``."""
    value = 0.0
    for i, line in enumerate(matrix):
        for j, entry in enumerate(line):
            if entry:
                value = fn.if_then_else((row == i) & (col == j), float(entry), value)
    return value


def transformed(left: tuple, right: tuple, row, col, value):
    """``(left @ D @ right.T)[row, col]`` for ``D[i, j] = value(i, j)``: for each constant
    ``(row, col)`` only its nonzero terms, chosen by a chain of selects that folds away where
    ``row`` and ``col`` are unrolled loops (so no multiplication by a zero is left)."""
    result = None
    for i, left_row in enumerate(left):
        for j, right_row in enumerate(right):
            terms = [(a * b, p, q) for p, a in enumerate(left_row) for q, b in enumerate(right_row) if a and b]
            entry = None
            for weight, p, q in terms:
                term = value(p, q) if weight == 1 else (-value(p, q) if weight == -1 else value(p, q) * float(weight))
                entry = term if entry is None else entry + term
            result = entry if result is None else fn.if_then_else((row == i) & (col == j), entry, result)
    return result


def conv2d_winograd(batch: int, in_channels: int, height: int, width: int, out_channels: int, *,
                    padding: int = 1, rows: int = 6, lanes: int = 16, dtype: str = "float32", parallel: bool = True):
    """NCHW ``X`` and KCRS ``W`` (3x3, stride 1) to NCHW ``Y``; see the module docstring."""
    for knob, value in (("rows", rows), ("lanes", lanes)):
        if not isinstance(value, int) or value < 1:
            raise DefinitionError(f"conv2d_winograd: {knob} must be a positive integer, got {value!r}")
    out_h, out_w = height + 2 * padding - 2, width + 2 * padding - 2
    if out_h < 1 or out_w < 1:
        raise DefinitionError(f"conv2d_winograd: a {height}x{width} input with padding {padding} has no 3x3 "
                              f"output; pad it more")
    tiles_y, tiles_x = ceil_div(out_h, 2), ceil_div(out_w, 2)
    tiles = batch * tiles_y * tiles_x
    X = placeholder((batch, in_channels, height, width), dtype, name="X")
    W = placeholder((out_channels, in_channels, 3, 3), dtype, name="W")
    padded = compute((batch, in_channels, 2 * tiles_y + 2, 2 * tiles_x + 2), lambda n, c, y, x: fn.if_then_else(
        (y >= padding) & (y < height + padding) & (x >= padding) & (x < width + padding),
        X[n, c, y - padding, x - padding], 0.0), name="X.pad")
    r, q = reduce_axis(3, "r"), reduce_axis(3, "q")
    U = compute((4, 4, in_channels, out_channels), lambda e, f, c, k: fn.sum(
        constant(G, e, r) * W[k, c, r, q] * constant(G, f, q), axis=[r, q]), name="U")
    def v_at(e, f, t, c):
        n, ty, tx = t // (tiles_y * tiles_x), t // tiles_x % tiles_y, t % tiles_x
        return transformed(B_T, B_T, e, f, lambda i, j: padded[n, c, 2 * ty + i, 2 * tx + j])

    V = compute((4, 4, tiles, in_channels), v_at, name="V")
    c = reduce_axis(in_channels, "c")
    M = compute((4, 4, tiles, out_channels), lambda e, f, t, k: fn.sum(V[e, f, t, c] * U[e, f, c, k], axis=c),
                name="M")
    Y = compute((batch, out_channels, out_h, out_w), lambda n, k, y, x: transformed(
        A_T, A_T, y % 2, x % 2, lambda i, j: M[i, j, (n * tiles_y + y // 2) * tiles_x + x // 2, k]), name="Y")
    s = create_schedule(Y)
    _schedule(s, padded, U, V, M, Y, rows, lanes, parallel)
    return s, [X, W, Y]


def _schedule(s, padded, U, V, M, Y, rows: int, lanes: int, parallel: bool) -> None:
    s[padded].compute_inline()
    for axis in U.op.reduce_axis:
        s[U].unroll(axis)
    ue, uf, uc, uk = U.op.axis
    s[U].reorder(uc, uk, ue, uf)
    s[U].unroll(ue)
    s[U].unroll(uf)
    ve, vf, vt, vc = V.op.axis
    s[V].reorder(vt, vc, ve, vf)
    s[V].unroll(ve)
    s[V].unroll(vf)
    local = s.cache_write(M, "local")
    me, mf, mt, mk = M.op.axis
    to, ti = s[M].split(mt, factor=rows)
    ko, ki = s[M].split(mk, factor=lanes)
    s[M].reorder(me, mf, to, ko, ti, ki)
    s[local].compute_at(s[M], ko)
    _, _, lt, lk = s[local].op.axis
    (lc,) = s[local].op.reduce_axis
    s[local].reorder(lc, lt, lk)
    s[local].unroll(lt)
    s[local].vectorize(lk)
    s[M].vectorize(ki)
    n, k, y, x = Y.op.axis
    yo, yi = s[Y].split(y, factor=2)
    xo, xi = s[Y].split(x, factor=2)
    s[Y].reorder(n, k, yo, xo, yi, xi)
    s[Y].unroll(yi)  # the output's place in its 2x2 tile, so the matrix A folds to constants
    s[Y].unroll(xi)
    if parallel:
        s[U].parallel(uc)
        s[V].parallel(vt)
        s[M].parallel(s[M].fuse(me, mf, to))
        s[Y].parallel(s[Y].fuse(n, k))
