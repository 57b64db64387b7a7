"""A stride-2 3x3 convolution as a stride-1 2x2 convolution over four times the input channels,
so Winograd's F(m x m, 2x2) computes it with fewer products than the direct method.

With ``Xp`` the padded input, ``Y[y, x] = sum_{r, s < 3} Xp[2y + r, 2x + s] W[r, s]``. Writing
``r = 2 r' + py`` and ``s = 2 s' + px`` (``r', s', py, px`` in 0..1) gives::

    Y[y, x] = sum_{py, px} sum_{r', s' < 2} Xp[2(y + r') + py, 2(x + s') + px] W[2r' + py, 2s' + px]

the sum over four phase images ``Ph[py, px][i, j] = Xp[2i + py, 2j + px]`` (as channels) of a
2x2 stride-1 correlation with the phase filters ``W[2r' + py, 2s' + px]`` (zero where
``2r' + py`` or ``2s' + px`` is 3). F(7x7, 2x2) spends ``4 * 64 / 49 = 5.2`` products per output
and input channel where the direct method spends 9; F(4x4, 2x2) ``4 * 25 / 16 = 6.25``.

Both stages are views (index expressions inlined into the Winograd transforms): the phase
channel ``q = phase * C/ib + C`` of block-channel ``C`` and ``phase = 2 py + px``.
"""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.tensor import compute


def phase_input(P, rows: int, cols: int):
    """The four phase images of the padded blocked input ``P`` (``batch, C/ib, H, W, ib``) as
    ``batch, 4*C/ib, rows, cols, ib``; ``P`` must hold ``2*rows x 2*cols``."""
    batch, cb, _, _, ib = P.shape
    return compute((batch, 4 * cb, rows, cols, ib), lambda n, q, y, x, c: P[
        n, q % cb, 2 * y + q // cb // 2, 2 * x + q // cb % 2, c], name="X.phases")


def phase_weights(Wb):
    """The 2x2 phase filters of the blocked 3x3 weights ``Wb`` (``K/ob, C/ib, 3, 3, ib, ob``) as
    ``K/ob, 4*C/ib, 2, 2, ib, ob``, zero where a tap falls past the 3x3 filter."""
    kb, cb, _, _, ib, ob = Wb.shape

    def at(bk, q, r, s, c, k):
        row, col = 2 * r + q // cb // 2, 2 * s + q // cb % 2
        return fn.value_or_zero((row < 3) & (col < 3), Wb[bk, q % cb, row, col, c, k])

    return compute((kb, 4 * cb, 2, 2, ib, ob), at, name="W.phases")
