"""The seed's CPU matmul: ``v1 x v2`` register tiles over ``v3``-long unrolled reduction steps,
inside ``b1 x b2`` cache tiles and ``b3``-long reduction chunks, with the right-hand matrix
packed into the tile layout."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.intmath import ceil_div
from tensorir.tensor import compute, placeholder, reduce_axis

from ..schedule import create_schedule
from .matmul_threads import SMALL_B, by_size, rows_outermost
from .tuned import tunable


@by_size("matmul_cpu", "llvm")
@tunable("matmul_cpu", "llvm", 3, knobs=("v1", "v2", "v3", "b1", "b2", "b3", "pack_b"),
         options=("transpose_b", "parallel"))
def matmul_cpu(m: int, n: int, k: int, *, v1: int = 8, v2: int = 32, v3: int = 4, b1: int = 8,
               b2: int = 32, b3: int | None = 64, transpose_b: bool = True, pack_b: bool = True,
               pack_a: bool = False, dtype: str = "float32", parallel: bool = True, edge: str = "pad",
               transpose_a: bool = False):
    """``C = A @ B.T`` (``transpose_b``, B is ``n x k``) or ``C = A @ B`` (B is ``k x n``).

    ``transpose_a``: A is stored transposed, ``k x m`` (``C = A.T @ B``, the weight gradient
    ``X^T @ dZ`` of a layer whose input ``X`` is ``k x m``): the register tile reads the ``v1``
    rows it needs at one ``k`` from one contiguous run of ``A[k, :]``, so the product reads the
    stored A as it is, with no transposed copy first (with ``pack_a`` the packing reads it).

    ``edge``: where the cache tiles or reduction chunks overhang the matrices, ``"pad"`` (the
    default, with ``b3`` and ``pack_b``) packs both operands zero-padded and computes a padded
    product without any guard (:mod:`schedules.templates.matmul_edges`), its cache tiles and
    reduction chunks resized (to multiples of the register tile) to pad the sizes least (with
    ``b3=None`` the cache tiles are resized likewise, the guards kept where the register tile
    does not divide); ``"guard"`` keeps the guards on the partial tiles in the nest below.

    Sizes may be symbolic (``ns.size_var``: one kernel for every size, as the frontend's batch
    dimension): ``edge="pad"`` pads them too, so the register tile carries no guard at any
    run-time size. A symbolic ``n`` pads to whole cache tiles (the last column tile reads zeros
    of the packed B); a symbolic ``m`` runs whole row tiles, then its last partial one with
    each row guarded outside the vector loop; a symbolic ``k`` runs exactly, in whole ``v3`` steps and then its last
    partial step, A read as stored (in cache tiles larger than the register tile: padded to
    whole steps, A copied zero-padded, its last chunk a shorter loop). A ``size_var`` whose
    ``divisor`` the tile divides is not padded; a run-time size the build cannot take (zero,
    not a multiple of the declared divisor, operands that disagree) is refused at the call
    with an ``ArgumentError``.

    ``parallel``: threads over the column tiles. Left out, a product of fewer than
    :data:`~schedules.templates.matmul_threads.SERIAL_FLOPS` operations runs on one thread, and
    called without knobs (nor a tuned config) the template picks the register tile that pads
    the sizes least (:mod:`schedules.templates.matmul_threads`).

    Called without any knob, the template uses the tuning database's best config for these sizes
    when there is one (:mod:`schedules.templates.tuned`). The defaults were found by the
    autotuner on a 2-core AVX-512 host (``nestor tune matmul``):
    the cache tile is the register tile, so the parallel loop has many short chunks, and a
    ``b3 = 64`` reduction chunk keeps the 8 KiB panel of B in L1.

    With ``b3`` (the default), C accumulates over ``b3``-long chunks of the reduction, so the
    ``b3 x v2`` panel of B that a register tile reads stays in the L1 cache while the ``v1 x v2``
    tile of C stays in registers::

        B.packed[j / v2, k, j % v2] = B[.., ..]                # contiguous v2-wide rows
        parallel for j.outer in 0..ceil(n/b2):                  # cache tile columns
          for i.outer in 0..ceil(m/b1):                         # cache tile rows
            C[tile] = 0
            for k.outer in 0..ceil(k/b3):                       # reduction chunk
              for j.inner.outer in 0..b2/v2:                    # one B panel, kept in L1
                for i.inner.outer in 0..b1/v1:                  # register tile
                  for k.inner.outer in 0..b3/v3:
                    unrolled for k.inner.inner in 0..v3:
                      unrolled for i in 0..v1:
                        vectorized for j in 0..v2:
                          C[..] += A[.., k] * B.packed[.., k, j]

    With ``b3=None`` the register tile is an explicit ``C.local`` (``cache_write``) that
    accumulates the whole reduction before one copy to C, as in the seed's first version.
    Where ``v2`` does not divide the columns and B is packed (zero-padded to whole strips), that
    tile is a stage over the padded columns, computed unguarded, and only its copy to C checks
    them (:mod:`schedules.templates.matmul_whole`).
    """
    if edge not in ("pad", "guard"):
        raise DefinitionError(f"matmul_cpu: edge must be 'pad' or 'guard', got {edge!r}")
    pads = edge == "pad" and b3 is not None and pack_b and b1 % v1 == 0 and b2 % v2 == 0 and b3 % v3 == 0
    if edge == "pad" and b1 % v1 == 0 and b2 % v2 == 0:  # each static size of m and n
        b1, b2 = _edge_tiles(m, n, v1, v2, b1, b2, exact=not pads)
    if pads:  # symbolic sizes too: a guard in the register tile costs 2-7x (module docstring of matmul_edges)
        from .matmul_edges import overhangs, padded_matmul, reduction_chunk

        b3 = reduction_chunk(k, b3, v3)  # the same b3 where it divides k
        if overhangs(m, n, k, b1, b2, b3):
            return padded_matmul(m, n, k, v1=v1, v2=v2, v3=v3, b1=b1, b2=b2, b3=b3, transpose_b=transpose_b,
                                 dtype=dtype, parallel=parallel, schedule_tiles=_reduction_chunks,
                                 pack_panels=pack_panels, transpose_a=transpose_a)
    if edge == "pad" and b3 is None and pack_b:  # columns off the register tile: a padded one
        from .matmul_whole import pads_columns, whole_k_padded

        if pads_columns(n, v2, b1, v1, b2):
            return whole_k_padded(m, n, k, v1=v1, v2=v2, v3=v3, b1=b1, b2=b2, transpose_b=transpose_b,
                                  dtype=dtype, parallel=parallel, transpose_a=transpose_a,
                                  stored_a=stored_a, pack_panels=pack_panels)
    A = placeholder((k, m) if transpose_a else (m, k), dtype, name="A")
    B = placeholder((n, k) if transpose_b else (k, n), dtype, name="B")
    r = reduce_axis(k, "k")

    def b_at(j, kk):
        return B[j, kk] if transpose_b else B[kk, j]

    packed = packed_a = None
    a_at = stored_a(A, transpose_a)
    if pack_a:
        read_a = a_at
        # the v1 rows one register tile reads, interleaved: its broadcasts come from one cache line
        packed_a = compute((ceil_div(m, v1), k, v1), lambda io, kk, ii: _zero_past(
            io * v1 + ii, m, v1, lambda row: read_a((row, kk))), name="A.packed")
        a_at = lambda index: packed_a[index[0] // v1, index[1], index[0] % v1]  # noqa: E731
    if pack_b:
        blocks = ceil_div(n, v2)
        packed = compute((blocks, k, v2), lambda jo, kk, ji: _zero_past(
            jo * v2 + ji, n, v2, lambda col: b_at(col, kk)), name="B.packed")
        C = compute((m, n), lambda i, j: fn.sum(a_at((i, r)) * packed[j // v2, r, j % v2], axis=r), name="C")
    else:
        C = compute((m, n), lambda i, j: fn.sum(a_at((i, r)) * b_at(j, r), axis=r), name="C")
    s = create_schedule(C)
    panel_loop = None
    if b3 is None:
        register_cache_tile(s, C, v1, v2, v3, b1, b2, parallel)
    else:
        panel_loop = _reduction_chunks(s, C, v1, v2, v3, b1, b2, b3, parallel)
    if packed is not None:
        pack_panels(s, packed, C, panel_loop, parallel)
    if packed_a is not None:
        po, pk, pi = packed_a.op.axis
        s[packed_a].vectorize(pi)
        if parallel:
            s[packed_a].parallel(po)
    return s, [A, B, C]


def _edge_tiles(m: int, n: int, v1: int, v2: int, b1: int, b2: int, exact: bool) -> tuple[int, int]:
    """The cache tiles ``(b1, b2)`` resized to the multiples of the register tile that pad
    ``m`` and ``n`` the least (:func:`~schedules.templates.matmul_edges.cache_tile`; the same
    tiles where they divide; a symbolic size keeps its tile). The padded product computes whole
    tiles. With ``exact`` (the guarded nest: the whole-reduction tile, ``b3=None``, B unpacked or
    a symbolic size: the frontend's ``X^T @ dZ`` over a symbolic batch) an axis is resized only
    where the new tile divides it, which takes the guards off that axis and gives the threads
    whole tiles: 784 x 256 x 128 in 64-row tiles on two threads (13 tiles, 7 and
    6, each guarded) took 1208-1229 us, in 14 tiles of 56 980-997 us, as 768 rows (962-989 us;
    wall time, interleaved rounds, a shared machine)."""
    from .matmul_edges import cache_tile

    def resized(extent, tile: int, step: int) -> int:
        if not isinstance(extent, Integral):
            return tile
        length = cache_tile(int(extent), tile, step)
        return tile if exact and extent % length else length

    return resized(m, b1, v1), resized(n, b2, v2)


def stored_a(A, transpose_a: bool):
    """``a_at((i, k))``: the element ``A[i, k]`` of the left operand, from its storage ``k x m``
    where ``transpose_a``."""
    if transpose_a:
        return lambda index: A[index[1], index[0]]
    return A.__getitem__


def pack_panels(s, packed, C, panel_loop, parallel: bool) -> None:
    """Schedule the packing of B: inside the parallel loop over column tiles ``panel_loop``
    where there is one (each thread packs the panels of its own column tiles, just before it
    uses them, in the same parallel region), else as a loop of its own, parallel with
    ``parallel`` unless B is small (at most :data:`SMALL_B` bytes packed: the copy takes less
    than starting the threads). One parallel region fewer a call: each region ends in a
    barrier, which costs ~10 us on a quiet machine and a scheduler slice where another process
    holds a core."""
    po, pk, pi = packed.op.axis
    s[packed].vectorize(pi)
    if panel_loop is not None:
        s[packed].compute_at(s[C], panel_loop)
    elif parallel and not _small(packed):
        s[packed].parallel(po)


def _small(tensor) -> bool:
    """Whether ``tensor`` has a static size of at most :data:`SMALL_B` bytes."""
    size = np.dtype(tensor.dtype.value).itemsize
    for extent in tensor.shape:
        if not isinstance(extent, Integral):
            return False
        size *= int(extent)
    return size <= SMALL_B


def _zero_past(index, extent: int, block: int, read):
    """``read(index)``, zero past ``extent`` where the blocks overhang it: a guard only where a
    last partial block exists (an unguarded copy is a plain vector loop, and less code)."""
    if isinstance(extent, Integral) and extent % block == 0:
        return read(index)
    return fn.value_or_zero(index < extent, read(index))


def _reduction_chunks(s, C, v1, v2, v3, b1, b2, b3, parallel: bool):
    """Schedule ``C``'s cache tiles and reduction chunks; the parallel loop over column tiles,
    or None where the threads share rows (or there are no threads)."""
    i, j = C.op.axis
    (k,) = C.op.reduce_axis
    io, jo, ii, ji = s[C].tile(i, j, b1, b2)
    iio, jio, iii, jii = s[C].tile(ii, ji, v1, v2)
    chunks = _chunked(s, C, k, v1, v2, v3, b1, b2, b3)
    rows_first = rows_outermost(i.extent, j.extent, k.extent, b1, b2)
    if rows_first:
        # few column blocks and a small B: threads share the many row blocks, each row of A read once
        s[C].reorder(io, jo, *chunks[:-2], jio, iio, *chunks[-2:], iii, jii)
    else:
        # column blocks outermost: a thread keeps one packed B panel while it walks down the rows
        s[C].reorder(jo, io, *chunks[:-2], jio, iio, *chunks[-2:], iii, jii)
    kii = chunks[-1]
    s[C].unroll(kii)
    s[C].unroll(iii)
    s[C].vectorize(jii)
    if parallel:
        s[C].parallel(io if rows_first else jo)
    return jo if parallel and not rows_first else None


def _chunked(s, C, k, v1, v2, v3, b1, b2, b3) -> tuple:
    """Split the reduction ``k`` of ``C``: ``(k.outer, k.inner.outer, k.inner.inner)``, chunks
    of ``b3`` in steps of ``v3``. A symbolic ``k`` whose cache tile is the register tile is
    not chunked (a chunk holds no panel of B for other register tiles to reuse): ``(steps,
    k.inner)``, its last partial step the tail the lowering peels off, so the reduction needs no
    padding and A is read as stored (:func:`~schedules.templates.matmul_edges.whole_steps`); one
    in larger tiles is padded to whole steps, its chunks split from the steps so that the last
    partial chunk is a shorter loop, not a guard."""
    from .matmul_edges import whole_steps

    if whole_steps(k.extent, v1, v2, b1, b2):
        return s[C].split(k, factor=v3)
    if isinstance(k.extent, Integral) or b3 % v3:
        ko, ki = s[C].split(k, factor=b3)
        return (ko, *s[C].split(ki, factor=v3))
    steps, kii = s[C].split(k, factor=v3)
    return (*s[C].split(steps, factor=b3 // v3), kii)


def register_cache_tile(s, C, v1, v2, v3, b1, b2, parallel: bool) -> None:
    """Schedule the product ``C`` (its last two axes rows and columns, an optional batch axis
    first) as ``v1 x v2`` register tiles inside ``b1 x b2`` cache tiles: an explicit ``C.local``
    tile (``cache_write``) accumulates the whole reduction, ``v3`` steps unrolled at a time, before
    one vectorized copy to C; threads over the batch axis, else over the cache-tile rows.

    The ``b3=None`` form of :func:`matmul_cpu`, and the layout variants of
    :mod:`schedules.templates.matmul_variants` (transposed A, batches).
    """
    tile_with_local(s, C, s.cache_write(C, "local"), v1, v2, v3, b1, b2, parallel)


def tile_with_local(s, C, local, v1, v2, v3, b1, b2, parallel: bool) -> None:
    """``C`` in ``b1 x b2`` cache tiles of ``v1 x v2`` register tiles, each computed in the stage
    ``local`` (attached at the tile, ``v3`` reduction steps unrolled at a time, its columns one
    vector) and copied to C vectorized; threads over the batch axis, else the cache-tile rows."""
    axes = list(C.op.axis)
    io, jo, ii, ji = s[C].tile(axes[-2], axes[-1], b1, b2)
    iio, jio, iii, jii = s[C].tile(ii, ji, v1, v2)
    s[local].compute_at(s[C], jio)
    li, lj = s[local].op.axis[-2:]
    ko, ki = s[local].split(s[local].op.reduce_axis[0], factor=v3)
    s[local].reorder(ko, ki, li, lj)
    s[local].unroll(ki)
    s[local].unroll(li)
    s[local].vectorize(lj)
    s[C].vectorize(jii)
    if parallel:
        s[C].parallel(axes[0] if len(axes) == 3 else io)
