"""Checks of the arrays a compiled module is called with, shared by every backend."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tensorir.buffer import Buffer
from tensorir.errors import ArgumentError


def check_arrays(name: str, params: Sequence[Buffer], arrays: Sequence[object],
                 written: set[Buffer]) -> list[np.ndarray]:
    """``arrays`` as numpy arrays matching ``params``, or an ArgumentError naming the first mismatch."""
    if len(arrays) != len(params):
        expected = ", ".join(p.name for p in params)
        raise ArgumentError(
            f"{name}: expected {len(params)} arrays ({expected}), got {len(arrays)}")
    checked = []
    for position, (param, array) in enumerate(zip(params, arrays)):
        where = f"{name}: argument {position} ({param.name})"
        want = f"{param.dtype.value}{list(param.shape)}"
        if not isinstance(array, np.ndarray):
            raise ArgumentError(f"{where} must be a numpy array {want}, got {type(array).__name__}")
        if array.dtype != param.dtype.numpy:
            raise ArgumentError(
                f"{where} must have dtype {param.dtype.value}, got {array.dtype}; "
                f"convert it with .astype(np.{param.dtype.value})")
        if tuple(array.shape) != tuple(param.shape):
            raise ArgumentError(f"{where} must have shape {list(param.shape)}, got {list(array.shape)}")
        if not array.flags.c_contiguous:
            raise ArgumentError(
                f"{where} must be C-contiguous; pass np.ascontiguousarray(...) of it")
        if param in written and not array.flags.writeable:
            raise ArgumentError(
                f"{where} is written by the kernel but the array is read-only; pass a writable "
                "array, e.g. a .copy() of it")
        checked.append(array)
    return checked
