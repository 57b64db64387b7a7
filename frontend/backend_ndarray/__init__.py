"""needle's ``backend_ndarray`` (hw3): the :class:`NDArray` strided array and its functions.

``from needle import backend_ndarray as nd`` programs read ``nd.array(values, device=nd.cpu())``,
``nd.NDArray(values)``, ``nd.empty``/``nd.full``, ``nd.broadcast_to``, ``nd.reshape``,
``nd.maximum``, ``nd.log``/``nd.exp``/``nd.tanh``, ``nd.flip``, ``nd.summation`` and the devices.
The values are float32 (needle's backends store no other dtype); the arithmetic runs on Nestor
kernels (see :mod:`.arithmetic`).
"""

from __future__ import annotations

import numpy as np

from tensorir.errors import DefinitionError

from ..devices import Device, all_devices, cpu, cpu_numpy, cuda, default_device
from .ndarray import NDArray, compact_strides

BackendDevice = Device


def _check_dtype(function: str, dtype) -> None:
    if dtype not in (None, "float32", np.float32):
        raise DefinitionError(f"{function}: dtype {dtype!r}; needle's NDArray stores float32 only, give "
                              "dtype='float32' (or use a Tensor for other dtypes)")


def array(a, dtype="float32", device=None) -> NDArray:
    """An NDArray of ``a``'s values (float32) on ``device`` (the CPU by default)."""
    _check_dtype("array", dtype)
    return NDArray(a, device=device)


def empty(shape, dtype="float32", device=None) -> NDArray:
    """An NDArray of ``shape`` whose values are not set."""
    _check_dtype("empty", dtype)
    return NDArray.make(_shape("empty", shape), device=device)


def full(shape, fill_value, dtype="float32", device=None) -> NDArray:
    """An NDArray of ``shape`` with every value ``fill_value``."""
    _check_dtype("full", dtype)
    out = NDArray.make(_shape("full", shape), device=device)
    out.fill(fill_value)
    return out


def _shape(function: str, shape) -> tuple[int, ...]:
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
        raise DefinitionError(f"{function}: shape {shape} is not a shape; give non-negative ints")
    return shape


def broadcast_to(a: NDArray, new_shape) -> NDArray:
    return a.broadcast_to(new_shape)


def reshape(a: NDArray, new_shape) -> NDArray:
    return a.reshape(new_shape)


def maximum(a: NDArray, b) -> NDArray:
    return a.maximum(b)


def log(a: NDArray) -> NDArray:
    return a.log()


def exp(a: NDArray) -> NDArray:
    return a.exp()


def tanh(a: NDArray) -> NDArray:
    return a.tanh()


def flip(a: NDArray, axes) -> NDArray:
    return a.flip(axes)


def summation(a: NDArray, axis=None, keepdims: bool = False) -> NDArray:
    return a.sum(axis=axis, keepdims=keepdims)


sum = summation  # noqa: A001 - needle's module-level name (``nd.sum(a, axis=1)``)


__all__ = [
    "BackendDevice", "NDArray", "all_devices", "array", "broadcast_to", "compact_strides", "cpu", "cpu_numpy", "cuda",
    "default_device", "empty", "exp", "flip", "full", "log", "maximum", "reshape", "sum", "summation", "tanh",
]
