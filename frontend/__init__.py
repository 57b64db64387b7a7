"""The frontend: an autograd Tensor whose every operation runs a kernel that Nestor compiled,
with nn modules, optimizers, initialisers and data loading on top.

Where things live: each op (:mod:`frontend.ops`) keeps its compute definition beside its
gradient and, per call, builds a frozen :class:`~frontend.request.KernelRequest`; the one kernel
cache (:data:`frontend.dispatch.cache`) compiles a kernel per request; the schedules come from
:mod:`schedules.templates` (templates, their layout variants, the generic CPU schedules).
:func:`custom_op` makes a user's compute function an op whose gradients are derived from its
index expression (:func:`tensorir.gradient.gradient`).

>>> import frontend as nf
>>> x = nf.Tensor([[1.0, 2.0]], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad.numpy()
array([[2., 4.]])
"""

from . import backend_ndarray, data, init, nn, ops, optim
from .autograd import enable_grad, grad, is_grad_enabled, no_grad
from .custom_op import custom_op
from .devices import all_devices, cpu, cpu_numpy, cuda, default_device
from .fusion_softmax import log_softmax, softmax
from .lazy_graph import lazy
from .ops import (  # needle's functional names too: a program's ``ndl.summation`` is ``frontend.summation``
    add,
    add_scalar,
    avg_pool2d,
    broadcast_to,
    conv,
    conv2d,
    dilate,
    divide,
    divide_scalar,
    dropout,
    exp,
    flip,
    log,
    logsumexp,
    matmul,
    max_pool2d,
    mean,
    mul_scalar,
    multiply,
    negate,
    one_hot,
    ones,
    power,
    power_scalar,
    relu,
    reshape,
    sigmoid,
    split,
    stack,
    summation,
    tanh,
    transpose,
    undilate,
    zeros,
)
from .tensor import Tensor
from .tensor_tuple import TensorTuple, make_tuple, tuple_get_item

__all__ = [
    "Tensor", "avg_pool2d", "broadcast_to", "conv2d", "custom_op", "data", "dropout", "enable_grad", "exp", "grad",
    "init",
    "is_grad_enabled", "log", "logsumexp", "matmul", "max_pool2d", "mean", "nn", "no_grad", "one_hot", "ones",
    "ops", "optim", "relu", "reshape", "sigmoid", "split", "stack", "tanh", "transpose", "zeros",
    "log_softmax", "softmax", "lazy", "all_devices", "cpu", "cpu_numpy", "cuda", "default_device",
    "add", "add_scalar", "conv", "dilate", "divide", "divide_scalar", "flip", "mul_scalar", "multiply", "negate",
    "power", "power_scalar", "summation", "undilate",
    "TensorTuple", "backend_ndarray", "make_tuple", "tuple_get_item",
]
