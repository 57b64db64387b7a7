"""The IR: expressions, tensors and compute definitions, loop-nest statements, passes.

Where each concept lives:

- ``expr.py``/``functions.py``/``dtypes.py``: expressions, the functions that build them, scalar
  types (a ``DType`` is also its name as a string, so numpy reads it); ``tensor.py``/``parse.py``:
  placeholders and compute definitions, lambda and string forms.
- ``stmt.py``: the loop-nest statements and ``PrimFunc``; ``visitor.py``: the one generic
  traversal (children chosen by field type); ``structural.py``: structural equality and the
  process-stable hash that kernel caches key on; ``printer.py``/``verifier.py``.
- ``passes/``: one pass per file, in order in ``passes/pipeline.py`` (``flatten_buffers`` first:
  backends see one flat offset per access, with the logical indices kept for printing and
  checks); ``analysis.py``: the analyses the passes use (passes import analyses, never the
  reverse); ``isl_bridge.py``/``isl_regions.py``: the islpy bridge.
- ``gradient/``: ``gradient(output, inputs, head)``, adjoint compute definitions derived from
  index expressions (sympy behind ``gradient/sympy_bridge.py``, isl behind ``gradient/isl_inverse.py``).
- ``config.py``: every ``NESTOR_*`` environment knob, read and validated in one place;
  ``errors.py``: the error tree; ``names.py``/``intmath.py``: the one identifier sanitiser and
  ``ceil_div``/``round_up``; ``access_guards.py``: the run-time checks of subscripts that no
  proof bounds, and the opt-outs (``assume_in_bounds``, ``Tensor.at(..., mode=...)``).
"""

from .access_guards import assume_in_bounds
from .buffer import Buffer, Scope
from .dtypes import DType
from .errors import (
    ArgumentError,
    BackendUnavailable,
    CodegenError,
    DefinitionError,
    LoweringError,
    NestorError,
    OutOfBoundsError,
    ScheduleError,
)
from .expr import Expr, IterVar, Var
from .functions import (
    abs,
    equal,
    exp,
    if_then_else,
    log,
    maximum,
    minimum,
    not_equal,
    power,
    sigmoid,
    sqrt,
    sum,
    tanh,
)
from .intrinsics import (  # noqa: A004 - round mirrors numpy's, the others the C library's
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
from .intrinsics2 import atan2, clz, copysign, hypot, ldexp, nextafter
from .reducers import CommReducer, comm_reducer, max_value, min_value
from .stmt import PrimFunc
from .tags import tag_scope
from .te_reducers import max, min  # TVM's te.max/te.min: floats start from the finite extremes
from .tensor import Tensor, compute, placeholder, reduce_axis
from .tvm_names import (  # noqa: A004 - TVM's names
    Select,
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

__all__ = [
    "ArgumentError", "BackendUnavailable", "Buffer", "CodegenError", "DType", "DefinitionError",
    "Expr", "IterVar", "LoweringError", "NestorError", "OutOfBoundsError", "PrimFunc", "ScheduleError", "Scope",
    "Tensor", "Var", "abs", "assume_in_bounds", "compute", "equal", "exp", "if_then_else", "log", "max", "maximum",
    "min", "minimum", "not_equal", "placeholder", "power", "reduce_axis", "sigmoid", "sqrt", "sum",
    "tanh",
]

#: bitwise operators and intrinsics (tensorir.intrinsics)
__all__ += [
    "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "ceil", "const", "erf", "floor", "fmod",
    "isinf", "isnan", "left_shift", "popcount", "right_shift", "round", "truncdiv", "truncmod",
]
__all__ += ["CommReducer", "comm_reducer", "max_value", "min_value", "tag_scope"]

#: the C math library's functions (tensorir.intrinsics)
__all__ += [
    "acos", "acosh", "asin", "asinh", "atan", "atanh", "cbrt", "cos", "cosh", "exp10", "exp2", "expm1",
    "isfinite", "log10", "log1p", "log2", "rsqrt", "sin", "sinh", "tan", "trunc",
]
#: TVM's two-operand math intrinsics and clz (tensorir.intrinsics2)
__all__ += ["atan2", "clz", "copysign", "hypot", "ldexp", "nextafter"]

#: the rest of TVM's expression vocabulary (tensorir.tvm_names)
__all__ += [
    "Select", "add", "all", "any", "div", "floordiv", "floormod", "indexdiv", "indexmod", "multiply", "nearbyint",
    "subtract",
]

#: symbolic extents (tensorir.symbolic), recurrences (tensorir.scan), derived adjoints
#: (tensorir.gradient)
from .gradient import gradient  # noqa: E402 - after the names it builds on
from .scan import scan  # noqa: E402
from .symbolic import assume, size_var, var  # noqa: E402

__all__ += ["assume", "gradient", "scan", "size_var", "var"]

#: TVM's hybrid scripts, refused with what to write instead (tensorir.tvm_refused); its extern
#: operations over IR-builder bodies and declared buffers (tensorir.extern_op)
from . import ir_builder  # noqa: E402 - TVM's tir.ir_builder (ir_builder.create())
from .decl_buffer import decl_buffer  # noqa: E402
from .extern_op import call_packed, extern  # noqa: E402
from .tvm_refused import hybrid  # noqa: E402

__all__ += ["call_packed", "decl_buffer", "extern", "hybrid", "ir_builder"]

#: more of TVM's tir vocabulary (tensorir.tvm_names2)
from .tvm_names2 import Cast, SizeVar, ceildiv, infinity, likely  # noqa: E402

__all__ += ["Cast", "SizeVar", "ceildiv", "infinity", "likely"]

#: a third set of TVM's tir names (tensorir.tvm_names3)
from .tvm_names3 import StringImm, q_multiply_shift, reinterpret, shift_left, shift_right  # noqa: E402

__all__ += ["StringImm", "q_multiply_shift", "reinterpret", "shift_left", "shift_right"]

#: TVM's calls by name: C math functions and TVM's intrinsics, the rest refused (tensorir.extern_calls)
from .extern_calls import (  # noqa: E402
    call_extern,
    call_intrin,
    call_pure_extern,
    register_intrin_lowering,
    register_op_attr,
)

__all__ += ["call_extern", "call_intrin", "call_pure_extern", "register_intrin_lowering", "register_op_attr"]

#: TVM's tensor intrinsics, for Stage.tensorize (tensorir.tensor_intrin)
from .tensor_intrin import TensorIntrin, decl_tensor_intrin  # noqa: E402

__all__ += ["TensorIntrin", "decl_tensor_intrin"]

#: the IR's own nodes, exported for passes and tools but not part of the user's language
INTERNAL = frozenset({"Buffer", "Expr", "IterVar", "Scope", "Var"})

