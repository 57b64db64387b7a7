"""Ops that rearrange elements with a kernel: flip, dilate/undilate, constant padding, and the
reversed slices of negative-step indexing (needle's ``flip``, ``dilate``, ``undilate``, ``pad``).

Each forward is one compute definition, a gather per output element; each gradient is another of
these ops (the adjoint of a flip is a flip, of a dilation an undilation, of a padding a slice).
"""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.intmath import ceil_div
from tensorir.tensor import compute

from ..tensor import Tensor
from .base import Op


def _fill(value, dtype: str):
    """``value`` as a constant of the tensor's dtype (an int for integer tensors)."""
    return float(value) if dtype.startswith("float") else int(value)


class Flip(Op):
    """``out[..., i, ...] = x[..., n - 1 - i, ...]`` along ``axes``."""

    name = "flip"

    def __init__(self, axes: tuple[int, ...]):
        self.axes = axes
        self.key = (self.name, axes)

    def compute(self, request, x):
        def body(*idx):
            return x[tuple(x.shape[a] - 1 - i if a in self.axes else i for a, i in enumerate(idx))]

        return compute(x.shape, body, name="flip")

    def gradient(self, g, node): return (Flip(self.axes)(g),)


class Dilate(Op):
    """``out[..., i * (d + 1), ...] = x[..., i, ...]`` along ``axes``, zeros between; the output
    has the extents ``out_shape`` (``extent * (d + 1)`` by default, as in needle)."""

    name = "dilate"

    def __init__(self, axes: tuple[int, ...], dilation: int, out_shape: tuple[int, ...]):
        self.axes, self.dilation, self.out_shape = axes, dilation, out_shape
        self.key = (self.name, axes, dilation, out_shape)

    def compute(self, request, x):
        step = self.dilation + 1

        def body(*idx):
            inside = None
            for axis in self.axes:
                cond = idx[axis] % step == 0
                inside = cond if inside is None else inside & cond
            value = x[tuple(i // step if a in self.axes else i for a, i in enumerate(idx))]
            return fn.if_then_else(inside, value, _fill(0, request.dtypes[0]))

        return compute(self.out_shape, body, name="dilate")

    def gradient(self, g, node): return (Undilate(self.axes, self.dilation)(g),)


class Undilate(Op):
    """``out[..., i, ...] = x[..., i * (d + 1), ...]`` along ``axes``: every (d+1)-th element."""

    name = "undilate"

    def __init__(self, axes: tuple[int, ...], dilation: int):
        self.axes, self.dilation = axes, dilation
        self.key = (self.name, axes, dilation)

    def compute(self, request, x):
        step = self.dilation + 1
        shape = tuple(ceil_div(n, step) if a in self.axes else n for a, n in enumerate(x.shape))
        return compute(shape, lambda *idx: x[tuple(i * step if a in self.axes else i for a, i in enumerate(idx))],
                       name="undilate")

    def gradient(self, g, node):
        return (Dilate(self.axes, self.dilation, node.inputs[0].shape)(g),)


class Pad(Op):
    """``x`` surrounded by ``value``: ``widths`` holds ``(before, after)`` per axis."""

    name = "pad"

    def __init__(self, widths: tuple[tuple[int, int], ...], value: float):
        self.widths, self.value = widths, value
        self.key = (self.name, widths, value)

    def compute(self, request, x):
        shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, self.widths))

        def body(*idx):
            inside = None
            for i, n, (lo, _) in zip(idx, x.shape, self.widths):
                if (lo, _) == (0, 0):
                    continue
                cond = (i >= lo) & (i < lo + n)
                inside = cond if inside is None else inside & cond
            value = x[tuple(fn.minimum(fn.maximum(i - lo, 0), n - 1) if (lo, hi) != (0, 0) else i
                            for i, n, (lo, hi) in zip(idx, x.shape, self.widths))]
            if inside is None:
                return value
            return fn.if_then_else(inside, value, _fill(self.value, request.dtypes[0]))

        return compute(shape, body, name="pad")

    def gradient(self, g, node):
        from .shape import getitem

        return (getitem(g, tuple(slice(lo, lo + n) for n, (lo, _) in zip(node.inputs[0].shape, self.widths))),)


# -- the functional API -------------------------------------------------------------------------
def _axes(name: str, axes, ndim: int) -> tuple[int, ...]:
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    for axis in axes:
        if not isinstance(axis, int) or not -ndim <= axis < ndim:
            raise DefinitionError(f"{name}: axis {axis!r} is out of range for a tensor of {ndim} dimensions; "
                                  f"use integers from {-ndim} to {ndim - 1}")
    normal = tuple(sorted({a % ndim for a in axes}))
    if len(normal) != len(axes):
        raise DefinitionError(f"{name}: axes {axes} name an axis twice; list each axis once")
    return normal


