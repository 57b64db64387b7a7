"""Kernels with a symbolic batch: one compiled kernel serves every batch size of an op.

A frontend op's request names concrete shapes, and training meets several batch sizes (the last,
smaller batch of an epoch, the evaluation batch). Before compiling a request, the kernel cache
asks :func:`generalize` for the same request with its batch extent replaced by the size variable
:data:`BATCH`; that symbolic request is compiled once (per schedule config) and every concrete
request of it gets a :class:`BatchKernel`, which passes its batch extent to the shared machine
code. Where an op's batch axis is known:

- elementwise ops: the leading axis of the canonical (merged) output, and of each input that is
  not broadcast along it; the same for the fused groups of the lazy graph
  (:mod:`frontend.lazy_kernel`), whose every output shares that leading axis;
- reductions fused with their producers (:mod:`frontend.lazy_reduce`): the leading axis of
  the space they reduce, kept or reduced;
- reductions: the leading axis of the canonical input (kept or reduced);
- 2-D matrix products: the rows of ``A`` (``A @ B``, ``A @ B.T``, dot products of rows), and the
  shared contraction axis when ``A`` is stored transposed (the weight gradient ``X.T @ G``);
- softmax cross entropy and its gradient: the rows of every operand (of the logits and labels for
  the mean's form);
- convolutions, their two adjoints and pooling (:data:`LEADING`): the images of the batch (for
  the weight gradient, the batch is reduced over);
- compaction of a view that broadcasts along its leading axis (a loss gradient spread over the
  batch);
- ``mean`` and its gradient (:mod:`frontend.ops.averages`): the count is computed in the kernel.

Other ops (gathers, padding, dilation, stacking, slicing adjoints, batched 3-D products, and ops
on parameters only: the optimizers' updates, transposes of weights) keep static kernels.

The schedule config is the one of the concrete request that first builds the kernel (a
registered or tuned config for that shape, else the defaults); the config is part of the
symbolic kernel's key, so a size whose tuned config differs gets its own kernel, and so does a
size large enough for the generic schedules to start threads (their choices for a symbolic
extent use the batch extent of the first request as a hint,
:mod:`schedules.templates.size_hints`). A symbolic
request that the schedules or the bounds proofs refuse falls back to a static kernel, and is
remembered so as not to be tried again. Only CPU (llvm) kernels are generalized.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from backends.args import data_pointers
from schedules.templates.size_hints import size_hints
from tensorir import config as settings
from tensorir.errors import NestorError
from tensorir.symbolic import evaluate, size_var

from . import aligned
from .request import KernelRequest

#: the size variable of every symbolic batch axis
BATCH = size_var("batch")


def generalize(op, request: KernelRequest) -> tuple[KernelRequest, object, int] | None:
    """``(symbolic request, op to build it with, batch extent)``, or None when ``request`` stays static."""
    if request.target != "llvm":
        return None
    from .lazy_kernel import FusedElementwise
    from .ops.averages import MeanBackward
    from .ops.base import CompactOp
    from .ops.elementwise import Elementwise
    from .ops.loss import SoftmaxCrossEntropy, SoftmaxCrossEntropyBackward
    from .ops.matmul import DOT, MatMul
    from .ops.matmul_packed import is_packed
    from .ops.reduce import Reduction

    if type(op) is FusedElementwise:
        return _fused(op, request)
    from .lazy_reduce import FusedReduction
    from .lazy_reduce import generalize as fused_reduction

    if type(op) is FusedReduction:
        return fused_reduction(op, request)
    if isinstance(op, Elementwise):
        return _elementwise(op, request)
    if isinstance(op, Reduction):
        return _leading(op, request, (0,))
    from .fusion_epilogue import MatMulEpilogue

    if isinstance(op, MatMulEpilogue):  # a product with its epilogue: the product's batch
        inputs = op.batched_inputs(request)
        return None if inputs is None else _leading(op, request, inputs)
    if isinstance(op, MatMul) and (all(len(s) == 2 for s in request.shapes) or is_packed(request.variant)):
        transposed_a = request.variant != DOT and request.variant[0]
        return _leading(op, request, (0, 1) if transposed_a else (0,))
    if type(op) in (SoftmaxCrossEntropy, SoftmaxCrossEntropyBackward):
        return _leading(op, request, tuple(range(len(request.shapes))))
    if request.op in MEAN_LOSS:  # the fused mean: the 0-d adjoint has no batch
        return _leading(op, request, MEAN_LOSS[request.op])
    if request.op in LEADING:
        return _leading(op, request, LEADING[request.op])
    if type(op) is CompactOp:
        return _compact(op, request)
    if type(op) is MeanBackward:
        return _mean_backward(op, request)
    return None


#: the mean softmax cross entropy (:mod:`frontend.ops.loss`): its batched inputs, the logits and labels
MEAN_LOSS = {"softmax_cross_entropy_mean": (0, 1), "softmax_cross_entropy_mean_backward": (1, 2)}

#: ops (by name) whose listed inputs are NCHW-like with the batch first
LEADING = {"conv2d": (0,), "conv2d_grad_input": (0,), "conv2d_grad_weight": (0, 1), "max_pool2d": (0,),
           "max_pool2d_backward": (0, 1, 2), "avg_pool2d": (0,), "avg_pool2d_backward": (0,),
           # fused ops (frontend/fusion.py): g and y of canonical shape (batch, channels, inner)
           **{f"bias_{act}_backward": (0, 1) for act in ("relu", "tanh", "sigmoid")},
           # convolutions with their epilogue (frontend/fusion_epilogue.py)
           **{name: (0,) for name in ("conv2d_bias", *(f"conv2d{bias}_{act}" for bias in ("", "_bias")
                                                      for act in ("relu", "tanh", "sigmoid")))}}


def _batched(shape: tuple, batch: int) -> tuple:
    return (BATCH, *shape[1:]) if shape and shape[0] == batch else shape


def _leading(op, request: KernelRequest, inputs: tuple[int, ...]):
    """Axis 0 of each of ``inputs`` is the batch (all of one extent, more than 1)."""
    batch = request.shapes[inputs[0]][0] if request.shapes[inputs[0]] else 1
    if batch <= 1 or any(not request.shapes[i] or request.shapes[i][0] != batch for i in inputs):
        return None
    shapes = tuple(_batched(s, batch) if i in inputs else s for i, s in enumerate(request.shapes))
    return replace(request, shapes=shapes), op, batch


def _elementwise(op, request: KernelRequest):
    out = request.variant[0] if len(request.variant) == 1 else None
    if not isinstance(out, tuple) or not out or out[0] <= 1:
        return None
    batch = out[0]
    shapes = tuple(_batched(s, batch) if len(s) == len(out) else s for s in request.shapes)
    return replace(request, variant=(_batched(out, batch),), shapes=shapes), op, batch


def _fused(op, request: KernelRequest):
    """The root (last output) of a fused group spans every axis: its leading extent is the batch,
    shared by each leaf and output not broadcast along it."""
    batch = request.variant[len(request.params[1]) - 1][0]  # reduction stages follow the outputs
    if batch <= 1 or request.params[2]:  # strided leaves are read through static strides
        return None
    return replace(request, variant=tuple(_batched(s, batch) for s in request.variant),
                   shapes=tuple(_batched(s, batch) for s in request.shapes)), op, batch


def _compact(op, request: KernelRequest):
    shape, strides = op.shape, op.strides
    if not shape or shape[0] <= 1 or strides[0] != 0:
        return None  # the batch axis must not move through the source
    builder = type(op)(_batched(shape, shape[0]), strides)
    return replace(request, params=builder.key[1:]), builder, shape[0]


def _mean_backward(op, request: KernelRequest):
    shape = op.shape
    if not shape or shape[0] <= 1:
        return None
    builder = type(op)(op.axes, _batched(shape, shape[0]))
    (g,) = request.shapes
    shapes = (g if 0 in op.axes else _batched(g, shape[0]),)
    return replace(request, params=builder.key[1:], shapes=shapes), builder, shape[0]


class BatchKernel:
    """One concrete batch extent of a compiled symbolic kernel: allocates the outputs of that
    extent and passes it after the buffer addresses. Has the attributes of
    :class:`~frontend.dispatch.Kernel` that its users read."""

    __slots__ = ("module", "out_specs", "name", "stats", "request", "task", "config", "batch", "_call")

    def __init__(self, module, out_specs, name, stats, request, task, config, batch: int):
        self.module, self.name, self.stats, self.batch = module, name, stats, batch
        self.request, self.task, self.config = request, task, config or {}
        self.out_specs = [(tuple(_at(n, batch) for n in shape), dtype) for shape, dtype in out_specs]
        self._call = getattr(module, "call_sized", module.call_unchecked)

    def __call__(self, arrays: list[np.ndarray], outs: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """Run on ``arrays``; into ``outs`` where given (C-contiguous, of the outputs' shapes and
        dtypes: a slice of a larger array the caller fills step by step), else new arrays."""
        if outs is None:
            outs = aligned.outputs(self.out_specs, arrays)  # 64-byte aligned, placed against the inputs
        stats = self.stats
        if stats.timing:
            from .dispatch import _timed

            _timed(self, self._call, [*data_pointers([*arrays, *outs]), self.batch])
        else:
            self._call(*data_pointers([*arrays, *outs]), self.batch)
        stats.calls += 1
        return outs

    def at(self, addresses: list[int]) -> None:
        """Run on the raw addresses of its arrays, then its batch extent (see
        :meth:`frontend.dispatch.Kernel.at`)."""
        stats = self.stats
        if stats.timing:
            from .dispatch import _timed

            _timed(self, self._call, [*addresses, self.batch])
        else:
            self._call(*addresses, self.batch)
        stats.calls += 1

    #: :meth:`at` may be called (a symbolic-batch kernel is a CPU kernel)
    raw = True


def _at(extent, batch: int) -> int:
    return extent if isinstance(extent, int) else evaluate(extent, {BATCH: batch})


def _large(request: KernelRequest) -> bool:
    """Whether the request is large enough for generic schedules to start threads: such sizes get
    a kernel of their own."""
    sizes = [*request.shapes, *(v for v in request.variant if isinstance(v, tuple) and all(
        isinstance(n, int) for n in v))]
    return any(int(np.prod(s, dtype=np.int64)) >= settings.PARALLEL_MIN() for s in sizes)


def _frozen(config: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in config.items()))


def batch_kernel(cache, op, request: KernelRequest, build) -> BatchKernel | None:
    """The kernel of ``request`` from a symbolic-batch build (compiled on first use of its
    symbolic request and config), or None when ``request`` stays static. ``build(func, target)``
    compiles a lowered function."""
    found = generalize(op, request)
    if found is None:
        return None
    symbolic, builder, batch = found
    task = op.tuning_task(request)
    config = cache.schedule_for(request.key, request.shapes, request.dtypes, request.device,
                                op.default_config(request), task)
    key = (symbolic, _frozen(config), _large(request))
    if key not in cache.symbolic:
        with size_hints({BATCH: batch}):
            cache.symbolic[key] = _compile(cache, builder, symbolic, config, build)
    compiled = cache.symbolic[key]
    if compiled is None:
        return None
    module, out_specs = compiled
    kernel = BatchKernel(module, out_specs, request.op, cache.stats, request, task, config, batch)
    cache.kernels[request] = kernel
    return kernel


def _compile(cache, builder, symbolic: KernelRequest, config: dict, build):
    from schedules import lower

    start = time.perf_counter()
    try:
        schedule, args = builder.kernel(symbolic, config)
        func = lower(schedule, args, symbolic.kernel_name)
        if [v.name for v in func.scalars] != [BATCH.name]:
            return None
        module = build(func, symbolic.target)
    except (NestorError, TypeError):
        # a schedule or a bounds proof that needs the static extent (a Python branch or int()
        # on it): the op stays static
        return None
    cache.stats.compiled += 1
    cache.stats.compile_s += time.perf_counter() - start
    outs = [(t.shape, np.dtype(t.dtype.value)) for t in args[len(symbolic.shapes):]]
    return module, outs
