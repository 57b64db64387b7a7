"""needle's hw3 ``NDArray``: a strided view (shape, strides in elements, offset) over a flat float32
buffer, whose arithmetic runs on Nestor kernels.

Views (``reshape`` of a compact array, ``permute``, ``broadcast_to``, ``__getitem__`` with ints and
slices) share the buffer and only change shape, strides and offset, as needle's do; ``compact()``
copies a view into a fresh buffer through the frontend's compact kernel; ``__setitem__`` writes
into the buffer in place. Elementwise, scalar, comparison, reduction and matrix operations are
the frontend's ops applied to the compacted values (kernels); numpy only holds the buffer.

Where needle's class asserts, this one raises a DefinitionError at the call naming the method,
the value and the fix; where it refuses forms numpy accepts (``reshape`` of a strided view,
``broadcast_to`` adding leading axes, a tuple of axes in ``sum``/``max``, batched ``@``) this one
computes them.
"""

from __future__ import annotations

import math

import numpy as np

from tensorir.errors import DefinitionError
from tensorir.shapes import check_tensor_size

from ..devices import Device
from ..tensor import check_device

DTYPE = "float32"


class Handle:
    """A flat float32 buffer; ``ptr()`` is its address (needle's tests compare it to see that a
    view or an in-place write kept the buffer)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array

    @property
    def size(self) -> int:
        return self.array.size

    def ptr(self) -> int:
        return int(self.array.ctypes.data)


def compact_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major strides, in elements, of an array of ``shape``."""
    strides, stride = [], 1
    for n in reversed(shape):
        strides.append(stride)
        stride *= n
    return tuple(reversed(strides))


def _as_device(device) -> Device:
    return Device(check_device(device))


def _values(other) -> np.ndarray:
    """``other`` (an array, nested lists, numbers, a Tensor) as float32 values, checked."""
    from ..tensor import Tensor

    if isinstance(other, Tensor):
        other = other.numpy()
    try:
        values = np.asarray(other)
    except ValueError as error:
        raise DefinitionError(f"NDArray: cannot make an array of {str(other)[:60]!r} ({error}); give numbers, a "
                              "numpy array or nested lists of one shape") from None
    if values.dtype.kind not in "biuf":
        raise DefinitionError(f"NDArray: cannot make float32 values of {str(other)[:60]!r} (a "
                              f"{type(other).__name__}); give numbers, a numpy array or nested lists of one shape")
    return values.astype(np.float32)


