"""Tensors made from nothing but a shape (storage filled at allocation), and one-hot encoding."""

from __future__ import annotations

import numpy as np

from tensorir import functions as fn
from tensorir.tensor import compute

from ..tensor import Tensor
from .base import Op


def full(shape, value: float, dtype: str = "float32", device: str = "cpu", requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with ``value``."""
    return Tensor(np.full(shape, value, dtype=dtype), device=device, requires_grad=requires_grad)


def zeros(shape, dtype: str = "float32", device: str = "cpu", requires_grad: bool = False) -> Tensor:
    return full(shape, 0, dtype, device, requires_grad)


def ones(shape, dtype: str = "float32", device: str = "cpu", requires_grad: bool = False) -> Tensor:
    return full(shape, 1, dtype, device, requires_grad)


def ones_like(t: Tensor) -> Tensor:
    return Tensor._wrap(np.ones(t.shape, dtype=t.dtype), t.device)


def zeros_like(t: Tensor) -> Tensor:
    return Tensor._wrap(np.zeros(t.shape, dtype=t.dtype), t.device)


class OneHot(Op):
    """``out[i, c] = 1 if labels[i] == c else 0``."""

    name = "one_hot"

    def __init__(self, classes: int, dtype: str):
        self.classes, self.dtype = classes, dtype
        self.key = (self.name, classes, dtype)

    def compute(self, request, labels):
        return compute((labels.shape[0], self.classes), lambda i, c: fn.if_then_else(
            labels[i] == c.astype(labels.dtype.value), 1.0, 0.0).astype(self.dtype), name="one_hot")

    def gradient(self, g, node):
        return (None,)


def one_hot(labels: Tensor, classes: int, dtype: str = "float32") -> Tensor:
    """Rows of ``classes`` zeros with a one at each label (labels: an int tensor of shape (n,), each
    in ``[0, classes)``)."""
    from ..data.loader import check_labels

    check_labels("one_hot", labels.numpy(), classes)
    return OneHot(classes, dtype)(labels)
