"""needle's names for the frontend's ops: its functions (``add_scalar``, ``power_scalar``,
``divide_scalar``, ``negate``, ``conv`` on NHWC images, ...) and its op classes
(``EWisePow()(a, b)``, ``Summation(axes)(a)``, ...), so that a program written against needle's
``ops`` module runs on the frontend unchanged.

Each name only forwards to the frontend's op of the same meaning (no arithmetic here); ``conv``
is one node (:class:`~frontend.ops.needle_conv.NeedleConv`) that runs the frontend's NCHW
convolution kernel on views of needle's NHWC image and ``(K, K, C_in, C_out)`` weight.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tensorir.errors import DefinitionError

from ..tensor import Tensor
from . import elementwise as ew
from .conv import conv_params
from .matmul import matmul
from .movement import dilate, flip, undilate
from .needle_conv import NeedleConv
from .promote import promote
from .reduce import logsumexp, summation
from .shape import broadcast_to, permute, reshape, split, stack, transpose


def _scalar(name: str, scalar) -> float | int:
    """``scalar`` as a Python number: a number, a numpy scalar or a one-element array (needle's
    tests draw it as ``np.random.randn(1)``)."""
    if isinstance(scalar, (np.ndarray, np.generic)) and scalar.size == 1 and scalar.dtype.kind in "iuf":
        return scalar.item() if scalar.ndim == 0 else scalar.reshape(-1)[0].item()
    if isinstance(scalar, bool) or not isinstance(scalar, (int, float)):
        raise DefinitionError(f"{name}: scalar must be a number, got {type(scalar).__name__} {scalar!r}; "
                              "use the elementwise op for a tensor operand")
    return scalar


def _tensor(name: str, value) -> Tensor:
    if not isinstance(value, Tensor):
        raise DefinitionError(f"{name}: expected a Tensor, got {type(value).__name__}; wrap the array in "
                              "Tensor(...) first")
    return value


def add_scalar(a: Tensor, scalar) -> Tensor:
    """``a + scalar``."""
    return ew.add(_tensor("add_scalar", a), _scalar("add_scalar", scalar))


def mul_scalar(a: Tensor, scalar) -> Tensor:
    """``a * scalar``."""
    return ew.multiply(_tensor("mul_scalar", a), _scalar("mul_scalar", scalar))


def power_scalar(a: Tensor, scalar) -> Tensor:
    """``a ** scalar`` elementwise (needle's ``PowerScalar``)."""
    return ew.power(_tensor("power_scalar", a), _scalar("power_scalar", scalar))


def divide_scalar(a: Tensor, scalar) -> Tensor:
    """``a / scalar``."""
    return ew.divide(_tensor("divide_scalar", a), _scalar("divide_scalar", scalar))


def negate(a: Tensor) -> Tensor:
    """``-a``."""
    return ew.negative(_tensor("negate", a))


def conv(a: Tensor, b: Tensor, stride: int = 1, padding: int = 0) -> Tensor:
    """needle's convolution: ``a`` is ``(N, H, W, C_in)``, ``b`` is ``(K, K, C_in, C_out)``, both
    spatial axes zero-padded by ``padding``; the result is ``(N, H', W', C_out)``."""
    a, b = _tensor("conv", a), _tensor("conv", b)
    if a.ndim != 4 or b.ndim != 4:
        raise DefinitionError(f"conv: the image {a.shape} and the weight {b.shape} must both have 4 axes: "
                              "(N, H, W, C_in) and (K, K, C_in, C_out)")
    if a.shape[3] != b.shape[2]:
        raise DefinitionError(f"conv: the image has {a.shape[3]} channels (last axis of {a.shape}) but the weight "
                              f"{b.shape} expects {b.shape[2]} (its third axis)")
    params = conv_params(permute(a, (0, 3, 1, 2)), permute(b, (3, 2, 0, 1)), stride, padding, 1, 1)
    return NeedleConv(params)(*promote(a, b))  # one node, as needle's: out.op differentiates both


def logsoftmax(a: Tensor) -> Tensor:
    """``a - logsumexp(a)`` over the last axis (needle's ``LogSoftmax`` of ``(batch, classes)``
    logits), one kernel, differentiable."""
    from ..fusion_softmax import log_softmax

    a = _tensor("logsoftmax", a)
    if a.ndim < 1:
        raise DefinitionError(f"logsoftmax: the tensor of shape {a.shape} has no axis to normalise over; give "
                              "(batch, classes) logits")
    return log_softmax(a, axis=-1)


def make_tuple(*tensors: Tensor):
    """needle's ``ops.make_tuple``: the tensors as one TensorTuple."""
    from ..tensor_tuple import make_tuple as make

    return make(*tensors)


def tuple_get_item(value, index: int) -> Tensor:
    """needle's ``ops.tuple_get_item``: part ``index`` of a TensorTuple."""
    from ..tensor_tuple import tuple_get_item as get

    return get(value, index)


def fused_add_scalars(a: Tensor, c0, c1):
    """needle's ``ops.fused_add_scalars``: the TensorTuple ``(a + c0, a + c1)``; the gradient of
    ``a`` is the sum of both parts' adjoints."""
    return make_tuple(add_scalar(a, c0), add_scalar(a, c1))


def _op(function: Callable, *names: str) -> Callable:
    """A needle op class: constructed with the op's attributes, called with the tensors."""
    def make(*attributes, **named):
        named.update(zip(names, attributes))
        return lambda *tensors: function(*tensors, **named)

    make.__name__ = make.__qualname__ = function.__name__
    make.__doc__ = f"needle's op class for :func:`{function.__name__}`: ``Op(attributes)(tensors)``."
    return make


# needle's op classes (``Summation((1,))(x)``) over the functions above and the frontend's
EWiseAdd = _op(ew.add)
AddScalar = _op(add_scalar, "scalar")
EWiseMul = _op(ew.multiply)
MulScalar = _op(mul_scalar, "scalar")
EWisePow = _op(ew.power)
PowerScalar = _op(power_scalar, "scalar")
EWiseDiv = _op(ew.divide)
DivScalar = _op(divide_scalar, "scalar")
Transpose = _op(transpose, "axes")
Reshape = _op(reshape, "shape")
BroadcastTo = _op(broadcast_to, "shape")
Summation = _op(summation, "axes")
MatMul = _op(matmul)
Negate = _op(negate)
Log = _op(ew.log)
Exp = _op(ew.exp)
ReLU = _op(ew.relu)
Tanh = _op(ew.tanh)
Sigmoid = _op(ew.sigmoid)
LogSumExp = _op(logsumexp, "axes")
Stack = _op(lambda *tensors, axis: stack(tensors[0] if len(tensors) == 1 else tensors, axis), "axis")
Split = _op(split, "axis")
Flip = _op(flip, "axes")
Dilate = _op(dilate, "axes", "dilation")
UnDilate = _op(undilate, "axes", "dilation")
Conv = _op(conv, "stride", "padding")
LogSoftmax = _op(logsoftmax)
MakeTensorTuple = _op(make_tuple)
TupleGetItem = _op(tuple_get_item, "index")
FusedAddScalars = _op(fused_add_scalars, "c0", "c1")

NEEDLE_OPS = ("AddScalar", "BroadcastTo", "Conv", "Dilate", "DivScalar", "EWiseAdd", "EWiseDiv", "EWiseMul",
              "EWisePow", "Exp", "Flip", "Log", "LogSumExp", "MatMul", "MulScalar", "Negate", "PowerScalar", "ReLU",
              "Reshape", "Sigmoid", "Split", "Stack", "Summation", "Tanh", "Transpose", "UnDilate", "LogSoftmax",
              "MakeTensorTuple", "TupleGetItem", "FusedAddScalars")
