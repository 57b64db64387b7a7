"""Ops that move data rather than compute it: reshape, transpose, broadcast_to and slicing are
zero-copy strided views (seed Lec11); stack, and the gradient of a slice, are kernels.

A kernel reads only contiguous storage: a view reaching one is compacted first
(:func:`frontend.ops.base.contiguous`), except that elementwise kernels broadcast stride-0
axes themselves.
"""

from __future__ import annotations

import math

import numpy as np

from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.intmath import as_int
from tensorir.shapes import check_tensor_size
from tensorir.tensor import compute

from ..tensor import Tensor
from .base import Op, contiguous


class ViewOp(Op):
    """An op whose output is a view of its input's storage: no kernel runs."""

    def forward(self, x: np.ndarray, device: str = "cpu") -> np.ndarray:
        return self.view(x, device)

    def view(self, x: np.ndarray, device: str) -> np.ndarray:
        raise NotImplementedError


class Reshape(ViewOp):
    name = "reshape"

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape
        self.key = (self.name, shape)

    def view(self, x, device):
        try:
            out = x.view()
            out.shape = self.shape
            return out
        except AttributeError:  # the strides do not allow a view: compact first
            return contiguous(x, device).reshape(self.shape)

    def gradient(self, g, node): return (reshape(g, node.inputs[0].shape),)


class Transpose(ViewOp):
    name = "transpose"

    def __init__(self, axes: tuple[int, ...]):
        self.axes = axes
        self.key = (self.name, axes)

    def view(self, x, device): return x.transpose(self.axes)

    def gradient(self, g, node): return (permute(g, tuple(np.argsort(self.axes).tolist())),)


class BroadcastTo(ViewOp):
    name = "broadcast_to"

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape
        self.key = (self.name, shape)

    def view(self, x, device): return np.broadcast_to(x, self.shape)

    def gradient(self, g, node):
        from .elementwise import reduce_to_shape

        return (reduce_to_shape(g, node.inputs[0].shape),)


class GetItem(ViewOp):
    """Basic indexing: integers and slices with positive steps, a view of the input."""

    name = "getitem"

    def __init__(self, index: tuple):
        self.index = index
        self.key = (self.name, index)

    def view(self, x, device):
        return x[tuple(i if isinstance(i, int) else slice(*i) for i in self.index)]

    def gradient(self, g, node):
        if not self.index:  # x[()] of a 0-d x is x: its gradient is g (a kernel has no 0-d form)
            return (g,)
        return (SliceBackward(self.index, node.inputs[0].shape)(g),)


