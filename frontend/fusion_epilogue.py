"""Affine layers with their epilogue inside the product's kernel: ``act(x @ W + b)`` and
``act(conv2d(x, W) + b)`` (bias and activation each optional) run as one kernel.

:class:`MatMulEpilogue` and :class:`Conv2dEpilogue` are the matmul and convolution ops with an
:class:`~schedules.templates.epilogue.Epilogue` folded into their template
(:func:`~schedules.templates.epilogue.fold`): the same forms, layouts, tiles and tuned configs as
the plain op (its tuning task is the product's), the bias added and the activation applied as
each register or cache tile is written. The ops are named by the epilogue's structure
(``matmul_bias_relu``, ``conv2d_bias``, ...), so equal structures on equal shapes share one
kernel, and the symbolic batch of :mod:`frontend.symbatch` applies as it does to the plain ops.

The backward keeps the meaning of the unfused graph: from the adjoint ``g`` of the output ``y``,
``dz = g * act'(y)`` and the bias adjoint ``sum(dz)`` over the broadcast axes in the one kernel
of :class:`~frontend.fusion.BiasActivationBackward` (where gradients are not themselves
recorded; under ``create_graph=True`` from differentiable ops), then the product's adjoints
from ``dz``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from schedules.templates.epilogue import Epilogue, fold, fold_copy

from . import dispatch
from .autograd import is_grad_enabled
from .ops import elementwise as ew
from .ops.base import contiguous
from .ops.conv import Conv2d, Conv2dGradInput, Conv2dGradWeight, conv_params
from .ops.matmul import DOT, MatMul, product_adjoints
from .ops.matmul_packed import is_packed
from .ops.promote import promote
from .ops.shape import reshape
from .tensor import Tensor


def _name(base: str, bias: bool, activation: str | None) -> str:
    return "_".join([base, *(["bias"] if bias else []), *([activation] if activation else [])])


def _base(request, op: str, params: tuple, variant: tuple):
    """The plain op's request: its two operands, its form."""
    return replace(request, op=op, params=params, variant=variant, shapes=request.shapes[:2],
                   dtypes=request.dtypes[:2])


class MatMulEpilogue(MatMul):
    """``activation(a @ b + bias)`` over the last axis (the columns); inputs ``(a, b[, bias])``."""

    def __init__(self, activation: str | None, bias: bool):
        self.activation, self.bias = activation, bias
        self.name = _name("matmul", bias, activation)
        self.key = (self.name,)

    def forward(self, a: np.ndarray, b: np.ndarray, *bias: np.ndarray, device: str = "cpu") -> np.ndarray:
        return self.product_of(a, b, contiguous(bias[0], device).reshape(-1) if bias else None, device)

    def launch(self, arrays, bias, device, variant, flipped):
        # the variant ends with whether the kernel computes the transpose (its bias along rows)
        return dispatch.run(self, [*arrays, *([] if bias is None else [bias])], device, (*variant, flipped))[0]

    def plain(self, request):
        """The request of the product alone (the plain op's methods call each other with it)."""
        return _base(request, "matmul", (), request.variant[:-1]) if request.op == self.name else request

    def default_config(self, request) -> dict:
        return super().default_config(self.plain(request))

    def tuning_task(self, request) -> tuple | None:
        return super().tuning_task(self.plain(request))

    def kernel(self, request, config):
        plain = self.plain(request)
        template = super().kernel(plain, config)
        out = template[1][-1]
        axis = (0 if request.variant[-1] else len(out.shape) - 1) if self.bias else None
        tiles = (1, out.shape[-1]) if plain.variant == DOT else (config.get("b1"), config.get("b2"))
        return fold(template, Epilogue(self.activation, axis), tiles=tiles)

    def batched_inputs(self, request) -> tuple[int, ...] | None:
        """The inputs whose axis 0 is a symbolic batch (as the plain product's), or None."""
        shapes, variant = request.shapes, request.variant
        if variant[-1] or len(shapes[0]) != 2 or (len(shapes[1]) != 2 and not is_packed(variant[:-1])):
            return None  # a transposed kernel: the batch runs along the bias
        return (0, 1) if variant[:-1] != DOT and variant[0] else (0,)

    def gradient(self, g, node):
        a, b, *bias = node.inputs
        bias = bias[0] if bias else None
        dz, dbias = epilogue_adjoints(self.activation, g, node, bias, () if bias is None else bias.shape)
        return (*product_adjoints(dz, a, b), *([] if bias is None else [dbias]))


