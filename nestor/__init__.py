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
from tensorir.symbolic import assume, size_var, var  # noqa: E402, I001 - symbolic extents

from .api import build, lower

__version__ = "0.1.0"

__all__ = [
    "ArgumentError", "BackendUnavailable", "CodegenError", "DType", "DefinitionError",
    "LoweringError", "NestorError", "OutOfBoundsError", "PrimFunc", "Schedule", "ScheduleError", "Stage",
    "Tensor", "abs", "assume_in_bounds", "autotune", "build", "compute", "create_schedule", "device_array",
    "equal", "exp", "if_then_else",
    "log", "lower", "max", "maximum", "min", "minimum", "not_equal", "placeholder", "power", "reduce_axis",
    "sigmoid", "sqrt", "sum", "tanh",
]
__all__ += ["assume", "size_var", "var"]
