"""The kinds of scalar operations (binary and unary operators, intrinsic functions, reducers,
iteration kinds) and the sets of them that passes and backends test membership in; the nodes
that carry them are in :mod:`tensorir.expr`, which re-exports these names."""

from __future__ import annotations

import enum


class BinaryOp(enum.Enum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    FLOORDIV = "//"
    FLOORMOD = "%"
    MAX = "max"
    MIN = "min"
    POW = "pow"
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    AND = "and"
    OR = "or"
    # bitwise operators of integers (``&``, ``|``, ``^``, ``<<``, ``>>``); ``&`` and ``|`` of two
    # bools stay AND/OR, ``^`` of two bools is XOR on bool (see tensorir.intrinsics)
    BIT_AND = "&"
    BIT_OR = "|"
    XOR = "^"
    SHL = "<<"
    SHR = ">>"


COMPARISONS = frozenset({BinaryOp.EQ, BinaryOp.NE, BinaryOp.LT, BinaryOp.LE, BinaryOp.GT, BinaryOp.GE})
LOGICAL = frozenset({BinaryOp.AND, BinaryOp.OR})
BITWISE = frozenset({BinaryOp.BIT_AND, BinaryOp.BIT_OR, BinaryOp.XOR})
SHIFTS = frozenset({BinaryOp.SHL, BinaryOp.SHR})
COMMUTATIVE = frozenset({BinaryOp.ADD, BinaryOp.MUL, BinaryOp.MAX, BinaryOp.MIN, BinaryOp.EQ,
                         BinaryOp.NE, BinaryOp.AND, BinaryOp.OR})
#: Binary operators printed as calls, ``max(a, b)``, rather than infix.
FUNCTION_STYLE = frozenset({BinaryOp.MAX, BinaryOp.MIN, BinaryOp.POW})


class UnaryOp(enum.Enum):
    NEG = "-"
    NOT = "not"
    #: ``~`` of an integer (``~`` of a bool is NOT)
    BIT_NOT = "~"


class Func(enum.Enum):
    """Elementwise math functions and intrinsics, called as ``Call(func, args)``."""

    EXP = "exp"
    LOG = "log"
    SQRT = "sqrt"
    TANH = "tanh"
    ABS = "abs"
    SIGMOID = "sigmoid"
    #: Block-wide barrier of thread-bound nests (``__syncthreads()``); no value.
    BARRIER = "barrier"
    #: The user's promise that a subscript is inside its dimension (``ns.assume_in_bounds``):
    #: it skips the run-time check and is removed when the compute is defined.
    ASSUME_IN_BOUNDS = "assume_in_bounds"
    # intrinsics of tensorir.intrinsics (numpy's meaning, see tensorir.dtypes)
    FMOD = "fmod"
    TRUNCDIV = "truncdiv"
    TRUNCMOD = "truncmod"
    POPCOUNT = "popcount"
    FLOOR = "floor"
    CEIL = "ceil"
    ROUND = "round"
    ERF = "erf"
    ISNAN = "isnan"
    ISINF = "isinf"
    TRUNC = "trunc"
    # one-operand float functions of the C library (tensorir.intrinsics.LIBM), by their C names
    SIN = "sin"
    COS = "cos"
    TAN = "tan"
    ASIN = "asin"
    ACOS = "acos"
    ATAN = "atan"
    SINH = "sinh"
    COSH = "cosh"
    ASINH = "asinh"
    ACOSH = "acosh"
    ATANH = "atanh"
    LOG2 = "log2"
    LOG10 = "log10"
    LOG1P = "log1p"
    EXP2 = "exp2"
    EXP10 = "exp10"
    EXPM1 = "expm1"
    CBRT = "cbrt"
    # two-operand float functions of the C library (tensorir.intrinsics2), by their C names
    ATAN2 = "atan2"
    HYPOT = "hypot"
    COPYSIGN = "copysign"
    NEXTAFTER = "nextafter"
    #: ``x * 2**n`` of a float ``x`` and an integer ``n`` (C's ``ldexp``)
    LDEXP = "ldexp"
    #: the number of leading zero bits of a 32- or 64-bit integer (all bits for 0)
    CLZ = "clz"
    #: a hint that the element loaded by its one argument (a ``BufferLoad``) will be read soon
    #: (``s[C].prefetch``); no value, and no effect on what a kernel computes
    PREFETCH = "prefetch"
    #: the bits of its one argument read as the call's type, of the same width (TVM's
    #: ``tir.reinterpret``; tensorir.reinterpret)
    REINTERPRET = "reinterpret"


#: one-operand float functions every backend takes from its C math library (``sinf``/``sin``)
LIBM_FUNCS = frozenset({
    Func.SIN, Func.COS, Func.TAN, Func.ASIN, Func.ACOS, Func.ATAN, Func.SINH, Func.COSH, Func.ASINH,
    Func.ACOSH, Func.ATANH, Func.LOG2, Func.LOG10, Func.LOG1P, Func.EXP2, Func.EXP10, Func.EXPM1, Func.CBRT,
})
FLOAT_FUNCS = frozenset({Func.EXP, Func.LOG, Func.SQRT, Func.TANH, Func.SIGMOID, Func.ERF}) | LIBM_FUNCS
#: two-operand float functions every backend takes from its C math library (``atan2f``/``atan2``)
LIBM2_FUNCS = frozenset({Func.ATAN2, Func.HYPOT, Func.COPYSIGN, Func.NEXTAFTER})
#: intrinsics of two operands of one type
BINARY_FUNCS = frozenset({Func.FMOD, Func.TRUNCDIV, Func.TRUNCMOD}) | LIBM2_FUNCS
#: intrinsics that round a float to an integral float (identity on integers, as in TVM)
ROUNDING_FUNCS = frozenset({Func.FLOOR, Func.CEIL, Func.ROUND, Func.TRUNC})


class ReduceOp(enum.Enum):
    SUM = "sum"
    MAX = "max"
    MIN = "min"
    #: a user-defined reducer (``ns.comm_reducer``); ``Reduce.combiner`` says how to combine
    CUSTOM = "comm_reducer"


class IterKind(enum.Enum):
    DATA_PAR = "data_par"
    REDUCE = "reduce"
