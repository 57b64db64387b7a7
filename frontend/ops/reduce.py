"""Reductions over axes: sum, max, mean and logsumexp.

Before compiling, the input is put in a canonical form: axes of extent 1 are dropped and
adjacent axes that are both reduced or both kept are merged, so a sum over ``(0, 2, 3)`` of an
NCHW tensor compiles as ``[reduce N, keep C, reduce H*W]`` and every sum over rows of a matrix
as one kernel per shape. The kinds of the canonical axes are the variant of the kernel request;
the plan of a call signature is memoised in the kernel cache.
"""

from __future__ import annotations

import numpy as np

from schedules.templates.generic_cpu import VECTOR, generic, innermost_vector
from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.intmath import as_int
from tensorir.tensor import compute, reduce_axis

from .. import dispatch
from ..request import KernelRequest
from ..tensor import Tensor
from .base import Op, contiguous
from .elementwise import Cast, Elementwise, mask, multiply, negative


def normalize_axes(name: str, axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple) as sorted non-negative axes, checked against ``ndim``."""
    if axis is None:
        return tuple(range(ndim))
    axis = as_int(axis)
    if isinstance(axis, bool) or not isinstance(axis, (int, tuple, list)):
        raise DefinitionError(f"{name}: axis {axis!r} is not an axis; give an int or a tuple of ints")
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise DefinitionError(f"{name}: axis {a!r} is not an axis; give an int or a tuple of ints")
        if not -ndim <= a < max(ndim, 1):
            raise DefinitionError(f"{name}: axis {a} is out of range for a tensor of {ndim} dimensions")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise DefinitionError(f"{name}: axis {axis} lists an axis twice")
    return tuple(sorted(out))


def either_axes(name: str, axis, axes):
    """``axis`` or needle's ``axes`` keyword, whichever was given (not both)."""
    if axes is None:
        return axis
    if axis is not None:
        raise DefinitionError(f"{name}: both axis={axis} and axes={axes} given; give one of them")
    return axes


def _plan(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple:
    """``(canonical input shape, kinds ('K'/'R') of its axes)``."""
    groups: list[list] = []
    for a, extent in enumerate(shape):
        if extent == 1:
            continue
        kind = "R" if a in axes else "K"
        if groups and groups[-1][1] == kind:
            groups[-1][0] *= extent
        else:
            groups.append([extent, kind])
    if not groups:
        groups = [[1, "K"]]
    return tuple(g[0] for g in groups), tuple(g[1] for g in groups)


def out_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if a in axes else n for a, n in enumerate(shape))
    return tuple(n for a, n in enumerate(shape) if a not in axes)


class Reduction(Op):
    """An op over the canonical ``[K|R]...`` form of its input; the request's variant holds the kinds."""

    reducer = staticmethod(fn.sum)
    #: recorded in the lazy graph and fused with the elementwise group feeding it
    #: (:mod:`frontend.lazy_reduce`)
    lazy = reduces = replays = True

    def __init__(self, axes: tuple[int, ...], keepdims: bool):
        self.axes, self.keepdims = axes, keepdims
        # the lazy graph's structure names the axes; the kernel only their canonical kinds
        self.key = (self.name, axes, keepdims)

    def infer(self, inputs) -> tuple[tuple[int, ...], str]:
        """``(shape, dtype)`` of the output on ``inputs`` (one Tensor), checked at the call."""
        (x,) = inputs
        if 0 in x.shape:
            raise DefinitionError(f"{self.name}: the input of shape {x.shape} is empty; a reduction needs "
                                  "every dimension positive (slice or pad it to a nonempty shape)")
        return out_shape(x.shape, self.axes, self.keepdims), self.out_dtype(x.dtype)

    def out_dtype(self, dtype: str) -> str:
        """The output's dtype for an input of ``dtype``."""
        return dtype

    def forward(self, x: np.ndarray, device: str = "cpu") -> np.ndarray:
        signature = ("reduce", self.key, x.shape, self.axes, x.dtype, device)
        plan = dispatch.cache.requests.get(signature)
        if plan is None:
            plan = dispatch.cache.requests[signature] = self.plan(x.shape, x.dtype.name, device)
        shape, request = plan
        result = dispatch.cache.run(self, request, [contiguous(x, device).reshape(shape)])[0]
        return result.reshape(out_shape(x.shape, self.axes, self.keepdims))

    def plan(self, shape: tuple[int, ...], dtype: str, device: str) -> tuple:
        """``(canonical input shape, kernel request)`` of an input of ``shape``."""
        canonical, kinds = _plan(shape, self.axes)
        return canonical, KernelRequest(self.name, (), (kinds,), (canonical,), (dtype,), device)

    def compute(self, request, x):
        (kinds,) = request.variant
        return _reduce_compute(x, kinds, self.reducer, lambda value, kept: value, self.name)

    def schedule(self, request, s, outputs, config):
        (kinds,) = request.variant
        for out in outputs:
            if kinds[-1] == "K" and "R" in kinds:
                innermost_vector(s, out, config.get("vector", VECTOR))
            else:
                generic(s, out, config)


def _reduce_compute(x, kinds, reducer, transform, name):
    """``out[kept] = reducer(transform(x[...], kept), over reduced axes)``."""
    kept = [n for n, k in zip(x.shape, kinds) if k == "K"] or [1]
    raxes = [reduce_axis(n, f"r{d}") for d, (n, k) in enumerate(zip(x.shape, kinds)) if k == "R"]

    def body(*out_idx):
        it_out, it_red = iter(out_idx), iter(raxes)
        index = tuple(next(it_out) if k == "K" else next(it_red) for k in kinds)
        value = transform(x[index], out_idx)
        return reducer(value, axis=raxes) if raxes else value

    return compute(tuple(kept), body, name=name)