def flip(x: Tensor, axes=None) -> Tensor:
    """``x`` reversed along ``axes`` (all axes when None), like ``numpy.flip``."""
    axes = tuple(range(x.ndim)) if axes is None else _axes("flip", axes, x.ndim)
    return Flip(axes)(x) if axes else x


def _dilation(name: str, dilation) -> int:
    if not isinstance(dilation, int) or isinstance(dilation, bool) or dilation < 0:
        raise DefinitionError(f"{name}: dilation must be a non-negative int (the zeros between elements), "
                              f"got {dilation!r}")
    return dilation


def _dilation_axes(name: str, axes, ndim: int) -> tuple[int, ...]:
    """``axes`` checked and normalised, without the non-negative axes past the rank: needle's
    ``Dilate``/``UnDilate`` pass over those (its conv gradient names axes ``(1, 2)`` whatever the
    rank), so the tensor is left as it is along them."""
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    return _axes(name, tuple(a for a in axes if not (isinstance(a, int) and not isinstance(a, bool)
                                                     and a >= ndim)), ndim)


def dilate(x: Tensor, axes, dilation: int) -> Tensor:
    """``dilation`` zeros inserted after every element along ``axes``: extent ``n`` becomes
    ``n * (dilation + 1)`` (needle's ``dilate``). An axis at or past the rank is passed over, as
    needle's op does; a negative axis past the rank is refused."""
    given = axes
    axes, dilation = _dilation_axes("dilate", axes, x.ndim), _dilation("dilate", dilation)
    if not axes and given not in ((), []) and x.ndim:  # every axis passed over: needle's copy, a node
        axes, dilation = (0,), 0
    if not axes:
        return x
    # dilation 0 is still an op node (a copy), as needle's: its tests differentiate ``out.op``
    shape = tuple(n * (dilation + 1) if a in axes else n for a, n in enumerate(x.shape))
    return Dilate(axes, dilation, shape)(x)


def undilate(x: Tensor, axes, dilation: int) -> Tensor:
    """Every ``(dilation + 1)``-th element along ``axes``, starting at the first: the inverse of
    :func:`dilate`; an axis at or past the rank is passed over, as in :func:`dilate`."""
    given = axes
    axes, dilation = _dilation_axes("undilate", axes, x.ndim), _dilation("undilate", dilation)
    if not axes and given not in ((), []) and x.ndim:  # every axis passed over: needle's copy, a node
        axes, dilation = (0,), 0
    return Undilate(axes, dilation)(x) if axes else x


def pad(x: Tensor, widths, value: float = 0.0) -> Tensor:
    """``x`` padded with the constant ``value``: ``widths`` is one ``(before, after)`` pair per
    axis (as in ``numpy.pad``), or one pair for every axis; ``(0, 0)`` leaves an axis alone."""
    pairs = _widths(widths, x.ndim)
    if not x.dtype.startswith("float") and value != int(value):
        raise DefinitionError(f"pad: value {value} is not a whole number but the tensor holds {x.dtype}; give an "
                              "integer value or cast the tensor to a float dtype first")
    if not all(pair == (0, 0) for pair in pairs):
        x = Pad(pairs, _fill(value, x.dtype))(x)
    return x


def _widths(widths, ndim: int) -> tuple[tuple[int, int], ...]:
    try:
        pairs = [tuple(pair) for pair in widths] if widths and not isinstance(widths[0], int) else [tuple(widths)]
    except TypeError:
        pairs = []
    if len(pairs) == 1 and ndim != 1:
        pairs = pairs * ndim
    good = len(pairs) == ndim and all(len(p) == 2 and all(isinstance(w, int) and not isinstance(w, bool)
                                                        and w >= 0 for w in p) for p in pairs)
    if not good:
        raise DefinitionError(f"pad: widths {widths!r} must be one (before, after) pair of non-negative ints per "
                              f"axis ({ndim} pairs), or a single pair for every axis")
    return tuple(pairs)


def reversed_slices(index, shape: tuple[int, ...]) -> tuple[tuple, tuple[int, ...]] | None:
    """For an index with negative-step slices: the same selection with positive steps, and the
    output axes to flip afterwards; None when no slice steps backwards."""
    items = list(index) if isinstance(index, tuple) else [index]
    if not any(isinstance(item, slice) and item.step is not None and item.step < 0 for item in items):
        return None
    if items.count(Ellipsis) == 1:
        at = items.index(Ellipsis)
        items[at:at + 1] = [slice(None)] * max(len(shape) - len(items) + 1, 0)
    forward, flips, out_axis = [], [], 0
    for item, extent in zip(items, shape):
        if isinstance(item, slice):
            chosen = range(*item.indices(extent))
            if item.step is not None and item.step < 0 and len(chosen):
                item = slice(chosen[-1], chosen[0] + 1, -chosen.step)
                flips.append(out_axis)
            out_axis += 1
        forward.append(item)
    return tuple(forward) + tuple(items[len(shape):]), tuple(flips)
