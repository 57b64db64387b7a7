"""Type promotion of an op's operands, as numpy does it (``float32 x float64 -> float64``,
``int32 x float32 -> float64``): the narrower operands pass through a :class:`Cast` in the graph,
so their gradients come back cast to their own dtype (an integer operand that requires grad gets the
float adjoint, as in needle: :class:`~frontend.ops.elementwise.PromotionCast`)."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor


def common_dtype(*tensors: Tensor) -> str:
    """The dtype numpy gives an operation on arrays of the tensors' dtypes."""
    return np.result_type(*[t.dtype for t in tensors]).name


def promote(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The tensors, each of another dtype than :func:`common_dtype` cast to it."""
    first = tensors[0].dtype
    if all(t.dtype == first for t in tensors):
        return tensors
    from .elementwise import promoted

    common = common_dtype(*tensors)
    return tuple(promoted(t, common) for t in tensors)
