"""needle's ``TensorTupleOp``: a program's own op with several outputs.

A subclass defines ``compute(*arrays)`` returning a tuple of arrays and ``gradient(out_grad,
node)`` where ``out_grad`` is the TensorTuple of the parts' adjoints and ``node`` the op's
TensorTuple (``node.inputs``, ``node.op``); ``MyOp()(a, b)`` returns a TensorTuple, as in needle's
``autograd.py``. An input may itself be a TensorTuple (for a ``TensorOp`` too): ``compute`` gets
the tuple of its arrays and ``gradient`` returns a TensorTuple (or None) as its adjoint.

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


class ProgramOp(Op):
    """The base of needle's ops that a program defines (``TensorOp``, :class:`TensorTupleOp`):
    named by their class, and a ``gradient`` may return one tensor for one input, as needle
    allows (the graph reads a tuple, as through needle's ``gradient_as_tuple``)."""

    def __init_subclass__(cls, **kwargs):
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


class TensorTupleOp(ProgramOp):
    """needle's base of an op with several outputs that a program defines: ``compute(*arrays)``
    returns a tuple of arrays (numpy, from read-only views of the inputs' storage), ``gradient(
    out_grad, node)`` the inputs' adjoints built from tensor ops given the TensorTuple of the
    parts' adjoints; ``MyOp()(a, b)`` returns a TensorTuple."""

    def compute(self, *arrays):
        raise NotImplementedError(f"{self.name}: define compute(self, *arrays) returning a tuple of arrays")

    def __call__(self, *inputs: Tensor) -> OpTensorTuple:
        node = _Packed(self, _grouping(inputs))
        packed = node(*_flat(inputs))
        parts = [_part(packed, start, shape, packed.dtype) for start, shape in _layout(node.shapes)]
        op, node_inputs = (self, inputs) if packed.requires_grad else (None, ())
        return OpTensorTuple(parts, op, node_inputs)

    def __repr__(self) -> str:
        return f"{self.name}()"


class _Packed(Op):
    """The graph node of a TensorTupleOp: its parts' values end to end in one flat array."""

    saves_output = True

    def __init__(self, user: TensorTupleOp, grouping: tuple[int | None, ...]):
        self.user, self.name, self.grouping = user, user.name, grouping
        self.key = (self.name, id(user))
        self.shapes: tuple[tuple[int, ...], ...] = ()

    def forward(self, *arrays: np.ndarray, device: str = "cpu") -> np.ndarray:
        parts = _checked_parts(self.name, self.user.compute(*_regroup(read_only(arrays), self.grouping)))
        self.shapes = tuple(part.shape for part in parts)
        if not parts:
            return np.zeros(0, np.float32)
        return np.concatenate([part.reshape(-1) for part in parts])

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor | None, ...]:
        shapes = self.shapes
        adjoints = OpTensorTuple(_part(out_grad, start, shape, out_grad.dtype) for start, shape in _layout(shapes))
        value = OpTensorTuple((_part(node, start, shape, node.dtype) for start, shape in _layout(shapes)),
                              self.user, _regrouped_inputs(node.inputs, self.grouping))
        return _flat_partials(self.name, self.user.gradient(adjoints, value), self.grouping)


class _Grouped(Op):
    """The graph node of a TensorOp applied to TensorTuples: the graph's inputs are their parts;
    ``compute`` and ``gradient`` see them grouped again."""

    def __init__(self, user: Op, grouping: tuple[int | None, ...]):
        self.user, self.name, self.grouping = user, user.name, grouping
        self.key = (self.name, id(user))

    def forward(self, *arrays: np.ndarray, device: str = "cpu") -> np.ndarray:
        return self.user.forward(*_regroup(arrays, self.grouping), device=device)

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor | None, ...]:
        view = Tensor.__new__(type(node))  # the node as the program reads it: inputs grouped
        for slot in ("_data", "_lazy", "op", "requires_grad", "grad", "device", "_origin"):
            if hasattr(node, slot):
                setattr(view, slot, getattr(node, slot))
        view.op, view.inputs = self.user, _regrouped_inputs(node.inputs, self.grouping)
        return _flat_partials(self.name, self.user.gradient(out_grad, view), self.grouping)