class NDArray:
    """A float32 n-dimensional strided array on a device (needle's ``backend_ndarray.NDArray``).

    Parameters
    ----------
    other
        An NDArray (copied, compact, onto ``device``), a numpy array, nested lists, a number or a
        Tensor; the values are stored as float32, as needle's backends store them.
    device
        ``cpu()`` (the default) or ``cuda()``.

    Raises
    ------
    DefinitionError
        When ``other`` holds no numbers or the device is unknown.
    """

    __slots__ = ("_shape", "_strides", "_offset", "_device", "_handle")

    def __init__(self, other, device=None):
        if isinstance(other, NDArray):
            device = other.device if device is None else device
            values = other.compact()._flat_view().reshape(other.shape)
        else:
            values = _values(other)
        self._init(NDArray.make(values.shape, device=device))
        self._handle.array[:] = values.reshape(-1)

    def _init(self, other: NDArray) -> None:
        self._shape, self._strides, self._offset = other._shape, other._strides, other._offset
        self._device, self._handle = other._device, other._handle

    @staticmethod
    def make(shape, strides=None, device=None, handle: Handle | None = None, offset: int = 0) -> NDArray:
        """An NDArray of ``shape`` with the given ``strides`` over ``handle`` (a new buffer when None).

        Raises
        ------
        DefinitionError
            When the shape is not one, is too large, or the view would reach outside ``handle``.
        """
        shape = _ints("NDArray.make", "shape", shape, 0)
        check_tensor_size(shape, "NDArray.make")
        array = NDArray.__new__(NDArray)
        array._shape, array._offset, array._device = shape, int(offset), _as_device(device)
        array._strides = compact_strides(shape) if strides is None else _ints("NDArray.make", "strides", strides, None)
        array._handle = Handle(np.empty(math.prod(shape), dtype=np.float32)) if handle is None else handle
        _check_inside(array)
        return array

    # -- what the array is ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def strides(self) -> tuple[int, ...]:
        return self._strides

    @property
    def device(self) -> Device:
        return self._device

    @property
    def dtype(self) -> str:
        return DTYPE

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        return math.prod(self._shape)

    compact_strides = staticmethod(compact_strides)

    def _view(self) -> np.ndarray:
        """The values as a numpy view of the buffer (shares memory; for reading and writing)."""
        base = self._handle.array[self._offset:] if self._offset else self._handle.array
        if not self.size:
            return np.empty(self._shape, dtype=np.float32)
        return np.lib.stride_tricks.as_strided(base, self._shape, tuple(s * 4 for s in self._strides))

    def _flat_view(self) -> np.ndarray:
        return self._handle.array[self._offset:self._offset + self.size]

    def numpy(self) -> np.ndarray:
        """A numpy copy of the values."""
        return np.array(self._view())

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self.numpy()
        return values if dtype is None else values.astype(dtype)

    def __repr__(self) -> str:
        return f"NDArray({self.numpy()}, device={self.device!r})"

    def __str__(self) -> str:
        return str(self.numpy())

    def to(self, device) -> NDArray:
        """This array when already on ``device``, else a compact copy there."""
        return self if _as_device(device) == self.device else NDArray(self, device=device)

    def fill(self, value) -> None:
        """Set every element (of this view) to ``value`` in place."""
        self._view()[...] = _scalar("fill", value)

    # -- views ------------------------------------------------------------------------------------
    def is_compact(self) -> bool:
        """Whether the view is the whole buffer in row-major order."""
        return self._strides == compact_strides(self._shape) and self.size == self._handle.size

    def compact(self) -> NDArray:
        """This array when compact, else a row-major copy (made by the frontend's compact kernel)."""
        if self.is_compact():
            return self
        from ..ops.base import contiguous

        out = NDArray.make(self._shape, device=self.device)
        if self.size:
            out._handle.array[:] = contiguous(self._view(), self.device.name).reshape(-1)
        return out

    def as_strided(self, shape, strides) -> NDArray:
        """A view of the same buffer with ``shape`` and ``strides`` (in elements); refused where it
        would reach outside the buffer."""
        return NDArray.make(shape, strides, self.device, self._handle, self._offset)

    @property
    def flat(self) -> NDArray:
        return self.reshape((self.size,))

    def reshape(self, new_shape) -> NDArray:
        """The values with ``new_shape`` (one -1 is inferred): a view of a compact array, a
        compacted copy of a strided one."""
        new_shape = _reshape_target(self._shape, new_shape)
        source = self if self.is_compact() else self.compact()
        return NDArray.make(new_shape, None, self.device, source._handle, source._offset)

    def permute(self, new_axes) -> NDArray:
        """A view with the axes reordered (``new_axes`` lists every axis once, numpy's ``transpose``)."""
        axes = tuple(new_axes)
        if sorted(a % self.ndim if isinstance(a, (int, np.integer)) and -self.ndim <= a < self.ndim else -1
                  for a in axes) != list(range(self.ndim)):
            raise DefinitionError(f"NDArray.permute: {axes} is not a permutation of the {self.ndim} axes of "
                                  f"{self._shape}; list every axis once")
        axes = tuple(int(a) % self.ndim for a in axes)
        return self.as_strided(tuple(self._shape[a] for a in axes), tuple(self._strides[a] for a in axes))

    def broadcast_to(self, new_shape) -> NDArray:
        """A view repeating axes of extent 1 (stride 0) to ``new_shape``; new leading axes as numpy adds them."""
        new_shape = _ints("NDArray.broadcast_to", "shape", new_shape, 0)
        lead = len(new_shape) - self.ndim
        if lead < 0 or any(n != m and n != 1 for n, m in zip(self._shape, new_shape[lead:])):
            raise DefinitionError(f"NDArray.broadcast_to: {self._shape} cannot be broadcast to {new_shape}; only "
                                  "axes of extent 1 repeat (and new axes may be added in front)")
        strides = (0,) * lead + tuple(0 if n != m else s for n, m, s in zip(self._shape, new_shape[lead:],
                                                                            self._strides))
        return self.as_strided(new_shape, strides)

    def process_slice(self, sl: slice, dim: int) -> slice:
        """``sl`` with its start, stop and step made explicit for axis ``dim`` (numpy's rules; a
        reversed slice through the first element has stop -1)."""
        start, stop, step = sl.indices(self._shape[dim])
        return slice(start, stop, step)

    def __getitem__(self, idxs) -> NDArray:
        """A view of the elements ``idxs`` picks: one int or slice per axis (an int keeps its axis,
        with extent 1, as needle's does; missing trailing axes are taken whole)."""
        starts, shape, strides = _index(self, idxs)
        offset = self._offset + sum(i * s for i, s in zip(starts, self._strides))
        return NDArray.make(shape, strides, self.device, self._handle, offset)

    def __setitem__(self, idxs, other) -> None:
        """Write ``other`` (an NDArray of the view's size, or a number) into the elements ``idxs``
        picks, in place."""
        view = self[idxs]
        target = view._view()
        if isinstance(other, NDArray):
            if other.size != view.size:
                raise DefinitionError(f"NDArray.__setitem__: {other.size} values of shape {other.shape} for "
                                      f"{view.size} elements of shape {view.shape}; give as many values")
            target[...] = other.compact()._flat_view().reshape(view.shape)
        else:
            target[...] = _scalar("__setitem__", other)

    __hash__ = None  # compared elementwise (``==`` gives an array), so not hashable, as numpy's


