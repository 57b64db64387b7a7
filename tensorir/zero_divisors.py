"""Integer divisions by the constant 0 in a compute definition, refused where it is defined.

An integer division by zero gives 0 on every backend (numpy's result, see
:mod:`tensorir.dtypes`): right for a divisor that is 0 in some data, but a divisor that is the
literal 0 is always 0, so the whole division is a mistake (TVM refuses it too, "Divide by
zero"). Float division by 0.0 keeps its IEEE meaning (``inf``, ``nan``), as numpy's does.
"""

from __future__ import annotations

from .errors import DefinitionError
from .expr import Binary, Call, Const, Expr
from .op_kinds import BinaryOp, Func
from .visitor import walk

#: the integer divisions, written as operators
_OPERATORS = frozenset({BinaryOp.FLOORDIV, BinaryOp.FLOORMOD})
#: and as calls
_CALLS = frozenset({Func.TRUNCDIV, Func.TRUNCMOD, Func.FMOD})


def _zero_divisor(node: object) -> bool:
    match node:
        case Binary(op=op, b=Const(value=0), dtype=dtype) if op in _OPERATORS and not dtype.is_float:
            return True
        case Call(func=func, args=(_, Const(value=0)), dtype=dtype) if func in _CALLS and not dtype.is_float:
            return True
    return False


def check_zero_divisors(name: str, body: Expr) -> None:
    """A DefinitionError naming the first integer division by the constant 0 in ``body``."""
    for node in walk(body):
        if _zero_divisor(node):
            raise DefinitionError(
                f"compute {name}: {node} divides by the constant 0; an integer division by zero "
                "gives 0 everywhere, so this is surely not what was meant: divide by a non-zero "
                "value (or by a tensor element that is zero only in some data)")
