"""Float scalar parameters (TVM's ``te.var("alpha", "float32")``): a value a caller passes to a
built kernel as a Python number.

Such a variable is a rank-0 input read whole: ``var("alpha", "float32")`` is the read
``alpha()`` of a :class:`ScalarParamOp` (a placeholder of shape ``()``), so it enters a compute
body like any expression, and listed among a build's arguments it is that input: a kernel takes
it at its place in the list, as a Python number or a 0-d array. Integer variables stay size
variables (:mod:`tensorir.symbolic`), which shapes and loop bounds may use; a float one may not.
"""

from __future__ import annotations

from .dtypes import DType
from .expr import TensorLoad
from .tensor import PlaceholderOp, Tensor


class ScalarParamOp(PlaceholderOp):
    """A rank-0 input that a call may pass by value (a float ``var``)."""

    def __init__(self, name: str, dtype: DType):
        super().__init__(name, (), dtype)

    def __repr__(self) -> str:
        return f"var({self.name}, {self.dtype})"


def float_var(name: str, dtype: DType) -> TensorLoad:
    """The read of a new float scalar parameter ``name`` of ``dtype``."""
    return ScalarParamOp(name, dtype).output()


def scalar_param_tensor(arg: object) -> Tensor | None:
    """The input a build's argument stands for, where it is a float scalar parameter."""
    if isinstance(arg, TensorLoad) and not arg.indices and isinstance(arg.tensor.op, ScalarParamOp):
        return arg.tensor
    return None
