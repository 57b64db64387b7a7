"""Checks of the arrays a compiled module is called with, shared by every backend."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tensorir.buffer import Buffer
from tensorir.errors import ArgumentError


def check_arrays(name: str, params: Sequence[Buffer], arrays: Sequence[object],
                 written: set[Buffer], symbolic: bool = False) -> list[np.ndarray]:
    """``arrays`` as numpy arrays matching ``params``, or an ArgumentError naming the first mismatch."""
    if len(arrays) != len(params):
        expected = ", ".join(p.name for p in params)
        raise ArgumentError(
            f"{name}: expected {len(params)} arrays ({expected}), got {len(arrays)}")
    checked = []
    for position, (param, array) in enumerate(zip(params, arrays)):
        where = f"{name}: argument {position} ({param.name})"
        want = f"{param.dtype.value}{list(param.shape)}"
        array = by_value(where, param, array)
        _check_scalar(where, param, array)
        if not isinstance(array, np.ndarray):
            raise ArgumentError(f"{where} must be a numpy array {want}, got {type(array).__name__}"
                                f"{_conversion(array, param.dtype.value)}")
        array = _plain(where, array)
        if array.dtype != param.dtype.numpy:
            raise ArgumentError(
                f"{where} must have dtype {param.dtype.value}, got {array.dtype}; "
                f"convert it with .astype(np.{param.dtype.value})")
        _check_rank(where, param, array)
        if symbolic and not _static_dims_match(param.shape, array.shape):
            raise ArgumentError(f"{where} must have shape {list(param.shape)}, got {list(array.shape)}")
        if not symbolic and tuple(array.shape) != tuple(param.shape):
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


def _conversion(value: object, dtype: str) -> str:
    """How to make ``value`` the array a kernel takes (kernels never convert: a silent copy of an
    output would drop what the kernel writes)."""
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        return "; pass its numpy view, tensor.detach().cpu().numpy() (outputs: a CPU tensor's view is written in place)"
    if hasattr(value, "numpy"):
        return "; pass its numpy array, value.numpy()"
    if isinstance(value, (list, tuple, int, float, complex, bool, np.generic)):
        return f"; convert it with np.asarray(value, dtype=np.{dtype}) (an output must be an array to be written)"
    return ""


def _plain(where: str, array: np.ndarray) -> np.ndarray:
    """``array`` as a plain ndarray over the same memory: a subclass's own arithmetic (``np.matrix``'s
    ``*`` is a product) must not reach the kernel, and a masked array's mask would be ignored."""
    if type(array) is np.ndarray:
        return array
    if isinstance(array, np.ma.MaskedArray):
        raise ArgumentError(f"{where} is a masked array; a kernel reads every element and would ignore its "
                            "mask: pass array.filled(value) (or array.data to read the masked elements too)")
    return array.view(np.ndarray)


def by_value(where: str, param: Buffer, value: object) -> object:
    """A float scalar parameter passed as a number: the 0-d array of its type holding it."""
    if not param.by_value or isinstance(value, np.ndarray):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentError(f"{where} is the float scalar parameter {param.name}; pass a number, e.g. 0.5, "
                            f"got {type(value).__name__} {value!r}")
    return np.array(value, dtype=param.dtype.numpy)


def passed_by_value(func, arrays: Sequence[object]) -> tuple[object, ...]:
    """``arrays`` with each number passed for a float scalar parameter of ``func`` made its 0-d
    array (for a backend that moves the arguments before checking them)."""
    params = func.params
    if len(arrays) != len(params) or not any(p.by_value for p in params):
        return tuple(arrays)
    return tuple(by_value(f"{func.name}: argument {n} ({p.name})", p, a)
                 for n, (p, a) in enumerate(zip(params, arrays)))


def _check_scalar(where: str, param: Buffer, value: object) -> None:
    """A rank-0 parameter is a 0-d array (writable storage), not a Python or numpy scalar."""
    if param.shape == () and not isinstance(value, np.ndarray) and np.isscalar(value):
        value = value.item() if isinstance(value, np.generic) else value
        raise ArgumentError(
            f"{where} is a rank-0 tensor of {param.dtype.value}; pass a 0-d numpy array, e.g. "
            f"np.array({value!r}, dtype=np.{param.dtype.value}), not the scalar {value!r}")


def _check_rank(where: str, param: Buffer, array: np.ndarray) -> None:
    """A scalar given where an array is wanted, or an array (often shape [1]) where a scalar is,
    gets its own message; other shape mismatches get the shape check's."""
    if array.ndim == len(param.shape) or (array.ndim and param.shape):
        return
    if param.shape == ():
        fix = "pass a 0-d array, e.g. np.array(x, dtype=...) or a.reshape(())"
    else:
        fix = f"reshape it to {list(param.shape)}"
    raise ArgumentError(
        f"{where} has rank {array.ndim} (shape {list(array.shape)}) but the parameter has rank "
        f"{len(param.shape)} (shape {list(param.shape)}); {fix}")


def _static_dims_match(shape: tuple, actual: tuple) -> bool:
    """The rank agrees and so does every int dimension (symbolic ones are bound later)."""
    return len(shape) == len(actual) and all(
        not isinstance(want, int) or want == got for want, got in zip(shape, actual))


class ArgumentSpec:
    """Fast acceptance of the common case: precomputed (dtype, shape, writable) per parameter;
    any mismatch falls back to :func:`check_arrays` for the precise error."""

    def __init__(self, name: str, params: Sequence[Buffer], written: set[Buffer]):
        self.name, self.params, self.written = name, list(params), written
        self.expected = [(p.dtype.numpy, tuple(p.shape), p in written) for p in params]

    def check(self, arrays: Sequence[object]) -> Sequence[np.ndarray]:
        if len(arrays) == len(self.expected):
            for array, (dtype, shape, writes) in zip(arrays, self.expected):
                if type(array) is not np.ndarray or array.dtype != dtype or array.shape != shape \
                        or not array.flags.c_contiguous or (writes and not array.flags.writeable):
                    break
            else:
                return arrays  # type: ignore[return-value]
        return check_arrays(self.name, self.params, arrays, self.written)


def _probe_data_offset() -> int | None:
    """Where an ndarray object keeps its data pointer, checked against numpy's own answer."""
    import ctypes

    probes = [np.zeros(3, np.float32), np.zeros((2, 5), np.int64)]
    for offset in (16,):
        if all(ctypes.c_void_p.from_address(id(p) + offset).value == p.ctypes.data for p in probes):
            return offset
    return None


_DATA_OFFSET = _probe_data_offset()


def data_pointers(arrays: Sequence[np.ndarray]) -> list[int]:
    """The addresses of the arrays' first elements."""
    if _DATA_OFFSET is None:
        return [a.ctypes.data for a in arrays]
    import ctypes

    read = ctypes.c_void_p.from_address
    return [read(id(a) + _DATA_OFFSET).value for a in arrays]
