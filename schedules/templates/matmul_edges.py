"""The CPU matmul at sizes its tiles do not divide: zero-padded packing instead of guards.

A guard on the last partial tile sits inside every tile's vector loop (masked loads and stores
of C, which then cannot stay in registers) and a guard on the last partial reduction chunk sits
inside the unrolled reduction. Here both operands are packed into zero-padded blocks whose
extents the tiles divide, the product is computed into a padded ``C.padded`` with no guard at
all, and its ``m x n`` corner is copied to C: two cheap copies buy the full-speed kernel at
every size (1000^3, 777x1025x513, ...). Padding with zeros adds ``0 * 0`` terms: exact.

Symbolic columns are padded the same way (:func:`padded_extent`: ``ceil(N / b2) * b2``), a
symbolic reduction runs in whole steps then its last partial one, and symbolic rows in whole
tiles then a tail tile whose rows are guarded (:func:`padded_rows`), so a kernel built once
for every size keeps the unguarded register tile: built for a symbolic M at 1000^3 the guarded
nest ran at 0.15 of the static build (``j < 1000`` in its vector loop).
"""

from __future__ import annotations

from numbers import Integral

from tensorir import functions as fn
from tensorir import symbolic
from tensorir.intmath import ceil_div, round_up
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule
from .matmul_threads import rows_outermost


def overhangs(m, n, k, b1: int, b2: int, b3: int) -> bool:
    """Whether a cache tile or reduction chunk would overhang the matrices (a symbolic size: at
    some value it allows, a multiple of its ``size_var`` divisor or an ``ns.assume`` aside)."""
    return not all(symbolic.divides(tile, extent) for extent, tile in ((m, b1), (n, b2), (k, b3)))


def padded_rows(m, b1: int):
    """The rows the padded product computes: ``m`` padded to whole cache tiles where it is an
    int; a symbolic ``m`` as it is, so the lowering peels its last partial row tile off as a
    loop tail whose rows are guarded, one by one outside the vector loop. Padded, that tile
    computed all ``b1`` rows: a symbolic M at 1 x 1000 x 1000 ran at 0.63 of the static build
    (8 rows for 1), guarded 1.08; at M = 9 1.46; at M = 7 0.85 (7 guarded rows cost about
    as 8 padded ones), and one tile in ``ceil(M / b1)`` beyond that."""
    return padded_extent(m, b1) if isinstance(m, Integral) else m


def padded_extent(extent, tile: int):
    """``extent`` rounded up to a multiple of ``tile``: an int for an int; ``extent`` itself
    where ``tile`` divides every value it allows; else the expression ``ceil(extent / tile) *
    tile``, whose tiles the nest covers exactly."""
    if isinstance(extent, Integral):
        return round_up(int(extent), tile)
    if symbolic.divides(tile, extent):
        return extent
    return symbolic.mul(symbolic.ceil_div(extent, tile), tile)


def whole_steps(k, v1: int, v2: int, b1: int, b2: int) -> bool:
    """Whether the reduction runs in steps over ``k`` exactly, unpadded and unchunked: a
    symbolic ``k`` in cache tiles that are the register tile (the last partial step is a loop
    tail of its own; padding k would copy A, a pass over it: 4096x64x1024 with K symbolic ran
    at 0.64 of the static build so, on one thread)."""
    return not isinstance(k, Integral) and b1 == v1 and b2 == v2


def balanced_chunk(k: int, b3: int, v3: int) -> int:
    """A reduction chunk near ``b3`` (a multiple of ``v3``) that wastes less padding: as many
    chunks as ``b3`` needs, each as short as they allow (k=513, b3=64: 60, padding to 540, not 576)."""
    chunks = ceil_div(k, b3)
    return round_up(ceil_div(k, chunks), v3)


