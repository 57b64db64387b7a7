"""The ops of the autograd graph, each a Nestor compute definition beside its gradient."""

from .base import CompactOp, Op, contiguous
from .conv import Conv2d, Conv2dGradInput, Conv2dGradWeight, ConvParams, conv2d
from .creation import full, one_hot, ones, ones_like, zeros, zeros_like
from .dropout import dropout
from .elementwise import (
    Elementwise,
    add,
    cast,
    divide,
    exp,
    log,
    multiply,
    negative,
    power,
    reduce_to_shape,
    relu,
    sigmoid,
    subtract,
    tanh,
)
from .loss import softmax_cross_entropy, softmax_cross_entropy_mean
from .matmul import matmul
from .movement import dilate, flip, pad, undilate

# needle's names; sorted after .conv, so ``ops.conv`` is needle's function, not the submodule
from .needle_names import (
    AddScalar,
    BroadcastTo,
    Conv,
    Dilate,
    DivScalar,
    EWiseAdd,
    EWiseDiv,
    EWiseMul,
    EWisePow,
    Exp,
    Flip,
    FusedAddScalars,
    Log,
    LogSoftmax,
    LogSumExp,
    MakeTensorTuple,
    MatMul,
    MulScalar,
    Negate,
    PowerScalar,
    ReLU,
    Reshape,
    Sigmoid,
    Split,
    Stack,
    Summation,
    Tanh,
    Transpose,
    TupleGetItem,
    UnDilate,
    add_scalar,
    conv,
    divide_scalar,
    fused_add_scalars,
    logsoftmax,
    make_tuple,
    mul_scalar,
    negate,
    power_scalar,
    tuple_get_item,
)
from .pool import avg_pool2d, max_pool2d
from .reduce import logsumexp, maximum_over, mean, minimum_over, summation
from .shape import broadcast_to, getitem, permute, reshape, split, stack, swapaxes, transpose

sum = summation  # noqa: A001 - the Tensor method and numpy's name
max = maximum_over  # noqa: A001
min = minimum_over  # noqa: A001

__all__ = [
    "CompactOp", "Conv2d", "Conv2dGradInput", "Conv2dGradWeight", "ConvParams", "Elementwise", "Op", "add",
    "avg_pool2d", "broadcast_to", "cast", "contiguous", "conv2d", "dilate", "divide", "dropout", "exp", "flip",
    "full", "getitem", "log", "logsumexp", "matmul", "max", "max_pool2d", "maximum_over", "mean", "min", "minimum_over",
    "multiply",
    "negative", "one_hot", "ones", "ones_like", "pad", "permute", "power", "reduce_to_shape", "relu", "reshape",
    "sigmoid",
    "softmax_cross_entropy", "softmax_cross_entropy_mean", "split", "stack", "subtract", "sum", "summation",
    "swapaxes", "tanh", "transpose",
    "undilate", "zeros", "zeros_like",
    # needle's names (frontend.ops.needle_names)
    "AddScalar", "BroadcastTo", "Conv", "Dilate", "DivScalar", "EWiseAdd", "EWiseDiv", "EWiseMul", "EWisePow", "Exp",
    "Flip", "Log", "LogSumExp", "MatMul", "MulScalar", "Negate", "PowerScalar", "ReLU", "Reshape", "Sigmoid", "Split",
    "Stack", "Summation", "Tanh", "Transpose", "UnDilate", "add_scalar", "conv", "divide_scalar", "mul_scalar",
    "negate", "power_scalar", "FusedAddScalars", "LogSoftmax", "MakeTensorTuple", "TupleGetItem",
    "fused_add_scalars", "logsoftmax", "make_tuple", "tuple_get_item",
]
