"""Nestor: a tensor compiler with a scheduling DSL.

The public API re-exports the layers below it: definitions from ``tensorir``, schedules and
templates from ``schedules``, and ``build`` (:mod:`nestor.api`), which only composes
``schedules.lower`` (schedule -> loop nest -> passes) and ``backends.build`` (the one target
registry). The command line is :mod:`nestor.cli`.

>>> import nestor as ns
>>> A = ns.placeholder((64, 32), name="A"); B = ns.placeholder((48, 32), name="B")
>>> C = ns.compute("C[i,j] = sum(A[i,k] * B[j,k])", A=A, B=B)
>>> s = ns.create_schedule(C)
>>> print(ns.lower(s, [A, B, C], name="matmul"))  # doctest: +SKIP
"""

from backends.cuda.runtime import device_array
from schedules import Schedule, Stage, autotune, create_schedule
from schedules.thread_axis import thread_axis  # noqa: E402,I001
from tensorir import (
    ArgumentError,
    BackendUnavailable,
    CodegenError,
    DefinitionError,
    DType,
    LoweringError,
    NestorError,
    OutOfBoundsError,
    PrimFunc,
    ScheduleError,
    Tensor,
    abs,
    assume_in_bounds,
    compute,
    equal,
    exp,
    if_then_else,
    log,
    max,
    maximum,
    min,
    minimum,
    not_equal,
    placeholder,
    power,
    reduce_axis,
    sigmoid,
    sqrt,
    sum,
    tanh,
)
from tensorir.gradient import gradient
from tensorir.intrinsics import (  # noqa: A004 - round mirrors numpy's, the others the C library's
    acos,
    acosh,
    asin,
    asinh,
    atan,
    atanh,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    cbrt,
    ceil,
    const,
    cos,
    cosh,
    erf,
    exp2,
    exp10,
    expm1,
    floor,
    fmod,
    isfinite,
    isinf,
    isnan,
    left_shift,
    log1p,
    log2,
    log10,
    popcount,
    right_shift,
    round,
    rsqrt,
    sin,
    sinh,
    tan,
    trunc,
    truncdiv,
    truncmod,
)
from tensorir.reducers import CommReducer, comm_reducer, max_value, min_value
from tensorir.scan import scan  # noqa: E402,I001
from tensorir.symbolic import assume, size_var, var  # noqa: E402, I001 - symbolic extents
from tensorir.tvm_names import (  # noqa: A004 - TVM's names
    add,
    all,
    any,
    div,
    floordiv,
    floormod,
    indexdiv,
    indexmod,
    multiply,
    nearbyint,
    subtract,
)

from .api import build, lower

__version__ = "0.1.0"

__all__ = [
    "ArgumentError", "BackendUnavailable", "CodegenError", "DType", "DefinitionError",
    "LoweringError", "NestorError", "OutOfBoundsError", "PrimFunc", "Schedule", "ScheduleError", "Stage",
    "Tensor", "abs", "assume_in_bounds", "autotune", "build", "compute", "create_schedule", "device_array",
    "equal", "exp", "gradient", "if_then_else",
    "log", "lower", "max", "maximum", "min", "minimum", "not_equal", "placeholder", "power", "reduce_axis",
    "sigmoid", "sqrt", "sum", "tanh",
]

#: bitwise operators and intrinsics (tensorir.intrinsics)
__all__ += [
    "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "ceil", "const", "erf", "floor", "fmod",
    "isinf", "isnan", "left_shift", "popcount", "right_shift", "round", "truncdiv", "truncmod",
]
__all__ += ["CommReducer", "comm_reducer", "max_value", "min_value"]

#: the C math library's functions (tensorir.intrinsics)
__all__ += [
    "acos", "acosh", "asin", "asinh", "atan", "atanh", "cbrt", "cos", "cosh", "exp10", "exp2", "expm1",
    "isfinite", "log10", "log1p", "log2", "rsqrt", "sin", "sinh", "tan", "trunc",
]

#: the rest of TVM's expression vocabulary (tensorir.tvm_names)
__all__ += [
    "add", "all", "any", "div", "floordiv", "floormod", "indexdiv", "indexmod", "multiply", "nearbyint", "subtract",
]
__all__ += ["scan", "thread_axis"]
__all__ += ["assume", "size_var", "var"]