def apply_grouped(user: Op, inputs: tuple) -> Tensor:
    """``user`` (a TensorOp) applied to ``inputs`` of which some are TensorTuples."""
    return _Grouped(user, _grouping(inputs))(*_flat(inputs))


def read_only(arrays) -> list[np.ndarray]:
    """Read-only views of ``arrays`` (tuples of arrays viewed part by part): a program's compute
    must not write into the inputs' storage."""
    views = []
    for array in arrays:
        if isinstance(array, tuple):
            views.append(tuple(read_only(array)))
            continue
        view = array.view(CachedArray)
        view.flags.writeable = False
        views.append(view)
    return views


def _grouping(inputs: tuple) -> tuple[int | None, ...]:
    """Per input: the number of parts of a TensorTuple, None for a Tensor."""
    return tuple(len(x) if isinstance(x, TensorTuple) else None for x in inputs)


def _flat(inputs: tuple) -> list:
    return [t for x in inputs for t in (x if isinstance(x, TensorTuple) else (x,))]


def _regroup(items, grouping: tuple[int | None, ...]) -> list:
    """``items`` (one per graph input) grouped again as the program's inputs were."""
    out, items = [], iter(items)
    for parts in grouping:
        out.append(next(items) if parts is None else tuple(next(items) for _ in range(parts)))
    return out


def _regrouped_inputs(inputs: tuple, grouping: tuple[int | None, ...]) -> tuple:
    return tuple(TensorTuple(x) if isinstance(x, tuple) else x for x in _regroup(inputs, grouping))


def _flat_partials(name: str, partials, grouping: tuple[int | None, ...]) -> tuple:
    """A program's adjoints (one per input: a TensorTuple or None for a TensorTuple input) as one
    per graph input."""
    partials = tuple(partials) if isinstance(partials, (tuple, list)) else (partials,)
    total = sum(1 if parts is None else parts for parts in grouping)
    if len(partials) != len(grouping):
        if len(partials) == total:  # already part by part (one TensorTuple input, its adjoint unpacked)
            return partials
        raise DefinitionError(f"{name}.gradient returned {len(partials)} adjoints for {len(grouping)} inputs; "
                              "return one per input (None where an input has none)")
    flat = []
    for parts, partial in zip(grouping, partials):
        if parts is None or (parts == 1 and isinstance(partial, Tensor)):
            flat.append(partial)
        elif partial is None:
            flat.extend([None] * parts)
        elif isinstance(partial, (tuple, list)) and len(partial) == parts:
            flat.extend(partial)
        else:
            raise DefinitionError(f"{name}.gradient returned {partial!r} as the adjoint of a TensorTuple of {parts} "
                                  "parts; return a TensorTuple of as many parts (make_tuple(...)) or None")
    return tuple(flat)


def checked_array(name: str, value, where: str = "") -> np.ndarray:
    """What a program op's ``compute`` returned (``where``: which output, for the message) as an
    array of a frontend dtype; a Tensor or another dtype is refused."""
    if isinstance(value, Tensor):
        raise DefinitionError(f"{name}.compute returned a Tensor{where}; compute works on arrays (use numpy there) "
                              "and gradient on tensors")
    array = np.asarray(value)
    if array.dtype.name not in DTYPES:
        raise DefinitionError(f"{name}.compute returned {array.dtype} values{where}; return "
                              f"{'arrays' if where else 'an array'} of one of {', '.join(DTYPES)} (astype)")
    return array


def _checked_parts(name: str, out) -> list[np.ndarray]:
    """The arrays ``compute`` returned, checked: a tuple or list of arrays of one numeric dtype."""
    if isinstance(out, (Tensor, np.ndarray)) or not isinstance(out, (tuple, list)):
        what = "one array" if isinstance(out, np.ndarray) else f"a {type(out).__name__}"
        raise DefinitionError(f"{name}.compute returned {what}; a TensorTupleOp's compute returns "
                              "a tuple of arrays, one per output (use TensorOp for one output)")
    parts = [checked_array(name, part, f" as output {position}") for position, part in enumerate(out)]
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
