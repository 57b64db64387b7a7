"""Elementwise maximum and comparisons (needle's NDArray ``maximum``, ``==``, ``>=``), each a kernel.

A comparison gives 1 where it holds and 0 elsewhere, in the operands' dtype (needle's NDArray
stores its comparisons as float32 numbers); it has no gradient. ``maximum`` sends the gradient
to the larger operand (to the first where they tie).
"""

from __future__ import annotations

from tensorir import functions as fn

from ..tensor import Tensor
from .elementwise import Elementwise, _tensor, mask, multiply
from .promote import promote


class Maximum(Elementwise):
    name = "maximum"
    saves, saves_output = (0, 1), False

    def scalar(self, a, b): return fn.maximum(a, b)

    def gradient(self, g, node):
        a, b = node.inputs
        first = GreaterEqual()(a, b)
        return self.inputs_grad((multiply(g, first), multiply(g, 1.0 - first)), node)


class Equal(Elementwise):
    name = "equal"
    saves, saves_output = (), False

    def scalar(self, a, b): return mask(a == b, a.dtype)

    def gradient(self, g, node): return (None, None)


class GreaterEqual(Elementwise):
    name = "greater_equal"
    saves, saves_output = (), False

    def scalar(self, a, b): return mask(a >= b, a.dtype)

    def gradient(self, g, node): return (None, None)


def _pair(a, b) -> tuple[Tensor, Tensor]:
    """Tensors (a number takes the other operand's dtype) promoted to one dtype, as numpy would."""
    a = _tensor(a, b if isinstance(b, Tensor) else None)
    return promote(a, _tensor(b, a))


def maximum(a, b) -> Tensor:
    """The elementwise larger of ``a`` and ``b`` (broadcast; either may be a number)."""
    return Maximum()(*_pair(a, b))


def equal(a, b) -> Tensor:
    """1 where ``a == b``, else 0, in the operands' dtype (broadcast; either may be a number)."""
    return Equal()(*_pair(a, b))


def greater_equal(a, b) -> Tensor:
    """1 where ``a >= b``, else 0, in the operands' dtype (broadcast; either may be a number)."""
    return GreaterEqual()(*_pair(a, b))
