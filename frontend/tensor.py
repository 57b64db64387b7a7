"""The autograd Tensor: host storage, the op that made it, and its entry to reverse mode.

Applying an op runs its compiled kernel at once, except the elementwise ops on the CPU: they are
recorded as pending nodes and realized, fused into one kernel per connected group, when their
storage is first read (:mod:`frontend.lazy_graph`). Where gradients are wanted the result remembers the
op and its inputs; ``backward`` hands that graph to :mod:`frontend.autograd`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from tensorir.errors import BackendUnavailable, DefinitionError

from .autograd import _backpropagate, _grad_state, _regrown, enable_grad, no_grad
from .lazy_errors import call_site
from .lazy_graph import Pending, _recorded, before_assign, hand_out, realize, record
from .lazy_graph import active as _lazy_active
from .lazy_storage import _exposed, expose, reads_exposed
from .replay import forward as replayed

if TYPE_CHECKING:
    from .ops.base import Op

DEVICES = ("cpu", "cuda")
DTYPES = ("float32", "float64", "int32", "int64")
#: numpy's dtype.name is slow to compute; the frontend asks for it on every op
_DTYPE_NAMES = {np.dtype(name): name for name in DTYPES}


def check_device(device: str) -> str:
    """``device`` if this machine can run it; BackendUnavailable with the reason otherwise. None
    (needle's default argument) is the CPU."""
    if device is None or device == "cpu":
        return "cpu"  # a plain string, also for needle's Device("cpu")
    if device != "cuda":
        raise DefinitionError(f"Tensor(device={device!r}): unknown device; use one of {', '.join(DEVICES)}")
    try:
        from backends.cuda.runtime import driver
    except ImportError as error:  # pragma: no cover - the cuda backend is optional
        raise BackendUnavailable(f"Tensor(device='cuda'): the CUDA backend is not installed ({error})") from None
    driver("Tensor(device='cuda')")
    return "cuda"


def _as_array(value, dtype) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value._storage()  # copied below
    from_numpy = isinstance(value, (np.ndarray, np.generic))
    try:
        array = np.asarray(value)
    except ValueError as error:  # nested lists of different lengths
        raise DefinitionError(f"Tensor: cannot make an array of {str(value)[:60]!r} ({error}); give numbers, "
                              "a numpy array or nested lists of one shape") from None
    if dtype is None and array.dtype.kind not in "biuf":
        dtype = array.dtype
    elif dtype is None:
        if from_numpy and array.dtype.name in DTYPES:
            dtype = array.dtype.name
        elif array.dtype.kind in "iu":
            dtype = "int64" if array.dtype.itemsize > 4 else "int32"
        elif not from_numpy and array.dtype == np.float64:  # Python numbers, lists: numpy's and needle's float64
            dtype = "float64"
        else:
            dtype = "float32"
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name not in DTYPES:
        raise DefinitionError(f"Tensor: dtype {name} is not supported; use one of {', '.join(DTYPES)}")
    if array.dtype.kind not in "biuf":  # numpy would parse strings, drop imaginary parts, make None NaN
        raise DefinitionError(f"Tensor: cannot make {name} values of {str(value)[:60]!r} (a {type(value).__name__}, "
                              "not numbers); give numbers, a numpy array or nested lists of one shape")
    try:
        return np.array(array, dtype=name, order="C")
    except (TypeError, ValueError) as error:
        raise DefinitionError(f"Tensor: cannot make {name} values of {str(value)[:60]!r} ({error}); give numbers, "
                              "a numpy array or nested lists of one shape") from None


def _forward_now(op: Op, inputs: tuple[Tensor, ...], device: str) -> np.ndarray:
    """``op``'s forward run at once (see :func:`_forward_empty` for empty inputs)."""
    arrays = [t._storage() for t in inputs]
    for position, array in enumerate(arrays):
        if 0 in array.shape:
            return _forward_empty(op, inputs, arrays, position, device)
    return replayed(op, arrays, device)


def _forward_empty(op: Op, inputs: tuple[Tensor, ...], arrays: list[np.ndarray], empty: int,
                   device: str) -> np.ndarray:
    """An elementwise op on an empty input (a dimension 0) gives its empty result, as when
    realized later; any other op runs where it can (views, movement) and otherwise says which
    input was empty at the call, not which internal placeholder or tuning task."""
    if op.lazy and not op.reduces:
        shape, dtype = op.infer(inputs)
        return np.empty(shape, dtype)
    from schedules.autotune import TuningWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TuningWarning)  # no task of empty sizes: the error below says why
            return op.forward(*arrays, device=device)
    except DefinitionError as error:
        raise DefinitionError(f"{op.name}: input {empty} of shape {arrays[empty].shape} is empty and {op.name} "
                              f"needs every dimension positive ({error}); slice or pad it to a nonempty shape, "
                              "or skip the op where a dimension is 0") from None


