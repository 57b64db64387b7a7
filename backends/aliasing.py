"""Arguments that share memory with an array the kernel writes, made safe before the call.

A kernel reads its inputs while it writes its outputs, in whatever order its schedule gives
(and the LLVM backend's parallel bodies promise ``noalias`` pointers), so an input that shares
memory with an output would be read after parts of it were overwritten: a silently wrong
result. As numpy's ``out=`` does, such an input is copied first and the kernel reads the copy;
the result is what it would be with separate arrays. Two arrays that the kernel both writes
cannot be made separate that way (the last write would win at random), so that call is refused
with an ArgumentError naming both arguments.

The check costs one comparison of address ranges per (written, other) pair of arguments, on
the addresses the call computes anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tensorir.buffer import Buffer
from tensorir.errors import ArgumentError


class AliasGuard:
    """The positions of a function's written parameters, for :meth:`separate`."""

    def __init__(self, name: str, params: Sequence[Buffer], written: set[Buffer]):
        self.name, self.params = name, list(params)
        self.written = tuple(n for n, p in enumerate(self.params) if p in written)
        self.count = len(self.params)
        #: per written argument: its position and the positions of all the others
        self._pairs = tuple((w, tuple(n for n in range(self.count) if n != w)) for w in self.written)
        #: the byte size of each argument where every shape is static (checked before this runs)
        self._bytes = [_static_bytes(p) for p in self.params]
        if None in self._bytes:
            self._bytes = None

    def overlaps(self, arrays: Sequence[np.ndarray], pointers: Sequence[int]) -> bool:
        """Whether any written argument shares a byte with another argument."""
        sizes = self._bytes or [a.nbytes for a in arrays]
        for w, others in self._pairs:
            start = pointers[w]
            end = start + sizes[w]
            for n in others:
                if pointers[n] < end and start < pointers[n] + sizes[n]:
                    return True
        return False

    def separate(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``arrays`` with every read-only argument that overlaps a written one replaced by a copy;
        an ArgumentError where two written arguments overlap."""
        arrays = list(arrays)
        for w in self.written:
            for n in range(self.count):
                if n == w or not np.shares_memory(arrays[w], arrays[n]):
                    continue
                if n in self.written:
                    first, second = sorted((w, n))
                    raise ArgumentError(
                        f"{self.name}: arguments {first} ({self.params[first].name}) and {second} "
                        f"({self.params[second].name}) share memory, and the kernel writes both; which "
                        "write lands last is unspecified, so pass separate arrays (e.g. a .copy() of one)")
                arrays[n] = arrays[n].copy()
        return arrays


def _static_bytes(param: Buffer) -> int | None:
    size = param.dtype.numpy.itemsize
    for extent in param.shape:
        if not isinstance(extent, int):
            return None
        size *= extent
    return size


def separated(name: str, params: Sequence[Buffer], arrays: Sequence[np.ndarray],
              written: set[Buffer]) -> list[np.ndarray]:
    """``arrays`` made safe to pass to a kernel together (see the module docstring)."""
    guard = AliasGuard(name, params, written)
    return guard.separate(arrays) if guard.overlaps(arrays, [a.ctypes.data for a in arrays]) else list(arrays)