class Conv2dEpilogue(Conv2d):
    """``activation(conv2d(x, w) + bias[k])``, the bias along the output channels; inputs ``(x, w[, bias])``."""

    def __init__(self, params, activation: str | None, bias: bool):
        self.params, self.activation, self.bias = params, activation, bias
        self.name = _name("conv2d", bias, activation)
        self.key = (self.name, params)

    def plain(self, request):
        """The request of the convolution alone."""
        return _base(request, "conv2d", request.params, request.variant) if request.op == self.name else request

    def default_config(self, request) -> dict:
        return super().default_config(self.plain(request))

    def tuning_task(self, request) -> tuple | None:
        return super().tuning_task(self.plain(request))

    def kernel(self, request, config):
        template = super().kernel(self.plain(request), config)
        epilogue = Epilogue(self.activation, 1 if self.bias else None)
        if config.get("method", "tiled") != "tiled" and not config.get("template"):  # the blocked kernels
            return fold_copy(template, epilogue)
        return fold(template, epilogue)

    def gradient(self, g, node):
        x, w, *bias = node.inputs
        view = (1, w.shape[0], 1, 1)
        dz, dbias = epilogue_adjoints(self.activation, g, node, bias[0] if bias else None, view)
        return (Conv2dGradInput(self.params, x.shape[2:])(dz, w) if x.requires_grad else None,
                Conv2dGradWeight(self.params, w.shape[2:])(x, dz) if w.requires_grad else None,
                *([dbias] if bias else []))


def epilogue_adjoints(activation: str | None, g: Tensor, y: Tensor, bias: Tensor | None,
                      view: tuple[int, ...]) -> tuple[Tensor, Tensor | None]:
    """``(dz, dbias)`` of ``y = activation(z + bias)``, the bias broadcast as ``view``."""
    from .fusion import _UNFUSED, _fused_backward

    wants_bias = bias is not None and bias.requires_grad
    if activation is None:
        dz = g
    elif bias is not None and not is_grad_enabled():
        found = _fused_backward(activation, g, y, view)
        if found is not None:
            dz, db = found
            return dz, Tensor._wrap(db._storage().reshape(bias.shape), db.device) if wants_bias else None
        dz = _UNFUSED[activation][1]()(g, y)
    else:
        dz = _UNFUSED[activation][1]()(g, y)
    return dz, reshape(ew.reduce_to_shape(dz, view), bias.shape) if wants_bias else None


def _fusable(*tensors: Tensor) -> bool:
    from .fusion import enabled

    return enabled() and all(t.device == "cpu" and t.dtype.startswith("float") for t in tensors)


def _bias_shapes(weight: Tensor) -> tuple[tuple[int, ...], ...]:
    """The bias shapes the fused product takes: ``(out,)`` and needle's ``(1, out)`` (its
    gradient keeps that shape; the kernel reads either as ``(out,)``, so no reshape op runs)."""
    return (weight.shape[1],), (1, weight.shape[1])


def affine(x: Tensor, weight: Tensor, bias: Tensor | None, activation: str | None) -> Tensor:
    """``activation(x @ weight + bias)`` (a 2-D ``weight``, ``bias`` and ``activation`` optional;
    ``bias`` of shape ``(out,)`` or ``(1, out)``): one kernel where fusion is on and the tensors
    are float on the CPU, else the unfused ops."""
    from . import ops
    from .fusion import bias_activation

    tensors = [x, weight, *([] if bias is None else [bias])]
    if (bias is None and activation is None) or not _fusable(*tensors) or weight.ndim != 2 or x.ndim < 2 \
            or x.shape[-1] != weight.shape[0] or (bias is not None and bias.shape not in _bias_shapes(weight)):
        return bias_activation(ops.matmul(x, weight), bias, activation)
    return MatMulEpilogue(activation, bias is not None)(*promote(*tensors))


def conv_affine(x: Tensor, weight: Tensor, bias: Tensor | None, activation: str | None, stride: int = 1,
                padding: int = 0, dilation: int = 1, groups: int = 1) -> Tensor:
    """``activation(conv2d(x, weight) + bias[k])`` (``bias`` of shape ``(K,)`` and ``activation``
    optional): one kernel where fusion is on and the tensors are float on the CPU."""
    from . import ops
    from .fusion import bias_activation

    params = conv_params(x, weight, stride, padding, dilation, groups)
    tensors = [x, weight, *([] if bias is None else [bias])]
    if (bias is None and activation is None) or not _fusable(*tensors) or \
            (bias is not None and bias.shape != (weight.shape[0],)):
        y = ops.conv2d(x, weight, stride, padding, dilation, groups)
        return bias_activation(y, None if bias is None else ops.reshape(bias, (1, -1, 1, 1)), activation)
    return Conv2dEpilogue(params, activation, bias is not None)(*promote(*tensors))
