"""2-D convolution (NCHW input, KCRS weights) with padding, stride, dilation and groups (seed
Lec10), and its two adjoints, each a compute definition of its own.

With ``Cg = C / groups`` and ``Kg = K / groups`` channels per group and ``g(k) = k // Kg``::

    Y[n, k, y, x]   = sum_{c<Cg, r, s} Xp[n, g(k)*Cg + c, y*st + r*d, x*st + s*d] * W[k, c, r, s]
    dX[n, i, h, w]  = sum_{k in group of i, r, s} dY[n, k, (h+p-r*d)/st, (w+p-s*d)/st] * W[k, i%Cg, r, s]
                      (only where the division is exact and lands inside dY)
    dW[k, c, r, s]  = sum_{n, y, x} dY[n, k, y, x] * Xp[n, g(k)*Cg + c, y*st + r*d, x*st + s*d]

The three are closed under differentiation: each one's gradient is written with the others
(the adjoint of a linear map of ``dY`` is the forward convolution, and so on), so second
derivatives work. Schedules keep a register tile of output channels x output columns (the
columns vectorized) while the reduction runs over channels and taps, as the CPU conv2d template:
:func:`schedules.templates.generic_cpu.register_tiled`. The compute definitions live with the
tunable template that builds the same kernels (:mod:`schedules.templates.conv_variants`), so
each op names its tuning task (``conv2d_tiled``, one group, square kernels, no dilation) and
tuned tiles reach it.

Float32 CPU convolutions of one group, no dilation and a square kernel run on faster kernels
where :mod:`.conv_routes` measured them faster: the forward on Winograd or the blocked
``NCHW16c`` kernel, ``dX`` as a forward convolution of ``dY`` with the flipped weights (so on
the same kernels), ``dW`` with the output channels in vectors
(:func:`schedules.templates.conv_grad_weight.conv2d_grad_weight`). Tuned ``conv2d_tiled`` tiles
apply where the tiled kernels still run.
"""

from __future__ import annotations

from schedules import create_schedule
from schedules.templates import conv2d_cpu, conv2d_nchwc
from schedules.templates.conv_grad_weight import conv2d_grad_weight
from schedules.templates.conv_variants import ConvParams, conv_forward, conv_grad_input, conv_grad_weight
from schedules.templates.generic_cpu import register_tiled, worth_parallel
from tensorir.errors import DefinitionError
from tensorir.tensor import placeholder

from ..tensor import Tensor
from .base import Op
from .conv_routes import (
    ConvMethod,
    FlipWeights,
    SpreadGrad,
    config_method,
    forward_method,
    grad_input_plan,
    grad_weight_method,
    method_knobs,
)
from .promote import promote


def _tuning_task(request, params: ConvParams, sizes: tuple, which: str) -> tuple | None:
    """The ``conv2d_tiled`` task of a kernel with the forward sizes ``(n, c, h, w, k, kernel)``."""
    if request.target != "llvm" or params.groups != 1 or params.dilation != 1:
        return None
    return "conv2d_tiled", sizes, {"stride": params.stride, "padding": params.padding, "which": which}


