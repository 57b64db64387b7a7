"""Kernel outputs on 64-byte boundaries, at a page offset chosen against their inputs.

numpy's arrays come from malloc: 16-byte aligned, at whatever offset within a 4 KiB page the
process's allocation history left. Two effects follow:

* **4K aliasing.** A load whose address agrees with an older, unfinished store in its low 12 bits
  waits for that store (the core compares only those bits at first). A streaming kernel whose
  output sits a little ahead of an input within the page (64-128 bytes) has each load collide
  with the store just issued. On this machine's SGD update of the MLP's 784x256 weight (hot
  caches, interleaved rounds, one process), the output 64 bytes ahead of its inputs took 1.34x
  the time of the same call at equal offsets; 128 bytes 1.13x; 256 bytes and more, or behind,
  0.98-1.04x (noise).
* **Per-process luck.** Which offsets a step's arrays get depends on everything the process
  allocated before, which differs from process to process (string hashing is seeded per
  process), so a kernel could meet the bad case in one process and not in the next.

What this does not do: it does not explain or remove the train step's per-process bimodality
(MLP about 1.3 or 1.65 ms). The whole MLP step, timed in one process with outputs placed here
against plain ``np.empty`` (interleaved rounds, main-thread CPU time), differed by 2% (IQR
-8% to +3%), within the noise; the SGD update is about 5% of the step.

:func:`empty` allocates an output 64-byte aligned (whole cache lines, full AVX-512 vectors) and,
from :data:`LARGE` bytes, at a page offset :func:`page_offset` picks from the inputs' offsets:
:data:`BEHIND` bytes behind the first large input's, then further back in steps of 64 bytes until
no large input lies within :data:`AHEAD` bytes behind the output. The choice depends only on the
inputs' offsets, so every process makes the same one for the same layout of inputs.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from functools import lru_cache
from math import prod

import numpy as np

from backends import args

#: the alignment of every output: one cache line, one AVX-512 vector
ALIGN = 64
#: the span within which 4K aliasing is decided: the low 12 address bits
PAGE = 4096
#: outputs from this size get a chosen page offset (smaller ones only the alignment)
LARGE = PAGE
#: an output whose page offset lies 1 to ``AHEAD`` bytes ahead of a large input's is avoided
AHEAD = 256
#: where the search starts: this far behind the first large input, so that successive kernels'
#: outputs do not all share one page offset (and with it the same cache sets)
BEHIND = 1024


def page_offset(inputs: Sequence[int]) -> int:
    """The page offset (a multiple of :data:`ALIGN`, below :data:`PAGE`) for an output read
    alongside inputs at page offsets ``inputs``: none of them 1 to :data:`AHEAD` bytes behind it."""
    return _page_offset(tuple(inputs))


@lru_cache(maxsize=4096)
def _page_offset(inputs: tuple[int, ...]) -> int:
    start = (inputs[0] - BEHIND) // ALIGN * ALIGN % PAGE if inputs else 0
    for step in range(PAGE // ALIGN):
        offset = (start - step * ALIGN) % PAGE
        if not any(0 < (offset - i) % PAGE <= AHEAD for i in inputs):
            return offset
    return start  # every offset is within reach of some input (more than PAGE / AHEAD of them)


def empty(shape: tuple[int, ...], dtype, inputs: Sequence[np.ndarray] = ()) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` starting on a 64-byte
    boundary; from :data:`LARGE` bytes at the page offset :func:`page_offset` gives for the large
    arrays among ``inputs`` (the arrays the kernel writing it reads)."""
    return _placed(shape, np.dtype(dtype), _offsets(inputs))


def outputs(specs: Sequence[tuple[tuple[int, ...], np.dtype]], inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """:func:`empty` of each ``(shape, dtype)`` of ``specs``, placed against ``inputs``.

    This runs once per kernel call: a small output (the common case of small tensors) is made
    inline, and the inputs' page offsets are read only when a large output needs them."""
    made, offsets = [], None
    for shape, dtype in specs:
        if not isinstance(dtype, np.dtype):
            dtype = np.dtype(dtype)
        nbytes = prod(shape) * dtype.itemsize
        if 0 < nbytes < LARGE:
            raw = _EMPTY(nbytes + ALIGN, _BYTE)
            made.append(_NDARRAY(shape, dtype, raw, -_address(raw) % ALIGN))
            continue
        if offsets is None:
            offsets = _offsets(inputs)
        made.append(_placed(shape, dtype, offsets))
    return made


def outputs_at(specs: Sequence[tuple[tuple[int, ...], np.dtype, int]],
               inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
    """:func:`outputs` of ``specs`` given as ``(shape, dtype, nbytes)`` (dtypes as numpy's), and
    the address of each output's first element."""
    made, addresses, offsets = [], [], None
    for shape, dtype, nbytes in specs:
        if 0 < nbytes < LARGE:
            raw = _EMPTY(nbytes + ALIGN, _BYTE)
            address = _address(raw)
            start = -address % ALIGN
            made.append(_NDARRAY(shape, dtype, raw, start))
            addresses.append(address + start)
            continue
        if offsets is None:
            offsets = _offsets(inputs)
        made.append(_placed(shape, dtype, offsets))
        addresses.append(_address(made[-1]))
    return made, addresses


def _offsets(inputs: Sequence[np.ndarray]) -> tuple[int, ...]:
    return tuple(_address(a) % PAGE for a in inputs if a.nbytes >= LARGE)


def _read_address(array: np.ndarray) -> int:
    return _READ(id(array) + args._DATA_OFFSET).value


#: an array's data address: read from the object's header where :mod:`backends.args` found where
#: it lies (a fraction of ``.ctypes.data``'s cost, which is paid per output)
_READ = ctypes.c_void_p.from_address
_address = _read_address if args._DATA_OFFSET is not None else (lambda array: array.ctypes.data)


_EMPTY, _NDARRAY, _BYTE = np.empty, np.ndarray, np.dtype(np.uint8)


def _placed(shape: tuple[int, ...], dtype: np.dtype, offsets: tuple[int, ...]) -> np.ndarray:
    nbytes = prod(shape) * dtype.itemsize
    if nbytes == 0:
        return np.empty(shape, dtype)
    if nbytes < LARGE:
        raw = np.empty(nbytes + ALIGN, np.uint8)
        start = -_address(raw) % ALIGN
    else:
        raw = np.empty(nbytes + PAGE, np.uint8)
        start = (_page_offset(offsets) - _address(raw)) % PAGE
    return np.ndarray(shape, dtype, raw, start)
