"""A right-hand operand packed once and read by many products: the packing kernel and the
whole-reduction product (``matmul_cpu(b3=None)``, the frontend's form) over a given packed B.

The template packs B into zero-padded ``v2``-wide strips on every call. For a weight used
again and again unchanged (inference, and above all batch 1, where the product is a pass over
B), that copy is most of the call: 1 x 784 @ 784 x 1000 on one thread read B twice and wrote
it once. Here the packing is a kernel of its own (:func:`pack_b`) and the product
(:func:`matmul_prepacked`) takes ``B.packed`` as its second argument::

    pack_b:            B.packed[j / v2, k, j % v2] = B[k, j] or 0     # once per weight
    matmul_prepacked:  C = A @ B.packed                               # the padded register tile

Both take their layout from one function (:func:`packed_shape`) of the same knobs, so a
packed B and the product built with those knobs always agree; a product handed a packed B of
another shape is refused at the call by the kernel's shape check. The product is the nest of
:mod:`schedules.templates.matmul_whole` (the register tile over whole zero-padded strips,
only the copy to C guarded), whatever the column count.
"""

from __future__ import annotations

from numbers import Integral

from tensorir.errors import DefinitionError
from tensorir.tensor import placeholder

from ..schedule import create_schedule
from .generic_cpu import worth_parallel


def _tiles(m, n, v1: int, v2: int, b1: int, b2: int) -> tuple[int, int]:
    """The cache tiles the whole-reduction nest uses (those of ``matmul_cpu``, resized at the
    edges as it resizes them)."""
    from .matmul_cpu import _edge_tiles

    return _edge_tiles(m, n, v1, v2, b1, b2, exact=True)


def _check_tiles(v1: int, v2: int, b1: int, b2: int) -> None:
    if min(v1, v2, b1, b2) < 1 or b1 % v1 or b2 % v2:
        raise DefinitionError(f"matmul_prepacked: the cache tiles ({b1}, {b2}) must be whole register tiles "
                              f"({v1}, {v2}); give b1 a multiple of v1 and b2 a multiple of v2")


def packed_shape(n: int, k: int, *, v2: int, b2: int) -> tuple[int, int, int]:
    """``(strips, k, v2)``: the shape of B packed for a product of ``n`` columns and a
    reduction of ``k`` with register tiles ``v2`` columns wide in cache tiles of ``b2``."""
    from .matmul_whole import padded_columns

    if not isinstance(n, Integral) or not isinstance(k, Integral):
        raise DefinitionError(f"matmul_prepacked: B's sizes must be integers to pack it once, got n={n}, k={k}")
    if min(v2, b2) < 1 or b2 % v2:
        raise DefinitionError(f"matmul_prepacked: the cache tile of b2={b2} columns must be a whole number of "
                              f"register tiles of v2={v2}; give b2 a multiple of v2")
    _, b2 = _tiles(1, n, 1, v2, 1, b2)
    _, columns = padded_columns(int(n), v2, b2)
    return int(columns) // v2, int(k), v2


def pack_b(n: int, k: int, *, v2: int, b2: int, transpose_b: bool, dtype: str = "float32"):
    """The kernel that packs B (``k x n``, or ``n x k`` with ``transpose_b``) for
    :func:`matmul_prepacked` with the same ``v2`` and ``b2``. Returns ``(schedule, [B, B.packed])``."""
    from .matmul_whole import packed_b

    strips, _, _ = packed_shape(n, k, v2=v2, b2=b2)
    B = placeholder((n, k) if transpose_b else (k, n), dtype, name="B")
    packed = packed_b(B, n, k, v2, strips * v2, transpose_b)
    s = create_schedule(packed)
    outer, _, inner = packed.op.axis
    s[packed].vectorize(inner)
    if worth_parallel(strips * k * v2, strips):
        s[packed].parallel(outer)
    return s, [B, packed]


def matmul_prepacked(m, n: int, k: int, *, v1: int = 8, v2: int = 32, v3: int = 4, b1: int = 64, b2: int = 128,
                     transpose_b: bool = False, dtype: str = "float32", parallel: bool = False):
    """``C = A @ B`` (``A @ B.T`` with ``transpose_b``: only how B was packed differs) from A
    (``m x k``; ``m`` may be symbolic) and B already packed by :func:`pack_b` with the same
    ``v2`` and ``b2``: the whole reduction in ``v1 x v2`` register tiles over the padded
    columns, in ``b1 x b2`` cache tiles, only the copy to C guarded. Returns
    ``(schedule, [A, B.packed, C])``.

    Raises
    ------
    DefinitionError
        When a cache tile is not a whole number of register tiles, or ``n`` or ``k`` is not an integer.
    """
    from .matmul_cpu import pack_panels, stored_a
    from .matmul_whole import whole_k_padded

    _check_tiles(v1, v2, b1, b2)
    packed_shape(n, k, v2=v2, b2=b2)  # checks the sizes
    b1, b2 = _tiles(m, n, v1, v2, b1, b2)
    return whole_k_padded(m, n, k, v1=v1, v2=v2, v3=v3, b1=b1, b2=b2, transpose_b=transpose_b, dtype=dtype,
                          parallel=parallel, transpose_a=False, stored_a=stored_a, pack_panels=pack_panels,
                          given_packed=True)