class Conv2d(Op):
    name = "conv2d"

    def __init__(self, params: ConvParams):
        self.params = params
        self.key = (self.name, params)

    def kernel(self, request, config):
        (n, c, h, w), (k, _, kr, ks) = request.shapes
        p = self.params
        if request.target == "llvm" and p.groups == 1 and p.dilation == 1 and kr == ks and config.get("template"):
            return conv2d_cpu(n, c, h, w, k, kr, stride=p.stride, padding=p.padding, dtype=request.dtypes[0],
                              parallel=config["parallel"])
        method = config_method(config, self.name)
        if method is not ConvMethod.TILED and request.dtypes[0] == request.dtypes[1]:
            return conv2d_nchwc(n, c, h, w, k, kr, stride=p.stride, padding=p.padding, dtype=request.dtypes[0],
                                parallel=config["parallel"], **method_knobs(method))
        return super().kernel(request, config)

    def default_config(self, request) -> dict:
        """The tiled kernel's knobs and the ``method`` of :func:`.conv_routes.forward_method`
        (a registered or tuned config may name another)."""
        (n, c, h, w), (k, cg, kr, ks) = request.shapes
        work = n * k * h * w * cg * kr * ks
        method = forward_method(request.shapes[0], request.shapes[1], self.params, request.dtypes[0], request.target)
        return {"template": False, "tile_c": 8, "tile_v": 16, "parallel": worth_parallel(work, n),
                "method": method.value}

    def tuning_task(self, request) -> tuple | None:
        (n, c, h, w), (k, _, kr, ks) = request.shapes
        return _tuning_task(request, self.params, (n, c, h, w, k, kr), "forward") if kr == ks else None

    def compute(self, request, x, w):
        return conv_forward(x, w, self.params)

    def schedule(self, request, s, outputs, config):
        register_tiled(s, outputs[0], 1, 3, config)

    def gradient(self, g, node):
        x, w = node.inputs
        return (Conv2dGradInput(self.params, x.shape[2:])(g, w) if x.requires_grad else None,
                Conv2dGradWeight(self.params, w.shape[2:])(x, g) if w.requires_grad else None)


class Conv2dGradInput(Op):
    """``dX`` from ``(dY, W)``: linear in each, its adjoints are a convolution and ``dW``."""

    name = "conv2d_grad_input"

    def __init__(self, params: ConvParams, in_hw: tuple[int, int]):
        self.params, self.in_hw = params, tuple(in_hw)
        self.key = (self.name, params, self.in_hw)

    def default_config(self, request) -> dict:
        return {"tile_c": 8, "tile_v": 16}

    def forward(self, dy, w, device: str = "cpu"):
        """``dX``: as a forward convolution of ``dY`` with the flipped weights where
        :func:`.conv_routes.grad_input_plan` routes it (one kernel of its own otherwise)."""
        p, (kr, _) = self.params, w.shape[2:]
        plan = None if device != "cpu" or dy.dtype != w.dtype else grad_input_plan(
            dy.shape, w.shape, p, self.in_hw, dy.dtype.name, "llvm")
        if plan is None:
            return super().forward(dy, w, device=device)
        flipped = FlipWeights().forward(w, device=device)
        if plan == "pad":
            return Conv2d(ConvParams(1, kr - 1 - p.padding)).forward(dy, flipped, device=device)
        spread = SpreadGrad(p.stride, p.padding, kr, self.in_hw)
        if plan == "scatter":
            return spread.forward(Conv2d(ConvParams(1, 0)).forward(dy, flipped, device=device), device=device)
        return Conv2d(ConvParams(1, 0)).forward(spread.forward(dy, device=device), flipped, device=device)

    def tuning_task(self, request) -> tuple | None:
        (n, k, _, _), (_, c, kr, ks) = request.shapes
        return _tuning_task(request, self.params, (n, c, *self.in_hw, k, kr), "grad_input") if kr == ks else None

    def compute(self, request, dy, w):
        return conv_grad_input(dy, w, self.params, self.in_hw)

    def schedule(self, request, s, outputs, config):
        register_tiled(s, outputs[0], 1, 3, config)

    def gradient(self, gg, node):
        dy, w = node.inputs
        return (Conv2d(self.params)(gg, w) if dy.requires_grad else None,
                Conv2dGradWeight(self.params, w.shape[2:])(gg, dy) if w.requires_grad else None)


