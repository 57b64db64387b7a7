"""Op: one operation of the autograd graph, its forward and its gradient side by side.

``forward`` looks at the input arrays and builds a frozen
:class:`~frontend.request.KernelRequest`; ``compute`` (the forward as a Nestor compute
definition over placeholders of the input shapes), ``schedule`` (its loops for the CPU: the
generic schedules of :mod:`schedules.templates.generic_cpu`), ``kernel``, ``default_config`` and
``tuning_task`` are functions of that request and of the op's construction parameters only,
never of an earlier call. ``gradient`` returns the adjoints of the inputs, built from other ops
so that they are differentiable too. Kernels run through the cache in :mod:`frontend.dispatch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from schedules import create_schedule
from schedules.templates import generic_cpu
from schedules.templates.gpu_generic import schedule_gpu
from tensorir.tensor import Tensor as Expression
from tensorir.tensor import placeholder

from .. import dispatch
from ..request import KernelRequest

if TYPE_CHECKING:
    from ..tensor import Tensor


class Op:
    """Base of every op. Subclasses set ``name`` and, when they have parameters, ``key``:
    ``(name, *parameters)``, set once at construction and never changed."""

    name = "op"
    #: recorded and run later, fused with its neighbours (:mod:`frontend.lazy_graph`); such an op
    #: has ``infer(inputs) -> (shape, dtype)`` that checks the inputs at the call
    lazy = False
    #: a reduction of the lazy graph: its group ends at its output (:mod:`frontend.lazy_reduce`)
    reduces = False
    #: the inputs (positions, or True for all) whose values ``gradient`` reads, and whether it
    #: reads the output's: what the lazy graph stores for the backward pass
    saves: tuple[int, ...] | bool = True
    saves_output = True
    #: ``forward``'s choices depend only on the inputs' shapes, strides, dtypes and device and on
    #: ``key``: applied again to such arrays, the op replays its one kernel (:mod:`frontend.replay`)
    replays = False

    def __init__(self) -> None:
        self.key: tuple = (self.name,)

    def __call__(self, *inputs: Tensor) -> Tensor:
        return (_TENSOR or _tensor_class()).from_op(self, inputs)  # which checks the inputs are Tensors

    # -- forward ---------------------------------------------------------------------------
    def forward(self, *arrays: np.ndarray, device: str = "cpu") -> np.ndarray:
        """The output array: the compiled kernel run on the (compacted) inputs."""
        arrays = [contiguous(a, device) if a.ndim else a.reshape(1) for a in arrays]
        return dispatch.run(self, arrays, device)[0]

    def request(self, arrays: list[np.ndarray], device: str, variant: tuple = ()) -> KernelRequest:
        """The kernel request of this op in form ``variant`` on ``arrays`` (memoised by signature)."""
        signature = (self.key, variant, device, *[(a.shape, a.dtype) for a in arrays])
        found = dispatch.cache.requests.get(signature)
        if found is None:
            found = dispatch.cache.requests[signature] = KernelRequest(
                self.key[0], self.key[1:], variant, tuple(a.shape for a in arrays),
                tuple(a.dtype.name for a in arrays), device)
        return found

    def compute(self, request: KernelRequest, *inputs: Expression) -> Expression | tuple[Expression, ...]:
        """The forward as compute definitions over placeholders of the input shapes."""
        raise NotImplementedError(f"{self.name} has no compute definition")

    def schedule(self, request: KernelRequest, s, outputs: list[Expression], config: dict) -> None:
        """Arrange the loops of ``outputs`` for the CPU; the default is the generic schedule."""
        for out in outputs:
            generic_cpu.generic(s, out, config)

    def default_config(self, request: KernelRequest) -> dict:
        """Schedule knobs for this request when no tuned config is known."""
        return {}

    def tuning_task(self, request: KernelRequest) -> tuple | None:
        """``(template, sizes, options)`` when the kernel is a tunable template, so that the
        tuning database's best config for it is used; None otherwise."""
        return None

    def kernel(self, request: KernelRequest, config: dict):
        """``(schedule, args)`` of this op's kernel: inputs as placeholders, then the outputs."""
        inputs = [placeholder(shape, dtype, name=f"in{n}")
                  for n, (shape, dtype) in enumerate(zip(request.shapes, request.dtypes))]
        outputs = self.compute(request, *inputs)
        outputs = list(outputs) if isinstance(outputs, tuple) else [outputs]
        s = create_schedule(outputs)
        if request.target == "cuda":
            schedule_gpu(s)
        else:
            self.schedule(request, s, outputs, config)
        return s, [*inputs, *outputs]

    # -- gradient --------------------------------------------------------------------------
    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor | None, ...]:
        """The adjoint of each input given the adjoint ``out_grad`` of ``node`` (None: no gradient)."""
        raise NotImplementedError(f"{self.name}: differentiation is not implemented")

    def gradient_as_tuple(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor | None, ...]:
        """needle's name for :meth:`gradient`: the inputs' adjoints, always a tuple. An adjoint of
        another dtype than ``node`` (needle's tests pass float64 adjoints of float32 outputs, which
        needle's float32 arrays take as float32) is cast to the node's dtype first."""
        Tensor = _TENSOR or _tensor_class()
        if isinstance(out_grad, Tensor) and isinstance(node, Tensor) and out_grad.dtype != node.dtype \
                and node.dtype.startswith("float"):
            from .elementwise import cast

            out_grad = cast(out_grad, node.dtype)
        partials = self.gradient(out_grad, node)
        return tuple(partials) if isinstance(partials, (tuple, list)) else (partials,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self.key[1:]}"


#: :class:`frontend.tensor.Tensor`, imported on the first op call (it imports this module); a
#: function-level import on every call cost about a microsecond, ~14 times per MLP step
_TENSOR = None


def _tensor_class():
    global _TENSOR
    from ..tensor import Tensor

    _TENSOR = Tensor
    return Tensor


class CompactOp(Op):
    """``out[idx] = base[sum(idx * strides)]``: a strided view copied into contiguous storage
    (seed Lec11's compact), the view's memory passed as a flat array from its first element."""

    name = "compact"

    def __init__(self, shape: tuple[int, ...], strides: tuple[int, ...]):
        self.shape, self.strides = shape, strides
        self.key = (self.name, shape, strides)

    def compute(self, request: KernelRequest, flat: Expression) -> Expression:
        from tensorir.tensor import compute

        strides = self.strides
        return compute(self.shape, lambda *idx: flat[_dot(idx, strides)], name="compact")


def _dot(indices, strides):
    terms = [index * stride for index, stride in zip(indices, strides) if stride]
    total = terms[0] if terms else 0
    for term in terms[1:]:
        total = total + term
    return total


def contiguous(array: np.ndarray, device: str = "cpu") -> np.ndarray:
    """``array`` itself when C-contiguous, else a contiguous copy made by the compact kernel."""
    if array.flags.c_contiguous:
        return array
    itemsize = array.itemsize
    if array.size == 0 or any(s < 0 for s in array.strides):
        return np.ascontiguousarray(array)
    strides = tuple(s // itemsize for s in array.strides)
    shape = array.shape if array.ndim else (1,)
    span = 1 + sum((n - 1) * s for n, s in zip(array.shape, strides))
    flat = np.lib.stride_tricks.as_strided(array, shape=(span,), strides=(itemsize,))
    op = CompactOp(shape, strides if array.ndim else (0,))
    return dispatch.run(op, [flat], device)[0].reshape(array.shape)
