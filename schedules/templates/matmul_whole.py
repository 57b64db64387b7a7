"""The whole-reduction CPU matmul (``matmul_cpu(b3=None)``, the frontend's form) at column
counts its register tile does not divide: a register tile of zero-padded columns.

The plain ``b3=None`` nest accumulates each ``v1 x v2`` tile of C in an explicit ``C.local``
(``cache_write``), whose bounds follow C's: where ``v2`` does not divide the columns, every
tile's reduction carried the guard ``j < n`` inside its vector loop (128x784 @ 784x1000 through
the frontend on one thread: 0.87 of numpy, against 1.01 at 1024 columns). Here B is packed into
whole zero-padded ``v2``-wide strips, and the register tile is a stage of its own over the
padded columns, ``C.local[i, j]`` for ``j < round_up(n, b2)``: each tile computes its whole
``v2`` columns (the padding adds ``0 * B`` terms only to columns never written back) and only
the copy to C, once per tile, is guarded. The rows are as in the plain nest (a symbolic M: whole
row tiles, then the last partial one, its rows guarded outside the vector loop)::

    B.packed[j / v2, k, j % v2] = B[k, j] or 0              # whole v2-wide strips, zero past n
    parallel for i.outer in 0..ceil(m/b1):                   # cache tile rows
      for j.outer in 0..ceil(n/b2):                          # cache tile columns
        for i.inner.outer, j.inner.outer:                    # register tiles
          C.local[v1, v2] = 0
          for k.outer in 0..k/v3:
            unrolled for k.inner, i: vectorized for j:        # no guard
              C.local[i, j] += A[i, k] * B.packed[.., k, j]
          for i: vectorized for j: if j < n: C[..] = C.local[i, j]
"""

from __future__ import annotations

from numbers import Integral

from tensorir import functions as fn
from tensorir import symbolic
from tensorir.expr import const
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule


def pads_columns(n, v2: int, b1: int, v1: int, b2: int) -> bool:
    """Whether the whole-reduction nest takes this module's padded register tile: the register
    tile ``v2`` does not divide every column count ``n`` allows, and the cache tiles are whole
    register tiles."""
    return not symbolic.divides(v2, n) and b1 % v1 == 0 and b2 % v2 == 0


def whole_k_padded(m, n, k, *, v1: int, v2: int, v3: int, b1: int, b2: int, transpose_b: bool,
                   dtype: str, parallel: bool, transpose_a: bool, stored_a, pack_panels, given_packed: bool = False):
    """``C = A @ B.T`` / ``A @ B`` with the whole reduction in a register tile of zero-padded
    columns (the module docstring); ``stored_a(A, transpose_a)`` reads the left operand and
    ``pack_panels(s, B.packed, C, None, parallel)`` schedules the packing of B (both from
    :mod:`schedules.templates.matmul_cpu`). Returns ``(schedule, [A, B, C])``; with
    ``given_packed`` the second argument is ``B.packed`` itself (:func:`packed_b`'s layout),
    packed once by the caller, and the kernel does not pack."""
    b2, columns = padded_columns(n, v2, b2)
    A = placeholder((k, m) if transpose_a else (m, k), dtype, name="A")
    a_at = stored_a(A, transpose_a)
    if given_packed:  # B packed once by its caller (schedules.templates.matmul_prepacked)
        packed = placeholder((symbolic.ceil_div(columns, v2), k, v2), dtype, name="B.packed")
    else:
        B = placeholder((n, k) if transpose_b else (k, n), dtype, name="B")
        packed = packed_b(B, n, k, v2, columns, transpose_b)
    r = reduce_axis(k, "k")
    tile = compute((m, columns), lambda i, j: fn.sum(a_at((i, r)) * packed[j // v2, r, j % v2], axis=r),
                   name="C.local")
    C = compute((m, n), lambda i, j: tile[i, j], name="C")
    s = create_schedule(C)
    _schedule(s, C, tile, v1, v2, v3, b1, b2, parallel)
    if given_packed:
        return s, [A, packed, C]
    pack_panels(s, packed, C, None, parallel)
    return s, [A, B, C]


def padded_columns(n, v2: int, b2: int):
    """``(b2, columns)``: the cache tile of columns the padded nest uses (for a static ``n``
    the multiple of ``v2`` that pads it least: 1000 -> 128, 300 -> 160) and the columns it
    computes, whole cache tiles, so that every register tile lies in ``C.local``."""
    from .matmul_edges import cache_tile, padded_extent

    if isinstance(n, Integral):
        b2 = cache_tile(int(n), b2, v2)
    return b2, padded_extent(n, b2)


def packed_b(B, n, k, v2: int, columns, transpose_b: bool):
    """``B.packed[j / v2, k, j % v2] = B[k, j]`` (``B[j, k]`` where ``transpose_b``) for the
    ``columns`` the nest computes, zero past ``n``: whole ``v2``-wide strips."""

    def b_at(j, kk):
        return B[j, kk] if transpose_b else B[kk, j]

    zero = const(0, B.dtype)  # of B's type: a float 0.0 made an integer product's C float
    return compute((symbolic.ceil_div(columns, v2), k, v2), lambda jo, kk, ji: fn.if_then_else(
        jo * v2 + ji < n, b_at(jo * v2 + ji, kk), zero), name="B.packed")


def _schedule(s, C, tile, v1: int, v2: int, v3: int, b1: int, b2: int, parallel: bool) -> None:
    """C in ``b1 x b2`` cache tiles of ``v1 x v2`` register tiles, each computed in ``C.local``
    (local scope, the reduction ``v3`` steps unrolled at a time) and copied to C vectorized."""
    from .matmul_cpu import tile_with_local

    s[tile].set_scope("local")
    tile_with_local(s, C, tile, v1, v2, v3, b1, b2, parallel)
