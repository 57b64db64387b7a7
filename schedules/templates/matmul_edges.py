"""The CPU matmul at sizes its tiles do not divide: zero-padded packing instead of guards.

A guard on the last partial tile sits inside every tile's vector loop (masked loads and stores
of C, which then cannot stay in registers) and a guard on the last partial reduction chunk sits
inside the unrolled reduction. Here both operands are packed into zero-padded blocks whose
extents the tiles divide, the product is computed into a padded ``C.padded`` with no guard at
all, and its ``m x n`` corner is copied to C: two cheap copies buy the full-speed kernel at
every size (1000^3, 777x1025x513, ...). Padding with zeros adds ``0 * 0`` terms: exact.
"""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.intmath import ceil_div, round_up
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule


def overhangs(m: int, n: int, k: int, b1: int, b2: int, b3: int) -> bool:
    """Whether a cache tile or reduction chunk would overhang the matrices."""
    return bool(m % b1 or n % b2 or k % b3)


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
    if k <= b3:
        return round_up(k, v3)
    lengths = range(max(v3, round_up(b3 // 2, v3)), 2 * b3 + 1, v3)
    return min(lengths, key=lambda length: (round_up(k, length), abs(length - b3)))


def padded_matmul(m: int, n: int, k: int, *, v1: int, v2: int, v3: int, b1: int, b2: int, b3: int,
                  transpose_b: bool, dtype: str, parallel: bool, schedule_tiles, pack_panels,
                  copy_vector: int = 16):
    """``C = A @ B.T`` / ``A @ B`` through zero-padded packed operands (see the module
    docstring), the reduction in chunks of ``b3`` (:func:`reduction_chunk` chooses them);
    ``schedule_tiles(s, C.padded, v1, v2, v3, b1, b2, b3, parallel)`` schedules the product as the
    unpadded template does and returns its parallel loop over column tiles (or None), where
    ``pack_panels`` puts the packing of B. The nest::

        A.packed[i / v1, k, i % v1] = A[i, k] or 0         # rows to round_up(m, b1), k to round_up(k, b3)
                                                           # (where either overhangs; else A as stored)
        B.packed[j / v2, k, j % v2] = B[.., ..] or 0        # columns to round_up(n, b2)
        C.padded = A.packed @ B.packed                     # the unguarded tiled kernel
        C[i, j] = C.padded[i, j]                            # the m x n corner
    """
    mp, np_, kp = round_up(m, b1), round_up(n, b2), round_up(k, b3)
    A = placeholder((m, k), dtype, name="A")
    B = placeholder((n, k) if transpose_b else (k, n), dtype, name="B")

    def b_at(j, kk):
        return B[j, kk] if transpose_b else B[kk, j]

    if (mp, kp) == (m, k):  # only the columns overhang: A is read as stored
        packed_a, a_at = None, A.__getitem__
    else:
        packed_a = compute((mp // v1, kp, v1), lambda io, kk, ii: _zero_past(
            (io * v1 + ii, kk), (m, k), (mp, kp), lambda row, col: A[row, col]), name="A.packed")
        a_at = lambda index: packed_a[index[0] // v1, index[1], index[0] % v1]  # noqa: E731
    packed_b = compute((np_ // v2, kp, v2), lambda jo, kk, ji: _zero_past(
        (jo * v2 + ji, kk), (n, k), (np_, kp), b_at), name="B.packed")
    r = reduce_axis(kp, "k")
    padded = compute((mp, np_), lambda i, j: fn.sum(
        a_at((i, r)) * packed_b[j // v2, r, j % v2], axis=r), name="C.padded")
    C = compute((m, n), lambda i, j: padded[i, j], name="C")
    s = create_schedule(C)
    panel_loop = schedule_tiles(s, padded, v1, v2, v3, b1, b2, b3, parallel)
    pack_panels(s, packed_b, padded, panel_loop, parallel)
    if packed_a is not None:
        outer, _, inner = packed_a.op.axis
        s[packed_a].vectorize(inner)
        if parallel:
            s[packed_a].parallel(outer)
    i, j = C.op.axis
    _, lanes = s[C].split(j, factor=copy_vector)
    s[C].vectorize(lanes)
    if parallel:
        s[C].parallel(i)
    return s, [A, B, C]


def _zero_past(index: tuple, extent: tuple, padded: tuple, read):
    """``read(*index)`` where every index is inside ``extent``, else zero; no guard on an axis
    whose ``padded`` extent is the real one."""
    inside = None
    for value, limit, padded_limit in zip(index, extent, padded):
        if limit < padded_limit:
            term = value < limit
            inside = term if inside is None else inside & term
    return read(*index) if inside is None else fn.if_then_else(inside, read(*index), 0.0)
