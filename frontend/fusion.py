"""Fused kernels: a producer and the elementwise work around it compiled as one kernel.

Fusion happens at a well-defined point, where a layer knows what follows it:
:class:`~frontend.nn.Sequential` hands an affine layer (``Linear``, ``Conv2d``) with a bias the
activation module that comes next, and the layer calls
:func:`frontend.fusion_epilogue.affine` (or ``conv_affine``) instead of the product, an ``add``
and an activation. The fused ops are:

* the product's own kernel with the bias and activation folded in (``matmul_bias_relu``,
  ``conv2d_bias``, ...; :mod:`frontend.fusion_epilogue`): what ``Linear``/``Conv2d`` with a bias,
  alone or with the activation after them, run on the CPU;
* ``bias_<activation>`` (:class:`BiasActivation`): ``act(x + b)`` with ``b`` broadcast, one
  elementwise kernel instead of two (where the product cannot take the epilogue);
* ``add_n`` (:class:`AddN`): the sum of several adjoints of one tensor (a weight shared by the
  steps of a recurrent layer gets one per step), one kernel reading each once instead of a chain
  of ``add`` kernels;
* ``bias_<activation>_backward`` (:class:`BiasActivationBackward`): from the adjoint ``g`` of the
  output ``y``, both the adjoint of the pre-activation ``dz = g * act'(y)`` and the bias adjoint
  ``db = sum(dz)`` over the broadcast axes -- a reduction with its elementwise producer -- one
  kernel with two outputs instead of two (or three) kernels.

Each fused kernel goes through the one :class:`~frontend.dispatch.KernelCache` under a request
naming the fused graph (``bias_relu``, ...) and its canonical shapes, so equal graphs on equal
shapes share one compiled kernel. The fused backward runs where gradients are not themselves
recorded (a plain ``backward()``); under ``create_graph=True`` the gradient is built from the
differentiable unfused ops, so it can be differentiated again. ``fusion(False)`` turns fusion
off (the before/after figures of ``benchmarks/train_step.py``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

from schedules.templates.epilogue import activate
from schedules.templates.generic_cpu import VECTOR, generic, innermost_vector
from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.tensor import compute, reduce_axis

from . import dispatch
from .autograd import is_grad_enabled
from .ops import elementwise as ew
from .ops.base import Op, contiguous
from .ops.promote import promote
from .tensor import Tensor

#: the activations an affine layer can fuse as its epilogue
ACTIVATIONS = frozenset({"relu", "tanh", "sigmoid"})
_state = {"enabled": True}


def enabled() -> bool:
    """Whether layers fuse their epilogues (on by default)."""
    return _state["enabled"]


@contextlib.contextmanager
def fusion(on: bool) -> Iterator[None]:
    """Within this block, fusion is on (``True``) or off (``False``)."""
    previous = _state["enabled"]
    _state["enabled"] = bool(on)
    try:
        yield
    finally:
        _state["enabled"] = previous


def _slope(kind: str, g, y):
    """``g * act'(x)`` written with the activation's output ``y`` (``y > 0`` iff ``x > 0``)."""
    match kind:
        case "relu":
            return g * ew.mask(y > 0.0, g.dtype)
        case "tanh":
            return g * (1.0 - y * y)
        case _:
            return g * y * (1.0 - y)


_UNFUSED = {"relu": (ew.relu, ew.ReLUBackward), "tanh": (ew.tanh, ew.TanhBackward),
            "sigmoid": (ew.sigmoid, ew.SigmoidBackward)}


class BiasActivation(ew.Elementwise):
    """``act(x + b)``, ``b`` broadcast against ``x``: one kernel."""

    def __init__(self, activation: str):
        self.activation = activation
        self.name = f"bias_{activation}"
        self.key = (self.name,)

    def scalar(self, x, b):
        return activate(self.activation, x + b)

    def gradient(self, g, node):
        x, b = node.inputs
        if not is_grad_enabled():
            found = _fused_backward(self.activation, g, node, b.shape)
            if found is not None:  # x may have been broadcast too: its adjoint summed back to its shape
                return (ew.reduce_to_shape(found[0], x.shape) if x.requires_grad else None,
                        found[1] if b.requires_grad else None)
        dz = _UNFUSED[self.activation][1]()(g, node)
        return self.inputs_grad((dz, dz), node)


class BiasActivationBackward(Op):
    """From ``g`` and ``y`` of canonical shape ``(A, C, B)`` (the bias along ``C``): ``dz =
    g * act'(y)`` and ``db[c] = sum(dz[a, c, b] over a, b)``, two outputs of one kernel."""

    def __init__(self, activation: str):
        self.activation = activation
        self.name = f"bias_{activation}_backward"
        self.key = (self.name,)

    def compute(self, request, g, y):
        kind = self.activation
        rows, channels, inner = g.shape
        dz = compute(g.shape, lambda a, c, k: _slope(kind, g[a, c, k], y[a, c, k]), name="dz")
        ra = reduce_axis(rows, "a")
        lanes = _lanes(inner)
        if lanes == 1:  # reads dz back
            rk = reduce_axis(inner, "k")
            return dz, compute((channels,), lambda c: fn.sum(dz[ra, c, rk], axis=[ra, rk]), name="db")
        # the sum along the contiguous axis in ``lanes`` partial sums (vectors), then across them
        rk, rl = reduce_axis(inner // lanes, "k"), reduce_axis(lanes, "l")
        part = compute((channels, lanes), lambda c, lane: fn.sum(dz[ra, c, rk * lanes + lane], axis=[ra, rk]),
                       name="db.part")
        return dz, compute((channels,), lambda c: fn.sum(part[c, rl], axis=rl), name="db")

    def schedule(self, request, s, outputs, config):
        dz, db = outputs
        generic(s, dz, config)
        inner = request.shapes[0][2]
        if inner == 1:  # a bias along the last axis: rows outer, the bias axis in vectors
            innermost_vector(s, db, config.get("vector", VECTOR))
            return
        generic(s, db, config)
        if _lanes(inner) > 1:  # the partial sums: channels outer, the reduction, the lanes in a vector
            (part,) = db.op.inputs
            innermost_vector(s, part, _lanes(inner))


def _lanes(inner: int) -> int:
    """Partial sums kept along a contiguous reduced axis of extent ``inner``: a vector's width
    that divides it, or 1."""
    return next((lanes for lanes in (VECTOR, 4, 2) if inner % lanes == 0 and inner >= 4 * lanes), 1)


class AddN(ew.Elementwise):
    """``x0 + x1 + ... + x(n-1)``, the operands of one shape and dtype: one kernel."""

    def __init__(self, count: int):
        self.count = count
        self.name = "add_n"
        self.key = (self.name, count)

    def scalar(self, *values):
        total = values[0]
        for value in values[1:]:
            total = total + value
        return total

    def gradient(self, g, node):
        return (g,) * self.count


#: the most operands one ``add_n`` kernel reads (more are summed in groups)
ADD_N_MAX = 16


def sum_all(tensors: list[Tensor]) -> Tensor:
    """The sum of ``tensors``: one ``add_n`` kernel (per :data:`ADD_N_MAX` operands) when fusion
    is on and they share a shape, dtype and the CPU, else a chain of ``add``."""
    first = tensors[0]
    if len(tensors) > 2 and enabled() and first.device == "cpu" and all(
            t.shape == first.shape and t.dtype == first.dtype and t.device == first.device for t in tensors):
        while len(tensors) > 1:
            tensors = [AddN(len(group))(*group) if len(group) > 1 else group[0]
                       for group in (tensors[k:k + ADD_N_MAX] for k in range(0, len(tensors), ADD_N_MAX))]
        return tensors[0]
    total = first
    for more in tensors[1:]:
        total = ew.add(total, more)
    return total


def _bias_layout(shape: tuple[int, ...], bias_shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """``(A, C, B)``: ``shape`` as rows x bias axes x the rest, when the non-1 axes of
    ``bias_shape`` (aligned to the right) are adjacent and match ``shape``; else None."""
    if len(bias_shape) > len(shape):
        return None
    aligned = (1,) * (len(shape) - len(bias_shape)) + tuple(bias_shape)
    axes = [a for a, n in enumerate(aligned) if n != 1]
    if not axes:
        return math.prod(shape), 1, 1
    first, last = axes[0], axes[-1] + 1
    if any(aligned[a] != shape[a] for a in range(first, last)):
        return None
    return math.prod(shape[:first]), math.prod(shape[first:last]), math.prod(shape[last:])


def _fused_backward(kind: str, g: Tensor, y: Tensor, bias_shape: tuple[int, ...]) -> tuple[Tensor, Tensor] | None:
    """``(dz, db)`` from one fused kernel, or None when the bias does not lie along adjacent axes."""
    layout = _bias_layout(y.shape, bias_shape)
    if layout is None or g.dtype != y.dtype:
        return None
    arrays = [contiguous(a._storage(), y.device).reshape(layout) for a in (g, y)]
    op = BiasActivationBackward(kind)
    dz, db = dispatch.run(op, arrays, y.device)
    return Tensor._wrap(dz.reshape(y.shape), y.device), Tensor._wrap(db.reshape(bias_shape), y.device)


def bias_activation(x: Tensor, bias: Tensor | None, activation: str | None) -> Tensor:
    """``activation(x + bias)`` (either part may be None): one fused kernel where fusion is on
    (:func:`enabled`) and ``x`` is on the CPU, else an ``add`` and the activation's own kernel.

    Raises
    ------
    DefinitionError
        When ``activation`` is not one of :data:`ACTIVATIONS` or None.
    """
    if activation is not None and activation not in ACTIVATIONS:
        raise DefinitionError(f"bias_activation: activation {activation!r} cannot be fused; "
                              f"use one of {', '.join(sorted(ACTIVATIONS))} or None")
    if bias is None or activation is None or not enabled() or x.device != "cpu":
        y = x if bias is None else ew.add(x, bias)
        return y if activation is None else _UNFUSED[activation][0](y)
    x, bias = promote(x, bias)
    if not x.dtype.startswith("float"):
        raise DefinitionError(f"bias_activation: {x.dtype} inputs; activations need a float dtype, "
                              "cast with .astype('float32')")
    return BiasActivation(activation)(x, bias)


def epilogue(module, following) -> str | None:
    """The activation that ``module`` (a ``Linear`` or ``Conv2d``, not a subclass: one may
    override ``forward``) can fuse from the ``following`` module, or None."""
    from .nn import conv, layers

    if not enabled() or following is None or type(module) not in (layers.Linear, conv.Conv2d):
        return None
    kinds = {layers.ReLU: "relu", layers.Tanh: "tanh", layers.Sigmoid: "sigmoid"}
    return kinds.get(type(following))
