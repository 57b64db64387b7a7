"""needle's ``TensorTupleOp``: a program's own op with several outputs.

A subclass defines ``compute(*arrays)`` returning a tuple of arrays and ``gradient(out_grad,
node)`` where ``out_grad`` is the TensorTuple of the parts' adjoints and ``node`` the op's
TensorTuple (``node.inputs``, ``node.op``); ``MyOp()(a, b)`` returns a TensorTuple, as in needle's
``autograd.py``.

In the graph the op is one node holding its parts packed end to end (one flat array); each part
is a slice of it in its own shape. A backward pass through any parts therefore reaches the packed
node once, with the parts' adjoints packed alike (zero where a part was not used), and the
program's ``gradient`` runs once with all of them, as needle's does.
"""

from __future__ import annotations

import math

import numpy as np

from tensorir.errors import DefinitionError

from .ops.base import Op
from .tensor import DTYPES, CachedArray, Tensor
from .tensor_tuple import TensorTuple


class OpTensorTuple(TensorTuple):
    """The TensorTuple an op made: its parts, and needle's ``op`` and ``inputs`` of the node."""

    def __new__(cls, parts, op=None, inputs=()):
        value = super().__new__(cls, parts)
        value.op, value.inputs = op, tuple(inputs)
        return value

    def realize_cached_data(self) -> tuple:
        """needle's cached value of a tuple node: the parts' arrays."""
        return tuple(part.realize_cached_data() for part in self)


class TensorTupleOp(Op):
    """needle's base of an op with several outputs that a program defines: ``compute(*arrays)``
    returns a tuple of arrays (numpy, from read-only views of the inputs' storage), ``gradient(
    out_grad, node)`` the inputs' adjoints built from tensor ops given the TensorTuple of the
    parts' adjoints; ``MyOp()(a, b)`` returns a TensorTuple."""

    def __init_subclass__(cls, **kwargs):
        """A ``gradient`` may return one tensor for one input, as needle allows."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("gradient")
        if own is not None:
            def gradient(self, out_grad, node, _own=own):
                partials = _own(self, out_grad, node)
                return tuple(partials) if isinstance(partials, (tuple, list)) else (partials,)

            gradient.__doc__ = own.__doc__
            cls.gradient = gradient

    @property
    def name(self) -> str:
        return type(self).__name__

    def compute(self, *arrays):
        raise NotImplementedError(f"{self.name}: define compute(self, *arrays) returning a tuple of arrays")

    def __call__(self, *inputs: Tensor) -> OpTensorTuple:
        node = _Packed(self)
        packed = node(*inputs)
        parts = [_part(packed, start, shape, packed.dtype) for start, shape in _layout(node.shapes)]
        op, node_inputs = (self, inputs) if packed.requires_grad else (None, ())
        return OpTensorTuple(parts, op, node_inputs)

    def __repr__(self) -> str:
        return f"{self.name}()"


class _Packed(Op):
    """The graph node of a TensorTupleOp: its parts' values end to end in one flat array."""

    saves_output = True

    def __init__(self, user: TensorTupleOp):
        self.user, self.name = user, user.name
        self.key = (self.name, id(user))
        self.shapes: tuple[tuple[int, ...], ...] = ()

    def forward(self, *arrays: np.ndarray, device: str = "cpu") -> np.ndarray:
        views = []
        for array in arrays:
            view = array.view(CachedArray)
            view.flags.writeable = False  # compute must not write into the inputs' storage
            views.append(view)
        parts = _checked_parts(self.name, self.user.compute(*views))
        self.shapes = tuple(part.shape for part in parts)
        if not parts:
            return np.zeros(0, np.float32)
        return np.concatenate([part.reshape(-1) for part in parts])

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor | None, ...]:
        shapes = self.shapes
        adjoints = OpTensorTuple(_part(out_grad, start, shape, out_grad.dtype) for start, shape in _layout(shapes))
        value = OpTensorTuple((_part(node, start, shape, node.dtype) for start, shape in _layout(shapes)),
                              self.user, node.inputs)
        partials = self.user.gradient(adjoints, value)
        partials = tuple(partials) if isinstance(partials, (tuple, list)) else (partials,)
        if len(partials) != len(node.inputs):
            raise DefinitionError(f"{self.name}.gradient returned {len(partials)} adjoints for {len(node.inputs)} "
                                  "inputs; return one per input (None where an input has none)")
        return partials


def _checked_parts(name: str, out) -> list[np.ndarray]:
    """The arrays ``compute`` returned, checked: a tuple or list of arrays of one numeric dtype."""
    if isinstance(out, (Tensor, np.ndarray)) or not isinstance(out, (tuple, list)):
        what = "one array" if isinstance(out, np.ndarray) else f"a {type(out).__name__}"
        raise DefinitionError(f"{name}.compute returned {what}; a TensorTupleOp's compute returns "
                              "a tuple of arrays, one per output (use TensorOp for one output)")
    parts = []
    for position, part in enumerate(out):
        if isinstance(part, Tensor):
            raise DefinitionError(f"{name}.compute returned a Tensor as output {position}; compute works on arrays "
                                  "(use numpy there) and gradient on tensors")
        part = np.asarray(part)
        if part.dtype.name not in DTYPES:
            raise DefinitionError(f"{name}.compute returned {part.dtype} values as output {position}; return "
                                  f"arrays of one of {', '.join(DTYPES)} (astype)")
        parts.append(part)
    dtypes = sorted({part.dtype.name for part in parts})
    if len(dtypes) > 1:
        raise DefinitionError(f"{name}.compute returned outputs of dtypes {', '.join(dtypes)}; the outputs of one "
                              "TensorTupleOp share a dtype: astype them to one")
    return parts


def _layout(shapes) -> list[tuple[int, tuple[int, ...]]]:
    """``(start, shape)`` of each part in the packed array."""
    starts, start = [], 0
    for shape in shapes:
        starts.append((start, shape))
        start += math.prod(shape)
    return starts


def _part(packed: Tensor, start: int, shape: tuple[int, ...], dtype: str) -> Tensor:
    """The part of ``packed`` from ``start`` in ``shape`` (a differentiable slice); an empty part
    is a constant."""
    size = math.prod(shape)
    if size == 0:
        return Tensor(np.zeros(shape, dtype), dtype=dtype, requires_grad=False)
    return packed[start:start + size].reshape(shape)