class SliceBackward(Op):
    """The adjoint of a slice: ``g`` scattered into zeros of the input shape (a gather per element)."""

    name = "slice_backward"

    def __init__(self, index: tuple, in_shape: tuple[int, ...]):
        self.index, self.in_shape = index, in_shape
        self.key = (self.name, index, in_shape)

    def compute(self, request, g):
        def body(*idx):
            inside, gather = None, []
            for position, item in zip(idx, self.index):
                if isinstance(item, int):
                    cond = position == item
                else:
                    start, stop, step = item
                    count = len(range(start, stop, step))
                    cond = (position >= start) & (position < start + (count - 1) * step + 1)
                    if step > 1:
                        cond = cond & ((position - start) % step == 0)
                    gather.append(fn.minimum(fn.maximum((position - start) // step, 0), count - 1))
                inside = cond if inside is None else inside & cond
            value = g[tuple(gather)] if gather else g[(0,) * len(g.shape)]
            return fn.if_then_else(inside, value, 0.0)

        return compute(self.in_shape, body, name="slice_backward")

    def gradient(self, gg, node):
        return (GetItem(self.index)(gg),)


def normalize_index(index, shape: tuple[int, ...]) -> tuple:
    """``index`` as one item per axis: an int, or ``(start, stop, step)`` with a positive step."""
    items = list(index) if isinstance(index, tuple) else [index]
    if sum(item is Ellipsis for item in items) > 1:
        raise DefinitionError("getitem: an index can hold one Ellipsis (...) at most")
    at = next((n for n, item in enumerate(items) if item is Ellipsis), None)  # `in` would compare arrays
    if at is not None:
        items[at:at + 1] = [slice(None)] * (len(shape) - len(items) + 1)
    if len(items) > len(shape):
        raise DefinitionError(f"getitem: {len(items)} indices for a tensor of shape {shape}")
    items += [slice(None)] * (len(shape) - len(items))
    out = []
    for axis, (item, extent) in enumerate(zip(items, shape)):
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not -extent <= item < extent:
                raise DefinitionError(f"getitem: index {item} is out of range for axis {axis} of extent {extent}")
            out.append(int(item) % extent)
        elif isinstance(item, slice):
            try:
                start, stop, step = item.indices(extent)
            except (TypeError, ValueError) as error:  # a step of 0, bounds that are not ints
                raise DefinitionError(f"getitem: slice {item} of axis {axis} is not valid ({error}); give int "
                                      "bounds (or None) and a nonzero step") from None
            if step <= 0 or len(range(start, stop, step)) == 0:
                raise DefinitionError(f"getitem: slice {item} of axis {axis} (extent {extent}) must select at "
                                      "least one element with a positive step")
            out.append((start, stop, step))
        else:
            raise DefinitionError(f"getitem: index {item!r} is not supported; use integers, slices and ...")
    return tuple(out)


class Stack(Op):
    """``out[..., k, ...] = inputs[k][...]`` along a new axis."""

    name = "stack"

    def __init__(self, axis: int, count: int):
        self.axis, self.count = axis, count
        self.key = (self.name, axis, count)

    def compute(self, request, *inputs):
        shape = inputs[0].shape
        out_shape = shape[:self.axis] + (self.count,) + shape[self.axis:]

        def body(*idx):
            k = idx[self.axis]
            rest = idx[:self.axis] + idx[self.axis + 1:]
            value = inputs[-1][rest]
            for position in range(self.count - 2, -1, -1):
                value = fn.if_then_else(k == position, inputs[position][rest], value)
            return value

        return compute(out_shape, body, name="stack")

    def gradient(self, g, node): return tuple(split(g, self.axis))


# -- the functional API -------------------------------------------------------------------------
def _shape_argument(name: str, shape) -> tuple:
    """A shape argument as a tuple (an int alone is one extent; numpy ints become ints); anything
    that is not a sequence is refused, naming the op."""
    shape = as_int(shape)
    if isinstance(shape, int):
        return (shape,)
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise DefinitionError(f"{name}: shape {shape!r} is not a shape; give a tuple of ints, e.g. (2, 3)")
    return tuple(as_int(n) for n in shape)


def reshape(x: Tensor, shape) -> Tensor:
    """``x`` with a new shape of the same size (one extent may be -1); a view where strides allow."""
    shape = _shape_argument("reshape", shape)
    if any(not isinstance(n, int) or n < -1 or n == 0 for n in shape):
        raise DefinitionError(f"reshape: shape {shape} must hold positive integers (one of them may be -1)")
    known = math.prod(n for n in shape if n != -1)
    if shape.count(-1) == 1 and known and x.size % known == 0:
        shape = tuple(x.size // known if n == -1 else n for n in shape)
    if shape.count(-1) or math.prod(shape) != x.size:
        raise DefinitionError(f"reshape: cannot reshape shape {x.shape} ({x.size} elements) to {shape}")
    return x if shape == x.shape else Reshape(shape)(x)


def transpose(x: Tensor, axes=None) -> Tensor:
    """``x`` with two axes swapped, as in needle: the last two when ``axes`` is None, else the two
    axes given (``axes=(0, 1)``); ``axes`` listing every axis of a tensor of 3 or more dimensions
    permutes them as numpy's ``transpose`` does. A view."""
    if axes is None:
        if x.ndim < 2:  # nothing to swap: the tensor itself, as numpy's transpose of a vector
            return x
        axes = (x.ndim - 2, x.ndim - 1)
    axes = tuple(axes)
    if len(axes) != 2 or x.ndim < 2:
        return permute(x, axes)
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -x.ndim <= a < x.ndim:
            raise DefinitionError(f"transpose: axis {a} is out of range for shape {x.shape}; give two axes "
                                  f"from {-x.ndim} to {x.ndim - 1} to swap")
    first, second = int(axes[0]) % x.ndim, int(axes[1]) % x.ndim
    if first == second:
        raise DefinitionError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of {x.shape} "
                              "nor two different axes to swap; give two different axes")
    return swapaxes(x, first, second)


def permute(x: Tensor, axes) -> Tensor:
    """``x`` with its axes permuted (``axes`` lists every axis once, numpy's ``transpose``), a view."""
    axes = tuple(axes)
    if any(not isinstance(a, (int, np.integer)) or not -x.ndim <= a < max(x.ndim, 1) for a in axes) \
            or sorted(int(a) % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise DefinitionError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of {x.shape}; "
                              "list every axis once, or give two axes to swap")
    axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
    return x if axes == tuple(range(x.ndim)) else Transpose(axes)(x)


def swapaxes(x: Tensor, first: int, second: int) -> Tensor:
    """``x`` with two axes exchanged, a view."""
    axes = list(range(x.ndim))
    axes[first], axes[second] = axes[second], axes[first]
    return x if first == second else Transpose(tuple(axes))(x)


def broadcast_to(x: Tensor, shape) -> Tensor:
    """``x`` repeated along new or extent-1 axes to ``shape``: a view with stride 0 there. An
    extent -1 keeps ``x``'s extent on that axis (as torch's ``expand``)."""
    shape = _shape_argument("broadcast_to", shape)
    if any(not isinstance(n, int) or n < -1 for n in shape):
        raise DefinitionError(f"broadcast_to: shape {shape} must hold non-negative ints (or -1 to keep an extent)")
    lead = len(shape) - x.ndim
    if -1 in shape:
        shape = _kept_extents(x.shape, shape, lead)
    if lead < 0 or any(n not in (1, m) for n, m in zip(x.shape, shape[lead:])):
        raise DefinitionError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    check_tensor_size(shape, "broadcast_to")
    return x if shape == x.shape else BroadcastTo(shape)(x)


def _kept_extents(have: tuple[int, ...], shape: tuple[int, ...], lead: int) -> tuple[int, ...]:
    """``shape`` with each -1 replaced by the extent of the input's axis it aligns with."""
    for k, n in enumerate(shape):
        if n == -1 and k < lead:
            raise DefinitionError(f"broadcast_to: extent -1 at axis {k} of {shape} is a new axis of the input of "
                                  f"shape {have}, which has no extent to keep there; give the extent")
    return tuple(have[k - lead] if n == -1 else n for k, n in enumerate(shape))


def getitem(x: Tensor, index) -> Tensor:
    """Basic indexing (integers, slices, ``...``): a view of ``x``; a slice with a negative step
    is the view of the same elements in order, then flipped by a kernel."""
    from .movement import flip, reversed_slices

    reversed_index = reversed_slices(index, x.shape)
    if reversed_index is not None:
        forward, axes = reversed_index
        return flip(GetItem(normalize_index(forward, x.shape))(x), axes)
    return GetItem(normalize_index(index, x.shape))(x)


def stack(tensors, axis: int = 0) -> Tensor:
    """The tensors (all of one shape) stacked along a new axis ``axis``."""
    if isinstance(tensors, (str, bytes)) or not hasattr(tensors, "__iter__"):
        raise DefinitionError(f"stack: give a list of tensors, not a {type(tensors).__name__}: stack([a, b], axis)")
    tensors = list(tensors)
    if not tensors:
        raise DefinitionError("stack: give at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise DefinitionError(f"stack: tensors have different shapes {sorted(shapes)}; stack needs one shape")
    axis = _axis("stack", axis, tensors[0].ndim + 1, f"{len(tensors)} tensors of shape {tensors[0].shape}")
    return Stack(axis, len(tensors))(*tensors)


def split(x: Tensor, axis: int = 0) -> tuple[Tensor, ...]:
    """The slices of ``x`` along ``axis`` (the inverse of :func:`stack`), each a view, as needle's
    :class:`~frontend.tensor_tuple.TensorTuple` (a tuple)."""
    from ..tensor_tuple import TensorTuple

    if x.ndim == 0:
        raise DefinitionError("split: a 0-d tensor has no axis to split; give a tensor of 1 or more dimensions")
    axis = _axis("split", axis, x.ndim, f"shape {x.shape}")
    return TensorTuple(getitem(x, (slice(None),) * axis + (k,)) for k in range(x.shape[axis]))


def _axis(name: str, axis, ndim: int, what: str) -> int:
    """``axis`` in ``[-ndim, ndim)`` as a non-negative int; a clear error otherwise (numpy's
    wrap-around would silently pick another axis)."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise DefinitionError(f"{name}: axis {axis!r} is out of range for {what}; give an int from {-ndim} "
                              f"to {ndim - 1}")
    return int(axis) % ndim