def reduction_chunk(k: int, b3: int, v3: int) -> int:
    """The reduction chunk the template uses: a multiple of ``v3`` between ``b3 / 2`` and
    ``2 * b3`` whose chunks pad ``k`` the least, the one nearest ``b3`` among those (``b3`` itself
    where it divides ``k``). k=513, b3=64: 52 (ten chunks, 520: 1.4% padding; :func:`balanced_chunk`
    pads to 540, 5.3%); k=1000: 40 (no padding at all; 1024 with 64)."""
    if not isinstance(k, Integral):
        return b3  # a symbolic reduction: its chunks cannot be fitted to a length not yet known
    if k <= b3:
        return round_up(k, v3)
    lengths = range(max(v3, round_up(b3 // 2, v3)), 2 * b3 + 1, v3)
    return min(lengths, key=lambda length: (round_up(k, length), abs(length - b3)))


def cache_tile(extent: int, tile: int, step: int) -> int:
    """The cache tile the padded product uses along an axis of ``extent``: as
    :func:`reduction_chunk`, a multiple of the register tile ``step`` that pads ``extent`` the
    least (``tile`` itself where it divides ``extent``). A cache tile is computed whole, so the
    last one of ``tile`` rows would compute up to ``tile - 1`` rows of padding: 784 rows in
    tiles of 64 computed 832 (6% more work), in tiles of 56 none; 257 columns in tiles of 128
    (registers 32 wide) computed 384 (1.5x), in tiles of 96 only the register tile's 288."""
    return reduction_chunk(extent, tile, step)


def padded_matmul(m: int, n: int, k: int, *, v1: int, v2: int, v3: int, b1: int, b2: int, b3: int,
                  transpose_b: bool, dtype: str, parallel: bool, schedule_tiles, pack_panels,
                  copy_vector: int = 16, transpose_a: bool = False):
    """``C = A @ B.T`` / ``A @ B`` through zero-padded packed operands (see the module
    docstring), the reduction in chunks of ``b3`` (:func:`reduction_chunk` chooses them);
    ``schedule_tiles(s, C.padded, v1, v2, v3, b1, b2, b3, False)`` schedules each tile of the
    product as the unpadded template does, ``pack_panels(s, B.packed, C, loop, parallel)`` puts
    the packing of B (in the parallel loop over column tiles where there is one). The nest::

        A.packed[i / v1, k, i % v1] = A[i, k] or 0         # rows to round_up(m, b1), k to round_up(k, b3)
                                                           # (where k overhangs; else A as stored, its
                                                           # rows past m clamped to m - 1)
        parallel for j.outer:                              # C's column tiles
          B.packed[1, k, v2] = B[.., ..] or 0               # this tile's panel, zero past n
          for i.outer:                                     # C's row tiles
            C.padded[b1, b2] = A.packed @ B.packed         # the unguarded tiled kernel
            C[tile] = C.padded[..]                         # the part inside m x n, from L1
    """
    kp = k if whole_steps(k, v1, v2, b1, b2) else padded_extent(k, b3 if isinstance(k, Integral) else v3)
    mp, np_ = padded_rows(m, b1), padded_extent(n, b2)
    A = placeholder((k, m) if transpose_a else (m, k), dtype, name="A")
    read_a = (lambda row, col: A[col, row]) if transpose_a else (lambda row, col: A[row, col])
    B = placeholder((n, k) if transpose_b else (k, n), dtype, name="B")

    def b_at(j, kk):
        return B[j, kk] if transpose_b else B[kk, j]

    if _same(kp, k):  # the chunks divide the reduction: A is read as stored
        packed_a, a_at = None, _rows_of(read_a, m, mp)
    else:
        rows = padded_extent(mp, v1)  # whole register tiles of rows (mp itself where it is padded)
        packed_a = compute((symbolic.ceil_div(rows, v1), kp, v1), lambda io, kk, ii: _zero_past(
            (io * v1 + ii, kk), (m, k), (rows, kp), read_a), name="A.packed")
        a_at = lambda index: packed_a[index[0] // v1, index[1], index[0] % v1]  # noqa: E731
    packed_b = compute((np_ // v2, kp, v2), lambda jo, kk, ji: _zero_past(
        (jo * v2 + ji, kk), (n, k), (np_, kp), b_at), name="B.packed")
    r = reduce_axis(kp, "k")
    padded = compute((mp, np_), lambda i, j: fn.sum(
        a_at((i, r)) * packed_b[j // v2, r, j % v2], axis=r), name="C.padded")
    C = compute((m, n), lambda i, j: padded[i, j], name="C")
    s = create_schedule(C)
    schedule_tiles(s, padded, v1, v2, v3, b1, b2, b3, False)  # its tile loops: one tile of C each
    rows_first = rows_outermost(m, n, k, b1, b2)
    threaded = _write_back(s, C, padded, b1, b2, copy_vector, parallel, rows_first)
    pack_panels(s, packed_b, C, None if rows_first else threaded, parallel)
    if packed_a is not None:
        outer, _, inner = packed_a.op.axis
        s[packed_a].vectorize(inner)
        if threaded is not None and rows_first:  # each thread packs the rows it computes
            s[packed_a].compute_at(s[C], threaded)
        elif parallel:
            s[packed_a].parallel(outer)
    return s, [A, B, C]


def _same(padded_extent, extent) -> bool:
    """Whether :func:`padded_extent` left ``extent`` as it is (an int equal to it, or the expression itself)."""
    if isinstance(padded_extent, Integral) and isinstance(extent, Integral):
        return int(padded_extent) == int(extent)
    return padded_extent is extent


def _rows_of(read_a, m: int, mp: int):
    """``A[i, k]`` (``read_a(i, k)``) for the padded product's rows ``i < mp``: the rows past
    ``m`` read row ``m - 1`` again (the clamp is a row index, hoisted out of the reduction), and
    the padded product's rows they compute are never written back."""
    if _same(mp, m):
        return lambda index: read_a(*index)
    return lambda index: read_a(fn.minimum(index[0], m - 1), index[1])


def _write_back(s, C, padded, b1: int, b2: int, vector: int, parallel: bool, rows_first: bool):
    """Tile ``C`` as the product (``b1 x b2``, columns outermost unless ``rows_first``), compute
    each tile of ``C.padded`` in its tile of ``C`` and copy the tile's ``m x n`` part while it
    is in the L1 cache: the copy needs no parallel region nor pass over memory of its own.
    Returns the parallel loop (over column tiles, or over row tiles with ``rows_first``), or
    None without ``parallel``."""
    i, j = C.op.axis
    io, jo, ii, ji = s[C].tile(i, j, b1, b2)
    s[C].reorder(*((io, jo) if rows_first else (jo, io)), ii, ji)
    s[padded].compute_at(s[C], jo if rows_first else io)
    if b2 >= vector and b2 % vector == 0:
        _, lanes = s[C].split(ji, factor=vector)
        s[C].vectorize(lanes)
    if not parallel:
        return None
    s[C].parallel(io if rows_first else jo)
    return io if rows_first else jo


def _zero_past(index: tuple, extent: tuple, padded: tuple, read):
    """``read(*index)`` where every index is inside ``extent``, else zero; no guard on an axis
    whose ``padded`` extent is the real one."""
    inside = None
    for value, limit, padded_limit in zip(index, extent, padded):
        if not _same(padded_limit, limit):
            term = value < limit
            inside = term if inside is None else inside & term
    return read(*index) if inside is None else fn.value_or_zero(inside, read(*index))
