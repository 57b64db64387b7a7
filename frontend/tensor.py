"""The autograd Tensor: host storage, the op that made it, and reverse-mode differentiation.

Applying an op runs its compiled kernel at once, except the elementwise ops on the CPU: they are
recorded as pending nodes and realized, fused into one kernel per connected group, when their
storage is first read (:mod:`frontend.lazy_graph`). Where gradients are wanted the result remembers the
op and its inputs. ``backward`` walks that graph in reverse
topological order and sums the partial adjoints that reach each node (seed Lec4); gradients
are themselves built from ops, so a gradient can be differentiated again.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from tensorir.errors import BackendUnavailable, DefinitionError
from tensorir.graph import post_order

from .lazy_errors import call_site
from .lazy_graph import Pending, _recorded, before_assign, hand_out, realize, record
from .lazy_graph import active as _lazy_active
from .lazy_storage import _exposed, expose, reads_exposed

if TYPE_CHECKING:
    from .ops.base import Op

DEVICES = ("cpu", "cuda")
DTYPES = ("float32", "float64", "int32", "int64")
_grad_state = threading.local()
#: numpy's dtype.name is slow to compute; the frontend asks for it on every op
_DTYPE_NAMES = {np.dtype(name): name for name in DTYPES}


def is_grad_enabled() -> bool:
    """Whether new ops record the graph for ``backward``."""
    return getattr(_grad_state, "enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Within this block, ops record no graph (evaluation, optimizer updates)."""
    previous = is_grad_enabled()
    _grad_state.enabled = False
    try:
        yield
    finally:
        _grad_state.enabled = previous


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Within this block, ops record the graph again (e.g. to differentiate a gradient)."""
    previous = is_grad_enabled()
    _grad_state.enabled = True
    try:
        yield
    finally:
        _grad_state.enabled = previous


def check_device(device: str) -> str:
    """``device`` if this machine can run it; BackendUnavailable with the reason otherwise."""
    if device == "cpu":
        return device
    if device != "cuda":
        raise DefinitionError(f"Tensor(device={device!r}): unknown device; use one of {', '.join(DEVICES)}")
    try:
        from backends.cuda.runtime import driver
    except ImportError as error:  # pragma: no cover - the cuda backend is optional
        raise BackendUnavailable(f"Tensor(device='cuda'): the CUDA backend is not installed ({error})") from None
    driver("Tensor(device='cuda')")
    return device


def _as_array(value, dtype) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value._storage()  # copied below
    from_numpy = isinstance(value, (np.ndarray, np.generic))
    array = np.asarray(value)
    if dtype is None and array.dtype.kind not in "biuf":
        dtype = array.dtype
    elif dtype is None:
        if from_numpy and array.dtype.name in DTYPES:
            dtype = array.dtype.name
        elif array.dtype.kind in "iu":
            dtype = "int64" if array.dtype.itemsize > 4 else "int32"
        else:
            dtype = "float32"
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise DefinitionError(f"Tensor: dtype {name} is not supported; use one of {', '.join(DTYPES)}")
    return np.array(array, dtype=name, order="C")


class Tensor:
    """An n-dimensional array on a device that records how it was computed.

    Parameters
    ----------
    data
        A numpy array, a nested list, a number or another Tensor (copied).
    dtype
        ``float32`` (the default for floats), ``float64``, ``int32`` or ``int64``.
    device
        ``"cpu"`` (kernels compiled through LLVM) or ``"cuda"`` (through the CUDA backend).
    requires_grad
        Whether ``backward`` computes ``.grad`` for this tensor.
    """

    __slots__ = ("_data", "_lazy", "op", "inputs", "requires_grad", "grad", "device", "__weakref__")

    def __init__(self, data, dtype=None, device: str = "cpu", requires_grad: bool = False):
        self._data, self._lazy = _as_array(data, dtype), None
        self.device = check_device(device)
        self.op: Op | None = None
        self.inputs: tuple[Tensor, ...] = ()
        self.requires_grad = bool(requires_grad)
        self.grad: Tensor | None = None

    @classmethod
    def wrap(cls, array: np.ndarray, device: str = "cpu", requires_grad: bool = False) -> Tensor:
        """A tensor over ``array`` without copying or checking it (for ops and loaders)."""
        tensor = cls.__new__(cls)
        tensor._data, tensor._lazy, tensor.device, tensor.op, tensor.inputs = array, None, device, None, ()
        tensor.requires_grad, tensor.grad = requires_grad, None
        return tensor

    @classmethod
    def from_op(cls, op: Op, inputs: tuple[Tensor, ...]) -> Tensor:
        """Run ``op`` on ``inputs`` (or, for an elementwise op on the CPU, check them and record
        it to run later, fused) and, where gradients are wanted, remember how."""
        device = inputs[0].device if inputs else "cpu"
        needs_grad = False
        for other in inputs:
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
            result._data, result._lazy = op.forward(*[t._storage() for t in inputs], device=device), None
        result.device, result.grad = device, None
        if needs_grad and getattr(_grad_state, "enabled", True):
            result.op, result.inputs, result.requires_grad = op, inputs, True
        else:
            result.op, result.inputs, result.requires_grad = None, (), False
        return result

    # -- properties ------------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The storage (a numpy array, shared, writable unless a broadcast view); reading it
        computes a pending tensor first. Writing into it in place is safe: the pending ops that
        read this memory are computed before it is handed out, and ops applied to it later run
        at once (:mod:`frontend.lazy_storage`); each keeps the values it was applied to."""
        if self._lazy is not None:
            realize(self)
        return hand_out(self)

    @data.setter
    def data(self, value) -> None:
        """Replace the storage by ``value`` (an array, shared and then held by both; or a
        Tensor, whose storage is shared); pending ops that read the old storage keep it."""
        if isinstance(value, Tensor):
            self.assign_storage(value._storage())
            return
        if not isinstance(value, np.ndarray):
            raise DefinitionError(f"Tensor.data: cannot assign a {type(value).__name__}; assign a numpy "
                                  "array or a Tensor (np.asarray(value) makes an array)")
        self.assign_storage(value)
        expose(value)

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
    def is_leaf(self) -> bool:
        return self.op is None

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
        return Tensor.wrap(self._storage(), self.device)

    def astype(self, dtype) -> Tensor:
        """``self`` converted to ``dtype``; gradients flow back through the conversion."""
        from .ops.elementwise import cast

        return cast(self, np.dtype(dtype).name)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self._storage(), precision=4, threshold=20)}, dtype={self.dtype}{grad})"

    def __len__(self) -> int:
        return self.shape[0]

    # -- autograd --------------------------------------------------------------------------
    def backward(self, out_grad: Tensor | None = None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires it.

        Parameters
        ----------
        out_grad
            The adjoint of this tensor; ones when omitted (then self should be a scalar).
        create_graph
            Record the gradient computation too, so ``.grad`` can be differentiated again.
        """
        if not self.requires_grad:
            raise DefinitionError("backward: this tensor does not require grad; create the leaves with "
                                  "requires_grad=True (and do not compute under no_grad)")
        if out_grad is None:
            from .ops.creation import ones_like

            out_grad = ones_like(self)
        elif tuple(out_grad.shape) != self.shape:
            raise DefinitionError(f"backward: out_grad has shape {out_grad.shape} but the tensor has {self.shape}")
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

    def sum(self, axis=None, keepdims: bool = False): return _ops().sum(self, axis, keepdims)
    def max(self, axis=None, keepdims: bool = False): return _ops().max(self, axis, keepdims)
    def mean(self, axis=None, keepdims: bool = False): return _ops().mean(self, axis, keepdims)
    def reshape(self, *shape): return _ops().reshape(self, shape[0] if len(shape) == 1 else shape)
    def transpose(self, *axes): return _ops().transpose(self, axes[0] if len(axes) == 1 else (axes or None))
    def broadcast_to(self, shape): return _ops().broadcast_to(self, shape)
    def exp(self): return _ops().exp(self)
    def log(self): return _ops().log(self)
    def tanh(self): return _ops().tanh(self)
    def sigmoid(self): return _ops().sigmoid(self)
    def relu(self): return _ops().relu(self)

    @property
    def T(self) -> Tensor:  # noqa: N802 - numpy's name
        return _ops().transpose(self, None)


_OPS = []


def _ops():
    if not _OPS:
        from . import ops

        _OPS.append(ops)
    return _OPS[0]


def topological_order(root: Tensor) -> list[Tensor]:
    """The nodes that ``root`` depends on and that require grad, inputs before their users."""
    return post_order([root], lambda node: [t for t in node.inputs if t.requires_grad])


def grad(output: Tensor, inputs, out_grad: Tensor | None = None, create_graph: bool = False) -> list[Tensor | None]:
    """The gradients of ``output`` with respect to ``inputs``, returned rather than accumulated
    into ``.grad``; with ``create_graph`` they can be differentiated again.

    Parameters
    ----------
    output
        The tensor to differentiate (a scalar unless ``out_grad`` is given).
    inputs
        Tensors that ``output`` depends on; None for those it does not reach.
    """
    if out_grad is None:
        from .ops.creation import ones_like

        out_grad = ones_like(output)
    with enable_grad() if create_graph else no_grad():
        found = _backpropagate(output, out_grad, {id(t) for t in inputs})
    return [found.get(id(t)) for t in inputs]


def _backpropagate(root: Tensor, out_grad: Tensor, wanted: set[int] | None = None) -> dict[int, Tensor]:
    """Reverse mode over the graph of ``root``: with ``wanted``, the summed adjoints of those
    tensors by id; without, leaves accumulate theirs into ``.grad``."""
    from .fusion import sum_all
    from .ops.elementwise import add

    partials: dict[int, list[Tensor]] = {id(root): [out_grad]}
    found: dict[int, Tensor] = {}
    for node in reversed(topological_order(root)):
        grads = partials.pop(id(node), None)
        if not grads:
            continue
        grad = grads[0] if len(grads) == 1 else sum_all(grads)
        grads = None  # the summed partials are not needed apart (the lazy graph need not store them)
        if wanted is not None and id(node) in wanted:
            found[id(node)] = grad
        if node.op is None:
            if wanted is None:
                node.grad = grad if node.grad is None else add(node.grad, grad)
            continue
        for tensor, partial in zip(node.inputs, node.op.gradient(grad, node)):
            if partial is not None and tensor.requires_grad:
                partials.setdefault(id(tensor), []).append(partial)
        tensor = partial = grad = None  # held only where they are needed
    return found