class Sum(Reduction):
    name = "sum"
    saves, saves_output = (), False  # the gradient reads the input's shape only

    def gradient(self, g, node):
        from .shape import broadcast_to, reshape

        x = node.inputs[0]
        return (broadcast_to(reshape(g, out_shape(x.shape, self.axes, True)), x.shape),)


class Max(Reduction):
    name = "max"
    reducer = staticmethod(fn.max)

    def gradient(self, g, node):
        from .shape import reshape

        x = node.inputs[0]
        keep = out_shape(x.shape, self.axes, True)
        return (MaxBackward()(reshape(g, keep), x, reshape(node, keep)),)


class MaxBackward(Elementwise):
    """``g`` where ``x`` equals the maximum ``m`` of its group, else 0."""

    name = "max_backward"
    saves, saves_output = (1, 2), False

    def scalar(self, g, x, m): return g * mask(x == m, g.dtype)

    def gradient(self, gg, node):
        _, x, m = node.inputs
        return self.inputs_grad((MaxBackward()(gg, x, m), None, None), node)


class LogSumExp(Reduction):
    """``log(sum(exp(x - m))) + m`` with ``m`` the maximum: stable for large inputs."""

    name = "logsumexp"
    lazy = reduces = False  # its kernel is two reductions already

    def compute(self, request, x):
        (kinds,) = request.variant
        top = _reduce_compute(x, kinds, fn.max, lambda value, kept: value, "lse_max")

        def shift(kept):  # the maximum where it is finite, else 0: a row of -inf gives -inf, as numpy
            return fn.if_then_else(fn.equal(top[kept] - top[kept], 0.0), top[kept], 0.0)

        total = _reduce_compute(x, kinds, fn.sum, lambda value, kept: fn.exp(value - shift(kept)), "lse_sum")
        return compute(top.shape, lambda *i: fn.log(total[i]) + shift(i), name="logsumexp")

    def gradient(self, g, node):
        from .shape import reshape

        x = node.inputs[0]
        keep = out_shape(x.shape, self.axes, True)
        return (ExpDiffMultiply()(reshape(g, keep), x, reshape(node, keep)),)


class ExpDiffMultiply(Elementwise):
    """``g * exp(x - y)``: the gradient of logsumexp (``y`` its value), softmax times ``g``."""

    name = "exp_diff_multiply"
    saves, saves_output = (0, 1, 2), False

    def scalar(self, g, x, y): return g * fn.exp(x - y)

    def gradient(self, gg, node):
        g, x, y = node.inputs
        through_x = ExpDiffMultiply()(multiply(gg, g), x, y)
        return self.inputs_grad((ExpDiffMultiply()(gg, x, y), through_x, negative(through_x)), node)


# -- the functional API -------------------------------------------------------------------------
#: numpy's result dtype of a sum (and needle's, whose sum is numpy's): a narrower integer widens to int64
SUM_DTYPES = {"int32": "int64"}


class Widen(Cast):
    """The cast of an integer tensor to the dtype its sum has: the adjoint is cast back, so an
    integer leaf that requires grad gets its (integer) gradient, as in needle."""

    def __init__(self, dtype: str):
        super().__init__(dtype)
        self.key = ("cast", dtype, "widen")

    def gradient(self, g, node):
        from .elementwise import cast

        return (cast(g, node.inputs[0].dtype),)


def summation(x: Tensor, axis=None, keepdims: bool = False, axes=None) -> Tensor:
    """The sum over ``axis`` (all axes when None; ``axes`` is needle's name for it, and ``()`` sums
    over no axis). An int32 tensor's sum is int64, as numpy's (and needle's)."""
    axes = normalize_axes("sum", either_axes("sum", axis, axes), x.ndim)
    if isinstance(x, Tensor) and x.dtype in SUM_DTYPES:
        x = Widen(SUM_DTYPES[x.dtype])(x)
    return Sum(axes, keepdims)(x)


def maximum_over(x: Tensor, axis=None, keepdims: bool = False, axes=None) -> Tensor:
    """The maximum over ``axis`` (all axes when None); the gradient goes to the maximal elements."""
    return Max(normalize_axes("max", either_axes("max", axis, axes), x.ndim), keepdims)(x)


def minimum_over(x: Tensor, axis=None, keepdims: bool = False, axes=None) -> Tensor:
    """The minimum over ``axis`` (all axes when None), of ``x``'s dtype: ``-max(-x)``, so the
    gradient goes to the minimal elements."""
    return negative(maximum_over(negative(x), axis, keepdims, axes))


def mean(x: Tensor, axis=None, keepdims: bool = False, axes=None) -> Tensor:
    """The mean over ``axis`` (all axes when None); an integer tensor's is float64, as numpy's."""
    from .averages import Mean
    from .elementwise import as_float

    x = as_float(x)
    return Mean(normalize_axes("mean", either_axes("mean", axis, axes), x.ndim), keepdims)(x)


def logsumexp(x: Tensor, axis=None, keepdims: bool = False, axes=None) -> Tensor:
    """``log(sum(exp(x), axis))`` computed stably (``axes`` is needle's name for ``axis``)."""
    from .elementwise import as_float

    x = as_float(x)  # an integer tensor: float64, as numpy's
    return LogSumExp(normalize_axes("logsumexp", either_axes("logsumexp", axis, axes), x.ndim), keepdims)(x)
