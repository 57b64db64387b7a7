"""NDArray's operations, each the frontend's op (a Nestor kernel) applied to the compacted values.

An operand is handed to the frontend as a tensor over the NDArray's buffer (``Tensor.wrap``: the
op runs at the call, so a later ``__setitem__`` cannot reach it), no graph is recorded, and the
kernel's output becomes the buffer of the resulting NDArray.
"""

from __future__ import annotations

import numpy as np

from tensorir.errors import DefinitionError

from .. import ops
from ..autograd import no_grad
from ..ops import compare
from ..tensor import Tensor
from .ndarray import Handle, NDArray

METHODS = ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
           "__pow__", "__neg__", "__eq__", "__ne__", "__ge__", "__matmul__", "maximum", "log", "exp", "tanh",
           "sum", "max", "flip", "pad")


def as_tensor(array: NDArray) -> Tensor:
    """A tensor over ``array``'s compacted values (no copy when it is compact)."""
    values = array.compact()._flat_view().reshape(array.shape)
    return Tensor.wrap(values, device=array.device.name)


def from_tensor(tensor: Tensor, device, *sources: NDArray) -> NDArray:
    """An NDArray over ``tensor``'s values: its buffer when that is contiguous and none of
    ``sources``' buffers, else a copy."""
    stored = tensor._storage()
    values = np.ascontiguousarray(stored, dtype=np.float32).reshape(stored.shape)  # 0-d stays 0-d
    if any(np.may_share_memory(values, s._handle.array) for s in sources):
        values = values.copy()
    return NDArray.make(values.shape, device=device, handle=Handle(values.reshape(-1)))


def _operand(method: str, other):
    if isinstance(other, NDArray):
        return as_tensor(other)
    if isinstance(other, (int, float, np.integer, np.floating)) and not isinstance(other, bool):
        return float(other)
    raise DefinitionError(f"NDArray.{method}: {type(other).__name__} operand {str(other)[:40]!r}; give an "
                          "NDArray or a number")


def _binary(method: str, function, reverse: bool = False):
    def apply(self: NDArray, other) -> NDArray:
        with no_grad():
            a, b = as_tensor(self), _operand(method, other)
            out = function(b, a) if reverse else function(a, b)
            return from_tensor(out, self.device, self, *([other] if isinstance(other, NDArray) else []))

    apply.__name__ = method
    apply.__doc__ = f"``{method}`` elementwise (operands broadcast as in numpy), one kernel."
    return apply


def _unary(method: str, function):
    def apply(self: NDArray) -> NDArray:
        with no_grad():
            return from_tensor(function(as_tensor(self)), self.device, self)

    apply.__name__ = method
    apply.__doc__ = f"``{method}`` of every element, one kernel."
    return apply


__add__ = __radd__ = _binary("__add__", ops.add)
__sub__ = _binary("__sub__", ops.subtract)
__rsub__ = _binary("__rsub__", ops.subtract, reverse=True)
__mul__ = __rmul__ = _binary("__mul__", ops.multiply)
__truediv__ = _binary("__truediv__", ops.divide)
__rtruediv__ = _binary("__rtruediv__", ops.divide, reverse=True)
__pow__ = _binary("__pow__", ops.power)
__eq__ = _binary("__eq__", compare.equal)
__ge__ = _binary("__ge__", compare.greater_equal)
maximum = _binary("maximum", compare.maximum)
__neg__ = _unary("__neg__", ops.negative)
log = _unary("log", ops.log)
exp = _unary("exp", ops.exp)
tanh = _unary("tanh", ops.tanh)


def __ne__(self: NDArray, other) -> NDArray:
    """1 where the elements differ, else 0 (``1 - (self == other)``)."""
    return 1.0 - (self == other)


def __matmul__(self: NDArray, other) -> NDArray:
    """The matrix product (batched over leading axes, which broadcast), one kernel."""
    if not isinstance(other, NDArray):
        raise DefinitionError(f"NDArray.__matmul__: {type(other).__name__} operand; give an NDArray")
    if self.ndim < 2 or other.ndim < 2 or self.shape[-1] != other.shape[-2]:
        raise DefinitionError(f"NDArray.__matmul__: {self.shape} @ {other.shape} do not fit; give (..., m, n) @ "
                              "(..., n, p)")
    with no_grad():
        return from_tensor(ops.matmul(as_tensor(self), as_tensor(other)), self.device, self, other)


def _reduce(method: str, function):
    def apply(self: NDArray, axis=None, keepdims: bool = False) -> NDArray:
        with no_grad():
            out = function(as_tensor(self), axis, keepdims)
            if axis is None and not keepdims:
                out = ops.reshape(out, (1,))  # needle's shape for a whole reduction
            return from_tensor(out, self.device, self)

    apply.__name__ = method
    apply.__doc__ = (f"``{method}`` over ``axis`` (an int, a tuple, or None for every axis, giving shape (1,) "
                     "as needle's does, or all ones with keepdims), one kernel.")
    return apply


sum = _reduce("sum", ops.summation)  # noqa: A001 - needle's method name
max = _reduce("max", ops.maximum_over)  # noqa: A001


def flip(self: NDArray, axes) -> NDArray:
    """The values reversed along ``axes`` (a compact copy, as needle's), one kernel."""
    with no_grad():
        return from_tensor(ops.flip(as_tensor(self), axes), self.device, self)


def pad(self: NDArray, axes) -> NDArray:
    """The values padded with zeros: ``axes`` holds one ``(before, after)`` pair per axis, one kernel."""
    with no_grad():
        return from_tensor(ops.pad(as_tensor(self), axes), self.device, self)
