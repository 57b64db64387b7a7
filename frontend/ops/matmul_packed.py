"""The product over a right operand packed once (:mod:`frontend.packed_weights`): when it
applies, the kernel that packs, and the request of the product that reads the packed copy.

A plain 2-D product ``A @ B`` or ``A @ B.T`` on the CPU whose config keeps the whole reduction
in the register tile (``b3=None``) and packs B, or reads B as stored at a column count off the
register tile (then its tile carries the guard ``j < n``), runs on the packed copy once B has
been seen unchanged: the variant ``(False, transposed_b, PACKED, n, config)`` names the product
of :func:`~schedules.templates.matmul_prepacked.matmul_prepacked` with exactly the knobs it was
packed for, and the packing kernel is :class:`PackRightOperand`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from schedules.templates.matmul_prepacked import pack_b, packed_shape

from .. import dispatch
from ..packed_weights import cache as packed_cache
from ..request import KernelRequest
from .base import Op

#: the variant's tag of a product over a packed B
PACKED = "packed"


@dataclass(frozen=True)
class Plan:
    """How a product request runs over a packed B: its packed ``layout`` (``(transposed_b, v2, b2)``)
    and the variant of the product that reads it."""

    layout: tuple
    variant: tuple


def is_packed(variant: tuple) -> bool:
    """Whether a matmul request's variant is a product over a packed B."""
    return len(variant) >= 3 and variant[2] == PACKED


def packed_config(variant: tuple) -> dict:
    """The config a product over a packed B is built with (carried in its variant)."""
    return dict(variant[4])


def packed_dims(request: KernelRequest) -> tuple:
    """``(m, n, k)`` of a product over a packed B."""
    (m, k), n = request.shapes[0], request.variant[3]
    return m, n, k


class PackRightOperand(Op):
    """``B.packed``: B (``k x n``, or ``n x k`` stored transposed) in the zero-padded strips a
    product over a packed B reads; variant ``(transposed_b, v2, b2)``."""

    name = "matmul_pack_b"

    def kernel(self, request, config):
        transposed, v2, b2 = request.variant
        rows, cols = request.shapes[0]
        n, k = (rows, cols) if transposed else (cols, rows)
        return pack_b(n, k, v2=v2, b2=b2, transpose_b=transposed, dtype=request.dtypes[0])


#: a product that reads B as stored (at most ``UNPACKED_N_MAX`` columns) runs over a packed copy
#: from this many rows: one thread, x512x100 guarded / packed 8.5 / 8.6 us at 1 row, 13.9 / 13.7 at
#: 8, 43.7 / 42.7 at 32, 159 / 152 at 128 (x512x33: 9.2 / 6.5, 9.5 / 9.4, 24.3 / 25.1, 85.7 / 81.9);
#: below it the lookup (~3 us) costs more than the guard
UNPACKED_MIN_ROWS = 64

#: right operands of fewer bytes are packed as they come: the copy is cheap, and a kept copy
#: costs a lookup per call and two kernels to compile (the packing and the product over it)
SMALL_OPERAND = 128 << 10

_PLANS: dict[KernelRequest, Plan | None] = {}


def plan(op, request: KernelRequest) -> Plan | None:
    """The :class:`Plan` of a plain product request ``(False, transposed_b)`` (memoised), or None
    where the product keeps packing as it goes: another form, B unpacked at a column count the
    register tile divides (no guard to remove, and no copy to save)."""
    found = _PLANS.get(request, False)
    if found is False:
        found = _PLANS[request] = _plan(op, request)
    return found


def _plan(op, request: KernelRequest) -> Plan | None:
    from .matmul import MatMul

    shapes, transposed = request.shapes, request.variant[1]
    if request.target != "llvm" or len(shapes[0]) != 2 or len(shapes[1]) != 2:
        return None
    plain = KernelRequest("matmul", (), request.variant, shapes, request.dtypes, request.device)
    config = dispatch.cache.schedule_for(plain.key, shapes, plain.dtypes, plain.device,
                                         MatMul.default_config(op, plain), MatMul.tuning_task(op, plain))
    n = shapes[1][0] if transposed else shapes[1][1]
    v1, v2, b1, b2 = (config.get(knob) for knob in ("v1", "v2", "b1", "b2"))
    if config.get("b3", 64) is not None or config.get("transpose_a") or b1 % v1 or b2 % v2:
        return None
    if not config.get("pack_b", True) and (n % v2 == 0 or shapes[0][0] < UNPACKED_MIN_ROWS):
        return None
    if np.prod(shapes[1]) * np.dtype(request.dtypes[1]).itemsize < SMALL_OPERAND:
        return None
    config = {**config, "pack_b": True}
    frozen = tuple(sorted(config.items()))
    return Plan((transposed, v2, b2), (False, transposed, PACKED, n, frozen))


def prepacked(op, a: np.ndarray, b: np.ndarray, transposed: bool, device: str):
    """``([a, B.packed], variant)`` for the product ``a @ b`` (``b`` the stored operand, read
    transposed where ``transposed``) over a packed copy of ``b`` kept by the frontend, or None
    where the product packs as it goes (see :mod:`frontend.packed_weights`)."""
    found = plan(op, op.request([a, b], device, (False, transposed)))
    if found is None:
        return None
    packed = kept_copy(b, found.layout, device)
    # whether B's kept copy is read depends on B's memory, not its signature: a replay looks it up
    dispatch.note_packed(b, packed, found.layout)
    return None if packed is None else ([a, packed], found.variant)


def kept_copy(b: np.ndarray, layout: tuple, device: str) -> np.ndarray | None:
    """The packed copy of ``b`` in ``layout`` kept by the frontend, or None (see :func:`prepacked`).
    Within :func:`looked_up` for ``b``, the answer given there (one lookup a call: the second
    sighting of ``b`` is what packs it)."""
    ahead = getattr(_AHEAD, "found", None)
    if ahead is not None and ahead[0] is b and ahead[1] == layout:
        _AHEAD.found = None
        return ahead[2]
    return packed_cache.lookup(b, layout, lambda array: _pack(array, layout, device))


_AHEAD = threading.local()


@contextlib.contextmanager
def looked_up(b: np.ndarray, layout: tuple, packed: np.ndarray | None) -> Iterator[None]:
    """Within this block the next :func:`kept_copy` of ``b`` in ``layout`` in this thread answers
    ``packed`` (what a replay's own lookup found) without looking again."""
    _AHEAD.found = (b, layout, packed)
    try:
        yield
    finally:
        _AHEAD.found = None


def _pack(array: np.ndarray, layout: tuple, device: str) -> np.ndarray:
    packed = dispatch.run(PackRightOperand(), [array], device, layout)[0]
    if packed.dtype != array.dtype:  # the product reads it by address, as B's dtype
        from tensorir.errors import LoweringError

        raise LoweringError(f"matmul_pack_b: B of dtype {array.dtype} was packed as {packed.dtype}; the packing "
                            "kernel must keep B's dtype")
    return packed


def check_packed(request: KernelRequest, config: dict) -> None:
    """Refuse a packed operand of another layout than the product's (an internal inconsistency)."""
    m, n, k = packed_dims(request)
    expected = packed_shape(n, k, v2=config["v2"], b2=config["b2"])
    if tuple(request.shapes[1]) != expected:
        from tensorir.errors import LoweringError

        raise LoweringError(f"matmul over a packed B: the packed operand has shape {request.shapes[1]}, "
                            f"the product's tiles read {expected}; pack B with the product's v2 and b2")