class Conv2dGradWeight(Op):
    """``dW`` from ``(X, dY)``: linear in each, its adjoints are ``dX`` and a convolution."""

    name = "conv2d_grad_weight"

    def __init__(self, params: ConvParams, kernel: tuple[int, int]):
        self.params, self.kernel_hw = params, tuple(kernel)
        self.key = (self.name, params, self.kernel_hw)

    def default_config(self, request) -> dict:
        """The tiled kernel's knobs and the ``method`` of :func:`.conv_routes.grad_weight_method`."""
        method = grad_weight_method(request.shapes[0], self.kernel_hw, self.params, request.dtypes, request.target)
        (_, c, _, _), (n, k, oh, ow) = request.shapes
        work = n * k * oh * ow * c * self.kernel_hw[0] * self.kernel_hw[1]
        return {"tile_c": 8, "tile_v": 16, "method": method.value, "parallel": worth_parallel(work, 2)}

    def kernel(self, request, config):
        if config_method(config, self.name) is ConvMethod.BLOCKED:
            (n, c, h, w), k = request.shapes[0], request.shapes[1][1]
            p = self.params
            return conv2d_grad_weight(n, c, h, w, k, self.kernel_hw[0], stride=p.stride, padding=p.padding,
                                      dtype=request.dtypes[0], parallel=config["parallel"])
        x = placeholder(request.shapes[0], request.dtypes[0], name="X")
        dy = placeholder(request.shapes[1], request.dtypes[1], name="dY")
        dw = conv_grad_weight(x, dy, self.params, self.kernel_hw)
        s = create_schedule(dw)
        if request.target == "cuda":
            from schedules.templates.gpu_generic import schedule_gpu

            schedule_gpu(s)
        else:
            partial = dw.op.inputs[0]
            register_tiled(s, partial, 0, 4, config, second=1)
        return s, [x, dy, dw]

    def tuning_task(self, request) -> tuple | None:
        (n, c, h, w), k = request.shapes[0], request.shapes[1][1]
        kr, ks = self.kernel_hw
        return _tuning_task(request, self.params, (n, c, h, w, k, kr), "grad_weight") if kr == ks else None

    def compute(self, request, x, dy):
        return conv_grad_weight(x, dy, self.params, self.kernel_hw)

    def gradient(self, gg, node):
        x, dy = node.inputs
        return (Conv2dGradInput(self.params, x.shape[2:])(dy, gg) if x.requires_grad else None,
                Conv2d(self.params)(x, gg) if dy.requires_grad else None)


def conv2d(x: Tensor, weight: Tensor, stride: int = 1, padding: int = 0, dilation: int = 1,
           groups: int = 1) -> Tensor:
    """2-D convolution of ``x`` (N, C, H, W) with ``weight`` (K, C/groups, R, S).

    Raises
    ------
    DefinitionError
        When ranks, channel counts or groups do not fit, or the output would be empty.
    """
    return Conv2d(conv_params(x, weight, stride, padding, dilation, groups))(*promote(x, weight))


def conv_params(x: Tensor, weight: Tensor, stride: int, padding: int, dilation: int, groups: int) -> ConvParams:
    """The parameters of ``conv2d(x, weight, ...)`` once they are checked (see :func:`conv2d`)."""
    if x.ndim != 4 or weight.ndim != 4:
        raise DefinitionError(f"conv2d: input and weight must be 4-D (N, C, H, W) and (K, C/groups, R, S), "
                              f"got shapes {x.shape} and {weight.shape}")
    for label, value in (("stride", stride), ("dilation", dilation), ("groups", groups)):
        if not isinstance(value, int) or value < 1:
            raise DefinitionError(f"conv2d: {label} must be a positive int, got {value!r}")
    if not isinstance(padding, int) or padding < 0:
        raise DefinitionError(f"conv2d: padding must be a non-negative int, got {padding!r}")
    n, c, h, w = x.shape
    k, cg, kr, ks = weight.shape
    if c % groups or k % groups or cg != c // groups:
        raise DefinitionError(f"conv2d: input shape {x.shape} and weight shape {weight.shape} do not fit "
                              f"groups={groups}: weight needs {c // groups if c % groups == 0 else '?'} "
                              f"input channels per group and both channel counts divisible by {groups}")
    params = ConvParams(stride, padding, dilation, groups)
    if params.out_extent(h, kr) < 1 or params.out_extent(w, ks) < 1:
        raise DefinitionError(f"conv2d: a {kr}x{ks} kernel (dilation {dilation}) does not fit the "
                              f"{h}x{w} input padded by {padding}")
    return params
