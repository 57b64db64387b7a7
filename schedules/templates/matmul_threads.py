"""What the CPU matmul template chooses where its caller does not say: threads only for products
large enough that a thread team pays for itself, and the register tile that pads odd sizes least.

A product of 256^3 takes 0.3-0.36 ms on one core of the 2-core AVX-512 host (93-110 GFLOP/s);
OpenBLAS and torch run it on both cores in 0.19-0.22 ms, and so does the template (best rounds
0.16 ms) now that the packing of B runs in the same parallel region as the product (one barrier
a call). Under load every two-thread kernel (numpy's and torch's too) waits at its barrier for
the thread another process holds off its core (3-20 ms a call, median); one thread does not,
but it cannot match a peer that gets both cores. Below :data:`SERIAL_FLOPS` (192^3: 0.15 vs
0.19 ms at best, but a fork and join is a larger share of it) the template runs on one thread
unless ``parallel=True`` is passed.
"""

from __future__ import annotations

import functools
import inspect
from numbers import Integral

from tensorir.intmath import ceil_div, round_up

#: products of fewer floating-point operations (2 m n k) run on one thread by default: 256^3
#: and up use both cores (as the frontend's products, from 2^24 multiply-adds)
SERIAL_FLOPS = 1 << 25


def threads_pay(m, n, k) -> bool:
    """Whether a product of these sizes should split its tiles over threads: at least
    :data:`SERIAL_FLOPS` operations, or a symbolic size (its value is not known here)."""
    if not all(isinstance(size, Integral) for size in (m, n, k)):
        return True
    return 2 * int(m) * int(n) * int(k) >= SERIAL_FLOPS


#: bytes of packed B up to which a product with few column tiles splits its row tiles over the
#: threads instead (the whole of B then stays in a core's L2 cache while it walks the rows)
SMALL_B = 256 << 10


def rows_outermost(m, n, k, b1: int, b2: int) -> bool:
    """Whether the cache-tile rows, not the columns, should be the outermost (parallel) loop: a
    static product with at most four column tiles (fewer than two per thread on a few cores, no
    room to balance), at least 64 row tiles, and a packed B of at most :data:`SMALL_B` bytes.
    65536 x 64 x 64 on 2 threads: with the columns outermost each thread takes one of the two
    column tiles and reads all of A (and one held off its core stalls the other at the end);
    with the rows, each reads half of A and the counter evens out the work."""
    if not all(isinstance(size, Integral) for size in (m, n, k)):
        return False
    column_tiles, row_tiles = ceil_div(int(n), b2), ceil_div(int(m), b1)
    return column_tiles <= 4 and row_tiles >= 64 and column_tiles * b2 * int(k) * 4 <= SMALL_B


#: the register tiles ``(v1, v2)`` a plain call chooses among (cache tiles the same): equally
#: fast on whole tiles (95-99 GFLOP/s a core), they differ in how they pad odd sizes
TILES = ((8, 32), (6, 48), (12, 16))


def register_tile(m: int, n: int, threads: int) -> tuple[int, int]:
    """The tile of :data:`TILES` with the least work on the busiest thread (the padded rows
    times the padded columns of the largest share of column tiles), then the least padded work
    in all. 777 x 1025 on 2 threads:
    12 x 16 (65 tiles of 16 columns: 1.5% padding, 33 vs 32 tiles), not 8 x 32 (33 tiles of 32:
    3% padding, 17 vs 16); 1000 x 1000: 8 x 32 (32 tiles, balanced)."""

    def work(tile):
        rows, columns = tile
        tiles = ceil_div(n, columns)
        return round_up(m, rows) * ceil_div(tiles, threads) * columns, round_up(m, rows) * tiles * columns

    return min(TILES, key=work)  # the busiest thread's share, then the whole; 8 x 32 among equals


#: the unrolled reduction steps ``v3`` a plain call chooses among, the first that fits
STEPS = (4, 3, 2)


