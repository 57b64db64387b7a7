"""needle's ``TensorTuple``: the several results of one op (``split``) as one value.

Here it is a tuple of Tensors with needle's accessors (``tuple()``, ``detach()``), so ``a, b =
split(x, 1)``, ``len(parts)``, ``parts[0]`` and ``isinstance(parts, TensorTuple)`` read as in
needle; each part is an ordinary tensor of the graph. ``make_tuple`` and ``tuple_get_item`` are
needle's functional names.
"""

from __future__ import annotations

from tensorir.errors import DefinitionError

from .tensor import Tensor


class TensorTuple(tuple):
    """A tuple of Tensors (needle's ``TensorTuple``)."""

    __slots__ = ()

    def __new__(cls, tensors=()):
        tensors = tuple(tensors)
        for position, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise DefinitionError(f"TensorTuple: item {position} is a {type(t).__name__}; give Tensors "
                                      "(ndl.Tensor(values) makes one)")
        return super().__new__(cls, tensors)

    def tuple(self) -> tuple[Tensor, ...]:
        """The parts as a plain tuple."""
        return tuple(self)

    def detach(self) -> TensorTuple:
        """The parts cut from the graph."""
        return TensorTuple(t.detach() for t in self)

    def __add__(self, other):
        """needle's sum of two TensorTuples: part by part (a plain tuple concatenates as Python's)."""
        if not isinstance(other, TensorTuple):
            return tuple.__add__(self, other)
        if len(other) != len(self):
            raise DefinitionError(f"TensorTuple + TensorTuple: {len(self)} parts and {len(other)} parts; add "
                                  "TensorTuples of equally many parts")
        return TensorTuple(a + b for a, b in zip(self, other))

    def __repr__(self) -> str:
        return f"needle.TensorTuple{tuple(self)!r}"


def make_tuple(*tensors: Tensor) -> TensorTuple:
    """needle's ``make_tuple``: the tensors as one TensorTuple."""
    return TensorTuple(tensors)


def tuple_get_item(value: TensorTuple, index: int) -> Tensor:
    """needle's ``tuple_get_item``: part ``index`` of a TensorTuple."""
    if not isinstance(value, tuple):
        raise DefinitionError(f"tuple_get_item: a {type(value).__name__}, not a TensorTuple; give the value of "
                              "split(...) or make_tuple(...)")
    if isinstance(index, bool) or not isinstance(index, int) or not -len(value) <= index < len(value):
        raise DefinitionError(f"tuple_get_item: index {index!r} is out of range for {len(value)} parts; use "
                              f"{-len(value)} to {len(value) - 1}")
    return value[index]
