"""The IR: expressions, tensors and compute definitions, loop-nest statements, passes."""

from .buffer import Buffer, Scope
from .dtypes import DType
from .errors import (
    ArgumentError,
    BackendUnavailable,
    CodegenError,
    DefinitionError,
    LoweringError,
    NestorError,
    ScheduleError,
)
from .expr import Expr, IterVar, Var
from .functions import (
    abs,
    equal,
    exp,
    if_then_else,
    log,
    max,
    maximum,
    min,
    minimum,
    not_equal,
    power,
    sigmoid,
    sqrt,
    sum,
    tanh,
)
from .stmt import PrimFunc
from .tensor import Tensor, compute, placeholder, reduce_axis

__all__ = [
    "ArgumentError", "BackendUnavailable", "Buffer", "CodegenError", "DType", "DefinitionError",
    "Expr", "IterVar", "LoweringError", "NestorError", "PrimFunc", "ScheduleError", "Scope",
    "Tensor", "Var", "abs", "compute", "equal", "exp", "if_then_else", "log", "max", "maximum",
    "min", "minimum", "not_equal", "placeholder", "power", "reduce_axis", "sigmoid", "sqrt", "sum",
    "tanh",
]