def reduction_steps(k: int, b3: int | None) -> tuple[int, int | None]:
    """The unrolled step ``v3`` and the reduction chunk ``b3`` (``reduction_chunk``) for a
    reduction of ``k``: the first step of :data:`STEPS` whose chunks divide ``k``, else 4.
    k=513 (3^3 x 19): steps of 3 in chunks of 57, so that A is read as stored; steps of 4 pad k
    to 520, and A is copied zero-padded first (a pass over A and a parallel region more)."""
    from .matmul_edges import reduction_chunk

    if b3 is None:
        return STEPS[0], None
    step = next((step for step in STEPS if k % reduction_chunk(k, b3, step) == 0), STEPS[0])
    return step, reduction_chunk(k, b3, step)


def by_size(name: str, target: str):
    """Decorate the tunable matmul template ``name`` (its first three arguments ``m, n, k``;
    knobs ``v1, v2, b1, b2``; ``parallel``) with the choices a call leaves to it, for static sizes
    without a config in the tuning database (the tuner measured those: a plain call gets it, and
    a call with the same knobs the same nest):

    - without ``parallel``, a product below :data:`SERIAL_FLOPS` runs on one thread;
    - without any knob, a product of at least :data:`SERIAL_FLOPS` gets :func:`register_tile`'s
      register tile and :func:`reduction_steps`' unrolled step and chunk (smaller ones keep the defaults).
    """

    def wrap(template):
        signature = inspect.signature(template)
        size_names = list(signature.parameters)[:3]

        @functools.wraps(template)
        def call(*args, **kwargs):
            if "parallel" in kwargs and any(knob in kwargs for knob in template.knobs):
                return template(*args, **kwargs)  # nothing left to choose
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return template(*args, **kwargs)  # the template reports the bad call itself
            bound.apply_defaults()
            given = bound.arguments
            sizes = tuple(given[size] for size in size_names)
            knobs = any(knob in kwargs for knob in template.knobs)
            if not all(isinstance(size, Integral) for size in sizes):
                return template(*args, **{**kwargs, **_static_parts(sizes, given, knobs)})
            if _tuned(name, target, sizes, given):
                return template(*args, **kwargs)
            chosen = dict(kwargs)
            chosen.setdefault("parallel", threads_pay(*sizes))
            if not knobs and given.get("edge", "pad") == "pad" and threads_pay(*sizes):
                threads = _threads() if chosen["parallel"] else 1
                v1, v2 = register_tile(int(sizes[0]), int(sizes[1]), threads)
                v3, b3 = reduction_steps(int(sizes[2]), given["b3"])
                chosen.update(v1=v1, v2=v2, b1=v1, b2=v2, v3=v3, b3=b3)
            return template(*args, **chosen)

        return call

    return wrap


def _static_parts(sizes: tuple, given: dict, knobs: bool) -> dict:
    """The choices a plain call with some sizes symbolic gets for its static ones (none where
    knobs are given, or the guarded nest asked for): the unrolled step and reduction chunk of
    a static ``k`` (:func:`reduction_steps`: 513 in steps of 3, chunks of 57, A read as stored
    rather than copied padded). The register tile stays 8 x 32: with the rows or the columns
    unknown, the tile that pads a static size least may pad the other more (12 x 16 for 1000
    columns computes 12 rows for M = 1, and ran 1000^3 with M symbolic at 0.92 of 8 x 32)."""
    m, n, k = sizes
    if knobs or given.get("edge", "pad") != "pad" or given["b3"] is None or not isinstance(k, Integral):
        return {}
    v3, b3 = reduction_steps(int(k), given["b3"])
    return {"v3": v3, "b3": b3}


def _tuned(name: str, target: str, sizes: tuple, given: dict) -> bool:
    """Whether the tuning database has a config for this task, tuned with threads."""
    from .tuned import tuned_knobs

    options = {"transpose_b": given.get("transpose_b", True), "parallel": True}
    return tuned_knobs(name, tuple(int(size) for size in sizes), given.get("dtype", "float32"), target,
                       options) is not None


def _threads() -> int:
    """The threads a parallel loop gets (the LLVM backend's count)."""
    from backends.llvm.target import thread_count

    return thread_count()
