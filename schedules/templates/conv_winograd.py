"""Winograd convolution F(2x2, 3x3) and F(4x4, 3x3) for 3x3 stride-1 kernels, written as index
expressions plus a schedule: each ``m x m`` output tile from an ``(m+2) x (m+2)`` input tile,
``(m+2)^2`` products per channel pair instead of ``9 m^2``. The channels are blocked
(``NCHW[x]c``, as :mod:`schedules.templates.conv_nchwc`), so every transform is vectorized over a
block of channels; the transforms are one-dimensional passes (:mod:`.winograd_transforms`)
unrolled over the tile, constant multiples with the zero terms dropped.

The stages (``a = m + 2``; ``P`` the padded, blocked input; ``Wb`` the blocked weights)::

    U[e, f, C, c, k]  = sum_q (sum_r G[e, r] Wb[k/ob, C, r, q, c, k%ob]) G[f, q]    # weights
    V[e, f, t, C, c]  = sum_b B[b, f] (sum_a B[a, e] P[n, C, m*ty + a, m*tx + b, c])  # input tiles
    M[e, f, t, k]     = sum_{C, c} V[e, f, t, C, c] * U[e, f, C, c, k]             # a^2 matrix products
    Y[n, K, y, x, k]  = sum_i A[i, y%m] (sum_j M[i, j, t(n, y/m, x/m), K*ob + k] A[j, x%m])

``M`` is scheduled as the CPU matmul is: ``rows`` tiles x ``lanes`` output channels in registers
(broadcast ``V``, vector ``U``). The inner one-dimensional passes are local stages computed per
tile and channel block. ``layout="NCHW"`` takes NCHW ``X`` and KCRS ``W`` and returns NCHW ``Y``
(blocking and unblocking stages around the kernel); ``layout="NCHWc"`` takes and returns the
blocked arrays of :func:`schedules.templates.conv2d_nchwc` (``X`` padded).
"""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.intmath import ceil_div
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule
from .winograd_phases import phase_input, phase_weights
from .winograd_transforms import F2, row_transform
from .winograd_weights import (
    WEIGHTS,
    pack_weights,
    schedule_weights,
    tile_choices,
    transform_weights,
    variant,
    weight_shape,
)

#: F(2x2, 3x3): Y = A^T [(G g G^T) * (B^T d B)] A
B_T, G, A_T = F2.B_T, F2.G, F2.A_T
LAYOUTS = ("NCHW", "NCHWc")


def constant(matrix: tuple, row, col):
    """``matrix[row][col]`` as an expression of the index expressions ``row`` and ``col``."""
    value = 0.0
    for i, line in enumerate(matrix):
        for j, entry in enumerate(line):
            if entry:
                value = fn.if_then_else((row == i) & (col == j), float(entry), value)
    return value


def transformed(left: tuple, right: tuple, row, col, value):
    """``(left @ D @ right.T)[row, col]`` for ``D[i, j] = value(i, j)``, as the row transform of
    the column transforms (each entry only its nonzero terms)."""
    return row_transform(left, row, lambda i: row_transform(right, col, lambda j: value(i, j)))