def _ints(method: str, what: str, values, low: int | None) -> tuple[int, ...]:
    """``values`` as a tuple of ints (each at least ``low`` unless None), or an error naming ``method``."""
    values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or (low is not None and v < low)
           for v in values):
        kind = "ints" if low is None else f"ints of at least {low}"
        raise DefinitionError(f"{method}: {what} {values} is not a tuple of {kind}; give e.g. (2, 3)")
    return tuple(int(v) for v in values)


def _check_inside(array: NDArray) -> None:
    """A view must read only its buffer: its first and last reachable elements lie inside it."""
    if len(array._strides) != len(array._shape):
        raise DefinitionError(f"NDArray.as_strided: shape {array._shape} and strides {array._strides} differ in "
                              "length; give one stride per axis")
    if not math.prod(array._shape):
        return
    low = array._offset + sum((n - 1) * s for n, s in zip(array._shape, array._strides) if s < 0)
    high = array._offset + sum((n - 1) * s for n, s in zip(array._shape, array._strides) if s > 0)
    if low < 0 or high >= array._handle.size:
        raise DefinitionError(f"NDArray.as_strided: shape {array._shape} with strides {array._strides} at offset "
                              f"{array._offset} reaches elements {low}..{high} of a buffer of "
                              f"{array._handle.size}; keep the view inside the buffer")


def _scalar(method: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DefinitionError(f"NDArray.{method}: {value!r} is not a number; give a number or an NDArray")
    return float(value)


def _reshape_target(shape: tuple[int, ...], new_shape) -> tuple[int, ...]:
    new_shape = tuple(new_shape) if isinstance(new_shape, (tuple, list)) else (new_shape,)
    size = math.prod(shape)
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < -1 for n in new_shape) \
            or list(new_shape).count(-1) > 1:
        raise DefinitionError(f"NDArray.reshape: {new_shape} is not a shape; give non-negative ints (one -1 at most)")
    if -1 in new_shape:
        known = math.prod(n for n in new_shape if n != -1)
        if known == 0 or size % known:
            raise DefinitionError(f"NDArray.reshape: {shape} ({size} elements) cannot take the shape {new_shape}")
        new_shape = tuple(size // known if n == -1 else int(n) for n in new_shape)
    if math.prod(new_shape) != size:
        raise DefinitionError(f"NDArray.reshape: {shape} ({size} elements) cannot take the shape {new_shape} "
                              f"({math.prod(new_shape)} elements); keep the number of elements")
    return tuple(int(n) for n in new_shape)


def _index(array: NDArray, idxs) -> tuple[list[int], tuple[int, ...], tuple[int, ...]]:
    """The first element, shape and strides of the view ``idxs`` picks."""
    idxs = idxs if isinstance(idxs, tuple) else (idxs,)
    if len(idxs) > array.ndim:
        raise DefinitionError(f"NDArray[{idxs}]: {len(idxs)} indices for an array of {array.ndim} axes "
                              f"{array.shape}; give at most one per axis")
    starts, shape, strides = [], [], []
    for dim, (n, stride) in enumerate(zip(array.shape, array.strides)):
        index = idxs[dim] if dim < len(idxs) else slice(None)
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            if not -n <= index < n:
                raise DefinitionError(f"NDArray[...]: index {index} is out of range for axis {dim} of extent {n}; "
                                      f"use {-n} to {n - 1}")
            index = slice(int(index) % n, int(index) % n + 1, 1)
        if not isinstance(index, slice):
            raise DefinitionError(f"NDArray[...]: index {index!r} on axis {dim} is neither an int nor a slice; "
                                  "index with ints and slices (a view), or use numpy() for other indexing")
        if index.step == 0:
            raise DefinitionError(f"NDArray[...]: slice {index} on axis {dim} has step 0; give a non-zero step")
        start, stop, step = index.indices(n)  # (process_slice's stop of -1 would read as n - 1 here)
        starts.append(start if len(range(start, stop, step)) else 0)
        shape.append(len(range(start, stop, step)))
        strides.append(stride * step)
    return starts, tuple(shape), tuple(strides)


def _bind_arithmetic() -> None:
    """The operations computed by kernels (:mod:`.arithmetic`) as NDArray's methods."""
    from . import arithmetic

    for name in arithmetic.METHODS:
        setattr(NDArray, name, getattr(arithmetic, name))


_bind_arithmetic()