class CachedArray(np.ndarray):
    """A numpy array (a view of a tensor's storage) with needle's NDArray accessors."""

    def numpy(self) -> np.ndarray:
        """A plain numpy copy of the values."""
        return np.array(self)

    def compact(self) -> CachedArray:
        return self if self.flags.c_contiguous else np.ascontiguousarray(self).view(CachedArray)

    @property
    def device(self) -> str:
        return "cpu"


class Tensor:
    """An n-dimensional array on a device that records how it was computed.

    Parameters
    ----------
    data
        A numpy array, a nested list, a number or another Tensor (copied).
    dtype
        ``float32``, ``float64``, ``int32`` or ``int64``. By default a numpy array keeps its
        dtype (float16 and booleans become float32) and Python numbers and lists take numpy's
        (float64, int64), as in needle.
    device
        ``"cpu"`` (kernels compiled through LLVM) or ``"cuda"`` (through the CUDA backend).
    requires_grad
        Whether ``backward`` computes ``.grad`` for this tensor (by default it does, as in needle;
        the batches of a DataLoader do not).
    """

    #: ``_origin`` (set on a gradient that ``backward`` made without a graph): where it came from,
    #: so that it can still be differentiated (:func:`_regrown`)
    __slots__ = ("_data", "_lazy", "op", "inputs", "requires_grad", "grad", "device", "_origin", "__weakref__")

    def __init__(self, data, dtype=None, device: str = "cpu", requires_grad: bool = True):
        self._data, self._lazy = _as_array(data, dtype), None
        self.device = check_device(device)
        self.op: Op | None = None
        self.inputs: tuple[Tensor, ...] = ()
        self.requires_grad = bool(requires_grad)
        self.grad: Tensor | None = None

    @classmethod
    def wrap(cls, array: np.ndarray, device: str = "cpu", requires_grad: bool = False) -> Tensor:
        """A tensor over ``array`` without copying it; the caller keeps ``array``.

        The caller may go on writing into ``array``, so its memory counts as handed out
        (:mod:`frontend.lazy_storage`): an op applied to the tensor runs at the call and keeps
        the values it was applied to, as ``Tensor(array)`` (a copy) would, with no copy made.

        Parameters
        ----------
        array
            A numpy array of dtype ``float32``, ``float64``, ``int32`` or ``int64``, of any
            layout (strided and Fortran-ordered views are read in place or compacted by the op).
        device
            ``"cpu"`` or ``"cuda"``.
        requires_grad
            Whether ``backward`` computes ``.grad`` for this tensor.

        Raises
        ------
        DefinitionError
            ``array`` is not a numpy array, or not of one of the dtypes above.
        """
        if not isinstance(array, np.ndarray):
            raise DefinitionError(f"Tensor.wrap: expected a numpy array, got {type(array).__name__}; "
                                  "Tensor(value) makes a tensor of numbers, lists or other arrays (a copy)")
        if array.dtype not in _DTYPE_NAMES:
            raise DefinitionError(f"Tensor.wrap: dtype {array.dtype} is not supported; use one of "
                                  f"{', '.join(DTYPES)}, e.g. Tensor(array, dtype='float32') (a converted copy)")
        tensor = cls._wrap(array, check_device(device), bool(requires_grad))
        expose(array)
        return tensor

    @classmethod
    def _wrap(cls, array: np.ndarray, device: str = "cpu", requires_grad: bool = False) -> Tensor:
        """A tensor over ``array`` without copying or checking it, for the frontend's own arrays
        (kernel outputs, its buffers): storage that nobody outside writes into."""
        tensor = cls.__new__(cls)
        tensor._data, tensor._lazy, tensor.device, tensor.op, tensor.inputs = array, None, device, None, ()
        tensor.requires_grad, tensor.grad = requires_grad, None
        return tensor

    @classmethod
    def make_const(cls, data, requires_grad: bool = False) -> Tensor:
        """needle's leaf over ``data``: a Tensor's storage (shared) or an array's values."""
        if isinstance(data, Tensor):
            return _data_module().detached(data, requires_grad)
        return cls(data, requires_grad=requires_grad)

    @classmethod
    def make_from_op(cls, op: Op, inputs) -> Tensor:
        """needle's name for :meth:`from_op`: ``op`` applied to ``inputs`` (a list or tuple)."""
        return cls.from_op(op, tuple(inputs))

    @classmethod
    def from_op(cls, op: Op, inputs: tuple[Tensor, ...]) -> Tensor:
        """Run ``op`` on ``inputs`` (or, for an elementwise op on the CPU, check them and record
        it to run later, fused) and, where gradients are wanted, remember how."""
        device = getattr(inputs[0], "device", None) if inputs else "cpu"
        needs_grad = False
        for position, other in enumerate(inputs):
            if not isinstance(other, Tensor):
                raise DefinitionError(f"{op.name}: input {position} is a {type(other).__name__}, not a Tensor; "
                                      "wrap it first: Tensor(value)")
            if other.device != device:
                raise DefinitionError(f"{op.name}: inputs are on devices {device} and {other.device}; "
                                      "move them to one device first")
            needs_grad = needs_grad or other.requires_grad
        result = cls.__new__(cls)
        # an op reading storage the user holds runs now: a write through it must not reach the op
        if op.lazy and device == "cpu" and _lazy_active() and not (_exposed and reads_exposed(inputs)):
            shape, dtype = op.infer(inputs)
            result._data, result._lazy = None, Pending(op, inputs, shape, dtype, call_site())
            record(result)
        else:
            result._data, result._lazy = _forward_now(op, inputs, device), None
        result.device, result.grad = device, None
        if needs_grad and getattr(_grad_state, "enabled", True):
            result.op, result.inputs, result.requires_grad = op, inputs, True
        else:
            result.op, result.inputs, result.requires_grad = None, (), False
        return result

    # -- properties ------------------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """needle's ``data`` (its ``detach()``): the values (computed first if pending) over the
        same storage, requiring no grad. ``t.data[...] = v`` writes into that storage and
        ``np.asarray(t.data)`` is the stored array itself; both are safe for pending ops
        (:mod:`frontend.tensor_data`)."""
        return _data_module().detached(self)

    @data.setter
    def data(self, value) -> None:
        """Replace the storage by ``value`` (an array, shared and then held by both; or a
        Tensor, whose storage is shared); pending ops that read the old storage keep it."""
        if isinstance(value, Tensor):
            self.assign_storage(value._storage())
            return
        if not isinstance(value, np.ndarray):
            raise DefinitionError(f"Tensor.data: cannot assign a {type(value).__name__}; assign a Tensor or a numpy "
                                  "array (Tensor(value) or np.asarray(value) makes one)")
        if value.dtype not in _DTYPE_NAMES:  # an int8 parameter would get no gradient, silently
            raise DefinitionError(f"Tensor.data: cannot assign an array of dtype {value.dtype}; use one of "
                                  f"{', '.join(DTYPES)}, e.g. value.astype('{self.dtype}')")
        self.assign_storage(value)
        expose(value)

    def __setitem__(self, index, value) -> None:
        """Write ``value`` into the storage at ``index`` (a tensor that requires no grad, such as
        ``t.data``); the pending ops that read it keep the values they were applied to."""
        _data_module().write(self, index, value)

    def assign_storage(self, array: np.ndarray) -> None:
        """Replace the storage by ``array``, which the caller gives up (a kernel's output: the
        optimizers' updates); pending ops that read the old storage are computed first."""
        if _recorded:  # pending tensors that read the storage being replaced keep the old values
            before_assign(self)
        self._data, self._lazy = array, None

    def _storage(self) -> np.ndarray:
        """The storage for the frontend's own reads (realized first; never written, never handed out)."""
        if self._lazy is not None:
            realize(self)
        return self._data

    @property
    def shape(self) -> tuple[int, ...]:
        data = self._data
        return data.shape if data is not None else self._lazy.shape

    @property
    def dtype(self) -> str:
        data = self._data
        if data is None:
            return self._lazy.dtype
        dtype = data.dtype
        return _DTYPE_NAMES.get(dtype) or dtype.name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def is_leaf(self):
        """Whether no op made this tensor: a truth value, also callable as needle's ``is_leaf()``."""
        flags = _data_module().LEAF_FLAGS
        return flags[self.op is None]

    def numpy(self) -> np.ndarray:
        """A copy of the values as a numpy array (writing into it changes nothing here)."""
        return np.array(self._storage())

    def item(self) -> float | int:
        """The value of a one-element tensor as a Python number."""
        data = self._storage()
        if data.size != 1:
            raise DefinitionError(f"item: the tensor has shape {self.shape}; item() needs exactly one element")
        return data.reshape(-1)[0].item()

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares storage)."""
        return Tensor._wrap(self._storage(), self.device)

    def astype(self, dtype) -> Tensor:
        """``self`` converted to ``dtype``; gradients flow back through the conversion."""
        from .ops.elementwise import cast

        return cast(self, np.dtype(dtype).name)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self._storage(), precision=4, threshold=20)}, dtype={self.dtype}{grad})"

    def __str__(self) -> str:
        """The values as numpy prints them (needle's ``str``)."""
        return str(self._storage())

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor: it has no first axis")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        """The sub-tensors along the first axis (views), as numpy iterates an array."""
        return (self[k] for k in range(len(self)))

    # -- autograd --------------------------------------------------------------------------
    def backward(self, out_grad: Tensor | None = None, create_graph: bool = False) -> None:
        """Set ``.grad`` of every leaf that requires it to d(self)/d(leaf) (as needle does: a
        second ``backward`` replaces the gradients of the first, it does not add to them).

        Parameters
        ----------
        out_grad
            The adjoint of this tensor, a Tensor of its shape; ones when omitted. On a tensor that
            requires no grad (a constant, or an op on constants) the graph is that tensor alone,
            as in needle: it gets ``out_grad`` as its ``.grad`` and nothing else changes.
        create_graph
            Record the gradient computation too, so ``.grad`` can be differentiated again. Without
            it a leaf's ``.grad`` can still be differentiated (as in needle) while this tensor
            lives: its graph is then built again.
        """
        if not self.requires_grad:
            regrown = _regrown(self)
            if regrown is not None:
                return regrown.backward(out_grad, create_graph)
            origin = getattr(self, "_origin", None)
            if origin is not None and (origin[0]() is None or origin[2]() is None):  # its output is gone
                raise DefinitionError("backward: this gradient's graph is gone with the output it came from; "
                                      "to differentiate a gradient, make it with backward(create_graph=True)")
        from .node_grads import checked_out_grad

        out_grad = checked_out_grad("backward", self, out_grad)
        if not self.requires_grad:  # needle: the graph is this node alone, whose adjoint is out_grad
            self.grad = out_grad
            return None
        context = enable_grad() if create_graph else no_grad()
        with context:
            _backpropagate(self, out_grad)

    # -- operators (defined in frontend.ops, attached here) ----------------------------------
    def __add__(self, other): return _ops().add(self, other)
    def __radd__(self, other): return _ops().add(other, self)
    def __sub__(self, other): return _ops().subtract(self, other)
    def __rsub__(self, other): return _ops().subtract(other, self)
    def __mul__(self, other): return _ops().multiply(self, other)
    def __rmul__(self, other): return _ops().multiply(other, self)
    def __truediv__(self, other): return _ops().divide(self, other)
    def __rtruediv__(self, other): return _ops().divide(other, self)
    def __pow__(self, other): return _ops().power(self, other)
    def __rpow__(self, other): return _ops().power(other, self)
    def __neg__(self): return _ops().negative(self)
    def __matmul__(self, other): return _ops().matmul(self, other)
    def __getitem__(self, index): return _ops().getitem(self, index)

    def sum(self, axis=None, keepdims: bool = False, axes=None): return _ops().sum(self, axis, keepdims, axes)
    def max(self, axis=None, keepdims: bool = False, axes=None): return _ops().max(self, axis, keepdims, axes)
    def min(self, axis=None, keepdims: bool = False, axes=None): return _ops().min(self, axis, keepdims, axes)
    def mean(self, axis=None, keepdims: bool = False, axes=None): return _ops().mean(self, axis, keepdims, axes)
    def reshape(self, *shape): return _ops().reshape(self, shape[0] if len(shape) == 1 else shape)
    def matmul(self, other): return _ops().matmul(self, other)
    def __rmatmul__(self, other): return _ops().matmul(other, self)

    def transpose(self, *axes, **named):
        """Needle's meaning: no axes swaps the last two, two axes swap those two; a permutation
        of all the axes permutes them (see :func:`frontend.ops.transpose`)."""
        return _ops().transpose(self, axes[0] if len(axes) == 1 else (axes or named.pop("axes", None)), **named)
    def broadcast_to(self, shape): return _ops().broadcast_to(self, shape)
    def exp(self): return _ops().exp(self)
    def log(self): return _ops().log(self)
    def tanh(self): return _ops().tanh(self)
    def sigmoid(self): return _ops().sigmoid(self)
    def relu(self): return _ops().relu(self)

    @property
    def T(self) -> Tensor:  # noqa: N802 - numpy's name: all the axes reversed
        return _ops().permute(self, tuple(range(self.ndim))[::-1])

    # -- needle's accessors: the storage under needle's names, numpy interoperation ------------
    #: numpy defers its operators to the Tensor's (``array @ tensor`` is ``Tensor.__rmatmul__``)
    __array_priority__ = 1000

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.numpy() if dtype is None else self.numpy().astype(dtype)

    @property
    def cached_data(self) -> CachedArray:
        """The storage (needle's name): a view of :attr:`data` that also answers needle's
        NDArray calls (``.numpy()``), so code of every needle homework reads it."""
        if self._lazy is not None:
            realize(self)
        return hand_out(self).view(CachedArray)

    @cached_data.setter
    def cached_data(self, value) -> None:
        """needle's way to set the storage: as assigning :attr:`data`."""
        self.data = value

    def realize_cached_data(self) -> CachedArray:
        """The storage, computed first if pending (needle's name; see :attr:`cached_data`)."""
        return self.cached_data


_OPS = []
_DATA = []


def _data_module():
    if not _DATA:
        from . import tensor_data

        _DATA.append(tensor_data)
    return _DATA[0]


def _ops():
    if not _OPS:
        from . import ops

        _OPS.append(ops)
    return _OPS[0]