def _check(tile, rows, lanes, group, layout, out_h, out_w, height, width, padding, weights="raw", stride=1):
    if weights not in WEIGHTS:
        raise DefinitionError(f"conv2d_winograd: weights must be 'raw' (KCRS or blocked 3x3 weights) or "
                              f"'transformed' (conv2d_winograd_weights' output), got {weights!r}")
    if variant(tile, stride) is None and stride == 1:
        raise DefinitionError(f"conv2d_winograd: tile must be 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)), got {tile!r}")
    if variant(tile, stride) is None:
        raise DefinitionError(f"conv2d_winograd: {tile_choices(stride, 'conv2d_winograd')}, got tile {tile!r} "
                              f"with stride {stride!r}")
    for knob, value in (("rows", 1 if rows is None else rows), ("lanes", lanes),
                         ("group", 1 if group is None else group)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DefinitionError(f"conv2d_winograd: {knob} must be a positive integer, got {value!r}")
    if layout not in LAYOUTS:
        raise DefinitionError(f"conv2d_winograd: layout must be 'NCHW' or 'NCHWc', got {layout!r}")
    if out_h < 1 or out_w < 1:
        raise DefinitionError(f"conv2d_winograd: a {height}x{width} input with padding {padding} has no 3x3 "
                              f"output; pad it more")


def conv2d_winograd(batch: int, in_channels: int, height: int, width: int, out_channels: int, *,
                    padding: int = 1, tile: int = 2, rows: int | None = None, lanes: int = 16,
                    group: int | None = None, fused: bool | None = None, layout: str = "NCHW",
                    weights: str = "raw", stride: int = 1, dtype: str = "float32", parallel: bool = True):
    """A 3x3 stride-1 convolution by Winograd's ``F(tile x tile, 3x3)``; see the module docstring.

    Parameters
    ----------
    tile
        Output tile side: 2 (F(2x2,3x3), 16 products per tile) or 4 (F(4x4,3x3), 36 products per
        tile; about 10x the rounding error of F(2x2,3x3) in float32).
    rows, lanes
        The register tile of the matrix products: ``rows`` tiles (by default
        :func:`default_rows`) x ``lanes`` output channels.
    group
        Rows of tiles transformed, multiplied and transformed back together (the parallel
        unit); by default :func:`default_group`.
    fused
        Whether the stages run per group of tile rows (True) or each over all tiles (False); by
        default :func:`default_fused`.
    layout
        ``"NCHW"`` arrays, or ``"NCHWc"``: blocked arrays (``X`` of shape
        ``(batch, C/ib, height + 2*padding, width + 2*padding, ib)``, ``W`` of shape
        ``(K/16, C/ib, 3, 3, ib, 16)``, ``Y`` of shape ``(batch, K/16, out_h, out_w, 16)``,
        ``ib = min(16, in_channels)``), as :func:`schedules.templates.conv2d_nchwc` takes them.
    weights
        ``"raw"``: ``W`` holds the 3x3 weights (KCRS or blocked, as ``layout``), transformed on
        every call; ``"transformed"``: ``W`` holds them transformed once by
        :func:`schedules.templates.winograd_weights.conv2d_winograd_weights` (shape
        :func:`schedules.templates.winograd_weights.weight_shape`), so a call does no weight work.
    """
    out_h, out_w = (height + 2 * padding - 3) // stride + 1, (width + 2 * padding - 3) // stride + 1
    _check(tile, rows, lanes, group, layout, out_h, out_w, height, width, padding, weights, stride)
    wino = variant(tile, stride)
    ob, kb = 16, ceil_div(out_channels, 16)
    tiles_y, tiles_x = ceil_div(out_h, tile), ceil_div(out_w, tile)
    X, W, P, Wb = _operands(batch, in_channels, height, width, out_channels, padding, tile, layout, weights, dtype,
                            stride)
    views = _phases(P, Wb, tiles_y * tile + 1, tiles_x * tile + 1, weights) if stride == 2 else (P, Wb)
    stages = _define(wino, *views, batch, tiles_y, tiles_x, out_h, out_w, kb, ob)
    channels = views[0].shape[1] * views[0].shape[4]
    Yb = stages["Y.blocked"]
    Y = Yb if layout == "NCHWc" else compute(
        (batch, out_channels, out_h, out_w), lambda n, k, y, x: Yb[n, k // ob, y, x, k % ob], name="Y")
    s = create_schedule(Y)
    group = default_group(tiles_y, tiles_x) if group is None else group
    fused = default_fused(wino, batch * tiles_y * tiles_x, channels, out_channels=kb * ob) if fused is None else fused
    rows = (default_rows(group * tiles_x) if fused else 8) if rows is None else rows
    _schedule(s, wino, stages, rows, lanes, group, fused, parallel)
    if layout == "NCHW":
        _schedule_layout(s, P, Wb if Wb is not W else None, Y, parallel)
    elif P is not X:
        s[P].compute_inline()
    for view, base in zip(views, (P, Wb)):
        if view is not base:
            s[view].compute_inline()
    return s, [X, W, Y]


def _phases(P, Wb, rows: int, cols: int, weights: str) -> tuple:
    """The stride-2 convolution's phase input and (raw) phase weights
    (:mod:`.winograd_phases`)."""
    return phase_input(P, rows, cols), Wb if weights == "transformed" else phase_weights(Wb)


def _operands(batch, in_channels, height, width, out_channels, padding, tile, layout, weights, dtype, stride=1):
    """The arguments ``X`` and ``W``, the padded blocked input ``P`` whole tiles read, and the
    blocked weights (``W`` itself when blocked or transformed)."""
    ib, ob = min(16, in_channels), 16
    cb, kb = ceil_div(in_channels, ib), ceil_div(out_channels, ob)
    rows, cols = ((ceil_div((extent + 2 * padding - 3) // stride + 1, tile) * tile + 1) * stride + 2 - stride
                  for extent in (height, width))
    if weights == "transformed":
        W = Wb = placeholder(weight_shape(in_channels, out_channels, tile, stride), dtype, name="W")
    elif layout == "NCHW":
        W = placeholder((out_channels, in_channels, 3, 3), dtype, name="W")
        Wb = pack_weights(W, ib, ob)
    else:
        W = Wb = placeholder((kb, cb, 3, 3, ib, ob), dtype, name="W")
    if layout == "NCHW":
        X = placeholder((batch, in_channels, height, width), dtype, name="X")
        return X, W, _pack_input(X, ib, padding, rows, cols), Wb
    X = placeholder((batch, cb, height + 2 * padding, width + 2 * padding, ib), dtype, name="X")
    return X, W, _grown_input(X, rows, cols), Wb


def default_group(tiles_y: int, tiles_x: int, least: int = 12) -> int:
    """Rows of tiles per group: the fewest that divide ``tiles_y`` and hold at least ``least``
    tiles (enough for the register tiles of the products), else all of them."""
    return next((g for g in range(1, tiles_y + 1) if tiles_y % g == 0 and g * tiles_x >= least), tiles_y)


def default_fused(wino, tiles: int, channels: int, budget: int = 6 << 20, out_channels: int = 0,
                  weights_budget: int = 4 << 20) -> bool:
    """Run the stages per group of tile rows where the transformed input of all tiles would
    exceed ``budget`` bytes (large images: it would not stay in cache between the stages); where
    it fits, each stage over all tiles, so each transformed weight matrix is read once (small
    images with many channels, where those matrices are the larger operand). Nor per group
    where the transformed weights (``out_channels`` given) exceed ``weights_budget`` bytes: each
    group would read them again from memory (ResNet-18's 128 -> 256 stride-2 layer by phases:
    13 MiB of them for each of 8 groups)."""
    weights = wino.alpha**2 * channels * out_channels * 4
    return wino.alpha**2 * tiles * channels * 4 > budget and weights <= weights_budget


def default_rows(tiles: int) -> int:
    """Tiles per register tile of the products: the largest of 8..4 that divides the ``tiles``
    of a group (no guarded partial tile), else 6."""
    return next((rows for rows in range(8, 3, -1) if tiles % rows == 0), 6)


def _pack_input(X, ib: int, padding: int, rows: int, cols: int):
    """``X`` zero-padded to ``rows x cols`` (whole tiles) and blocked ``NCHW[ib]c``."""
    batch, channels, height, width = X.shape

    def at(n, bc, y, x, c):
        inside = (y >= padding) & (y < height + padding) & (x >= padding) & (x < width + padding)
        if channels % ib:
            inside = inside & (bc * ib + c < channels)
        return fn.value_or_zero(inside, X[n, bc * ib + c, y - padding, x - padding])

    return compute((batch, ceil_div(channels, ib), rows, cols, ib), at, name="X.blocked")


def _grown_input(X, rows: int, cols: int):
    """Blocked, padded ``X`` itself when whole tiles fit in it, else with zero rows and columns
    after it (inlined: a guard on the tiles that reach past it)."""
    batch, cb, height, width, ib = X.shape
    if rows <= height and cols <= width:
        return X
    return compute((batch, cb, rows, cols, ib), lambda n, bc, y, x, c: fn.if_then_else(
        (y < height) & (x < width), X[n, bc, y, x, c], 0.0), name="X.grown")


def _define(wino, P, Wb, batch, tiles_y, tiles_x, out_h, out_w, kb, ob) -> dict:
    """The compute stages by name (``Ug``, ``U``, ``T``, ``V``, ``M``, ``S``, ``Y.blocked``)."""
    Ug, U = (None, Wb) if len(Wb.shape) == 5 else transform_weights(wino, Wb)  # 5 axes: U given
    T, V = input_tiles(wino, P, batch, tiles_y, tiles_x)
    M = products(V, U)
    S, Yb = output_tiles(wino, M, batch, tiles_y, tiles_x, out_h, out_w, kb, ob)
    return {"Ug": Ug, "U": U, "T": T, "V": V, "M": M, "S": S, "Y.blocked": Yb}


def input_tiles(wino, P, batch: int, tiles_y: int, tiles_x: int) -> tuple:
    """``T`` (the row pass) and ``V`` (the column pass) of the input tiles of the padded blocked
    input ``P``, ``V[e, f, tile, C, c]``."""
    a, m = wino.alpha, wino.m
    cb, ib = P.shape[1], P.shape[4]

    def tile_input(e, b, t, bc, c):
        n, ty, tx = t // (tiles_y * tiles_x), t // tiles_x % tiles_y, t % tiles_x
        return row_transform(wino.B_T, e, lambda i: P[n, bc, m * ty + i, m * tx + b, c])

    T = compute((a, a, batch * tiles_y * tiles_x, cb, ib), tile_input, name="T")
    V = compute((a, a, batch * tiles_y * tiles_x, cb, ib), lambda e, f, t, bc, c: row_transform(
        wino.B_T, f, lambda j: T[e, j, t, bc, c]), name="V")
    return T, V


def products(V, U):
    """The ``alpha^2`` matrix products ``M[e, f] = V[e, f] @ U[e, f]`` over the input channels."""
    a, _, tiles, cb, ib = V.shape
    big_c, c = reduce_axis(cb, "C"), reduce_axis(ib, "c")
    return compute((a, a, tiles, U.shape[4]), lambda e, f, t, k: fn.sum(
        V[e, f, t, big_c, c] * U[e, f, big_c, c, k], axis=[big_c, c]), name="M")


def output_tiles(wino, M, batch: int, tiles_y: int, tiles_x: int, out_h: int, out_w: int, kb: int, ob: int):
    """``S`` (the row pass) and the blocked output ``Y.blocked`` (the column pass) of ``M``."""
    a, m = wino.alpha, wino.m
    S = compute((a, m, batch * tiles_y * tiles_x, kb * ob), lambda i, q, t, k: row_transform(
        wino.A_T, q, lambda j: M[i, j, t, k]), name="S")
    Yb = compute((batch, kb, out_h, out_w, ob), lambda n, bk, y, x, k: row_transform(
        wino.A_T, y % m, lambda i: S[i, x % m, (n * tiles_y + y // m) * tiles_x + x // m, bk * ob + k]),
        name="Y.blocked")
    return S, Yb


def _schedule(s, wino, stages: dict, rows: int, lanes: int, group: int, fused: bool, parallel: bool) -> None:
    """The weights once; then, ``fused``, for each ``group`` rows of tiles (in parallel): their
    input transforms ``V``, the matrix products ``M`` and the output tiles, so ``V`` and ``M``
    stay in cache between the stages; else each stage over all tiles, the products in parallel
    over the ``(m+2)^2`` matrices (each transformed weight matrix read once)."""
    if stages["Ug"] is not None:
        schedule_weights(s, stages["Ug"], stages["U"], parallel)
    Yb, M, V, local = stages["Y.blocked"], stages["M"], stages["V"], s.cache_write(stages["M"], "local")
    n, rows_outer = schedule_output(s, wino, stages["S"], Yb, group if fused else 1)
    if fused:
        s[M].set_scope("local")
        s[M].compute_at(s[Yb], rows_outer)
    products = schedule_products(s, M, local, rows, lanes, weights_outer=not fused)
    if fused:
        s[V].set_scope("local")
        s[V].compute_at(s[Yb], rows_outer)
    tiles = schedule_tiles(s, stages["T"], V)
    if parallel:
        s[Yb].parallel(s[Yb].fuse(n, rows_outer))
        if not fused:
            s[M].parallel(s[M].fuse(*products))
            s[V].parallel(tiles)


def schedule_output(s, wino, S, Yb, group: int) -> tuple:
    """Per ``group`` rows of output tiles, per tile: ``S`` in a local tile, then ``Y.blocked``,
    both unrolled over the tile and vectorized over the output channels; the batch and the
    groups of rows (the parallel loops)."""
    n, bk, y, x, k = Yb.op.axis
    yo, yi = s[Yb].split(y, factor=wino.m)
    xo, xi = s[Yb].split(x, factor=wino.m)
    rows_outer, rows_inner = s[Yb].split(yo, factor=group)
    s[Yb].reorder(n, rows_outer, rows_inner, bk, xo, yi, xi, k)
    _unrolled_vector(s, Yb, (yi, xi), k)
    s[S].set_scope("local")
    s[S].compute_at(s[Yb], xo)
    si, sq, _, sk = S.op.axis
    _unrolled_vector(s, S, (si, sq), sk)
    return n, rows_outer


def schedule_tiles(s, T, V):
    """Per tile and channel block: the row pass ``T`` in a local tile, then the column pass
    ``V``, both vectorized over the block's channels."""
    e, f, t, bc, c = V.op.axis
    s[V].reorder(t, bc, e, f, c)
    _unrolled_vector(s, V, (e, f), c)
    s[T].set_scope("local")
    s[T].compute_at(s[V], bc)
    te, tb, _, _, tc = T.op.axis
    _unrolled_vector(s, T, (te, tb), tc)
    return t


def schedule_products(s, M, local, rows: int, lanes: int, weights_outer: bool = False) -> tuple:
    """``rows`` tiles x ``lanes`` output channels accumulated in registers; the loops over the
    matrices and the blocks of rows (``weights_outer``: of columns) they run in parallel over.
    With ``weights_outer`` each column panel of ``U`` stays in cache for all the row blocks."""
    me, mf, mt, mk = M.op.axis
    to, ti = s[M].split(mt, factor=rows)
    ko, ki = s[M].split(mk, factor=lanes)
    s[M].reorder(me, mf, *((ko, to) if weights_outer else (to, ko)), ti, ki)
    s[local].compute_at(s[M], to if weights_outer else ko)
    _, _, lt, lk = s[local].op.axis
    big_c, lc = s[local].op.reduce_axis
    s[local].reorder(big_c, lc, lt, lk)
    _unrolled_vector(s, local, (lt,), lk)
    s[M].vectorize(ki)
    return me, mf, ko if weights_outer else to


def _schedule_layout(s, P, Wb, Y, parallel: bool) -> None:
    """The blocking of ``X`` and ``W`` and the unblocking of ``Y`` (layout ``NCHW``)."""
    for stage in (P, Wb) if Wb is not None else (P,):
        axes = stage.op.axis
        s[stage].vectorize(axes[-1])
        if parallel:
            s[stage].parallel(s[stage].fuse(axes[0], axes[1]))
    n, k, _, x = Y.op.axis
    _, lanes = s[Y].split(x, factor=16)  # contiguous stores; the loads step over the channel blocks
    s[Y].vectorize(lanes)
    if parallel:
        s[Y].parallel(s[Y].fuse(n, k))


def _unrolled_vector(s, tensor, unrolled, vector) -> None:
    for axis in unrolled:
        s[tensor].unroll(axis)
    s[tensor].vectorize(vector)
