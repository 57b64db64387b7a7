"""needle's ``Tensor.data``: the values cut from the graph, over the same storage, and writes into it.

``t.data`` is ``t.detach()``, as in needle: a :class:`Detached` tensor that does not require grad,
shares ``t``'s storage and so reads ``t``'s values (``t.data.numpy()``, ``p.data - lr *
p.grad.data``). Assigning ``t.data = other`` makes ``t`` share ``other``'s storage (pending ops that
read the old storage keep it: :meth:`frontend.tensor.Tensor.assign_storage`).

The storage can be written in place in two ways, both safe for the lazy graph
(:mod:`frontend.lazy_storage`):

* ``t.data[index] = value`` (:func:`write`): the pending ops that read that memory are computed
  first, then the values are stored; nothing is exposed, since the frontend makes the write;
* ``np.asarray(t.data)`` (the :class:`Detached` tensor's ``__array__``): the stored array itself,
  handed out as :attr:`~frontend.tensor.Tensor.cached_data` is (its pending readers computed
  first, its memory remembered as exposed), so that ``np.copyto(np.asarray(t.data), x)`` and
  writes through an array held earlier change no pending value.

Only handing the array out exposes it; ``t.data`` alone, ``t.data.numpy()`` and ops on ``t.data``
leave the memory unexposed, so those ops stay fused.
"""

from __future__ import annotations

import numpy as np

from tensorir.errors import DefinitionError

from . import packed_weights
from .lazy_graph import _recorded, realize, share
from .lazy_storage import readers_of
from .tensor import Tensor


class Detached(Tensor):
    """``t.data``: ``t``'s values over ``t``'s storage, cut from the graph (needle's ``detach()``).

    A Tensor in every other respect; ``np.asarray`` of it is the shared storage (writable), where
    ``np.asarray`` of another tensor is a copy of its values.
    """

    __slots__ = ()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if copy:
            return self.numpy() if dtype is None else self.numpy().astype(dtype)
        array = share(self._storage())
        return array if dtype is None else array.astype(dtype, copy=False)


def detached(tensor: Tensor, requires_grad: bool = False) -> Detached:
    """``tensor``'s values over its storage (computed first if pending), a leaf; the storage is
    not handed out by this (only ``np.asarray`` of the result hands it out)."""
    result = Detached.__new__(Detached)
    result._data, result._lazy, result.device = tensor._storage(), None, tensor.device
    result.op, result.inputs, result.requires_grad, result.grad = None, (), bool(requires_grad), None
    return result


def write(tensor: Tensor, index, value) -> None:
    """``tensor[index] = value`` into the storage, after the pending ops that read that memory
    have run (they keep the values they were applied to)."""
    if tensor.requires_grad:
        raise DefinitionError(f"Tensor[{_shown(index)}] = value: the tensor requires grad, and writing into it "
                              "would change values its graph differentiates; write into its values instead: "
                              "t.data[...] = value (or build a new tensor)")
    array = tensor._storage()
    if not array.flags.writeable:
        raise DefinitionError(f"Tensor[{_shown(index)}] = value: the tensor of shape {tensor.shape} is a read-only "
                              "view (a broadcast_to result); write into the tensor it was broadcast from, or "
                              "into a copy: Tensor(t.numpy())")
    if isinstance(value, Tensor):
        value = value._storage()
    if isinstance(index, Tensor):
        index = index._storage()
    elif isinstance(index, tuple):
        index = tuple(i._storage() if isinstance(i, Tensor) else i for i in index)
    if _recorded:
        for reader in readers_of(array, _recorded):
            if reader._lazy is not None:
                realize(reader)
        reader = None
    packed_weights.written(array)  # packed copies of this memory would be stale
    try:
        array[index] = value
    except (IndexError, ValueError, TypeError) as error:
        raise DefinitionError(f"Tensor[{_shown(index)}] = value: cannot store {_described(value)} into a tensor "
                              f"of shape {tensor.shape} ({error}); give an index within the shape and values "
                              "that broadcast to the indexed part") from None


class LeafFlag:
    """``is_leaf``: true or false as a property (the frontend's and torch's), and callable as
    needle's method ``is_leaf()``."""

    __slots__ = ("value",)

    def __init__(self, value: bool):
        self.value = value

    def __call__(self) -> bool:
        return self.value

    def __bool__(self) -> bool:
        return self.value

    def __eq__(self, other) -> bool:
        return self.value == bool(other)

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return repr(self.value)


#: ``is_leaf`` of a tensor made by an op, and of a leaf
LEAF_FLAGS = (LeafFlag(False), LeafFlag(True))


def _shown(index) -> str:
    return str(index)[:40]


def _described(value) -> str:
    if isinstance(value, np.ndarray):
        return f"values of shape {value.shape}"
    return f"{type(value).__name__} {str(value)[:40]}"
