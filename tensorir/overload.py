"""Arithmetic on whole tensors, as TVM's tensor overloads define it (``A + B``, ``A * 2``,
``k - A``, ``A / n``, ``A > B``): a new compute, elementwise against a scalar (tag
``"elemwise"``) and broadcast against a tensor (tag ``"broadcast"``) by numpy's rules -- shapes
aligned on the right, a dimension of 1 stretched to the other's extent.

A scalar is a Python number, a ``var``/``size_var`` or any expression without indices (an
element ``B[0, 0]``); a rank-0 tensor is a tensor, so ``A + S`` broadcasts it.
"""

from __future__ import annotations

from .errors import DefinitionError
from .expr import BinaryOp, Expr, binary
from .symbolic import same_extent

ELEMWISE = "elemwise"
BROADCAST = "broadcast"

#: the names TVM gives the results (``T_add``, ...)
_NAMES = {BinaryOp.ADD: "add", BinaryOp.SUB: "subtract", BinaryOp.MUL: "multiply", BinaryOp.DIV: "divide",
          BinaryOp.FLOORDIV: "floor_divide", BinaryOp.FLOORMOD: "floor_mod", BinaryOp.POW: "power",
          BinaryOp.LT: "less", BinaryOp.LE: "less_equal", BinaryOp.GT: "greater", BinaryOp.GE: "greater_equal"}


def is_tensor(value: object) -> bool:
    from .tensor import Tensor

    return isinstance(value, Tensor)


def tensor_binary(op: BinaryOp, lhs: object, rhs: object):
    """``lhs op rhs`` where at least one side is a tensor: the compute of the result."""
    from .tensor import compute

    name = f"T_{_NAMES.get(op, op.value)}"
    if is_tensor(lhs) and is_tensor(rhs):
        shape = broadcast_shape(lhs, rhs, _NAMES.get(op, op.value))
        return compute(shape, lambda *i: binary(op, _element(lhs, i), _element(rhs, i)), name=name, tag=BROADCAST)
    tensor = lhs if is_tensor(lhs) else rhs
    if op not in _NAMES:
        raise DefinitionError(
            f"{tensor.name} {op.value} ...: a tensor takes part only in arithmetic and ordering comparisons "
            f"({', '.join(sorted(_NAMES.values()))}); index it (e.g. {tensor.name}[i]) in a compute for other "
            "operations")
    _check_scalar(tensor, rhs if tensor is lhs else lhs)
    if is_tensor(lhs):
        return compute(lhs.shape, lambda *i: binary(op, lhs[i] if i else lhs[()], rhs), name=name, tag=ELEMWISE)
    return compute(rhs.shape, lambda *i: binary(op, lhs, rhs[i] if i else rhs[()]), name=name, tag=ELEMWISE)


def _check_scalar(tensor, scalar: object) -> None:
    """A scalar with loop variables is an element inside a compute body: the tensor was meant
    to be indexed there."""
    from .expr import IterVar, Var, as_expr
    from .symbolic import ShapeVar
    from .visitor import walk

    if not isinstance(scalar, (Expr, IterVar)):
        return
    loops = sorted({n.name for n in walk(as_expr(scalar)) if isinstance(n, Var) and not isinstance(n, ShapeVar)})
    if loops:
        raise DefinitionError(
            f"cannot use {tensor!r} in an expression of the loop variables {', '.join(loops)} "
            f"({as_expr(scalar)}); index the tensor, e.g. {tensor.name}[i, j]")


def broadcast_shape(lhs, rhs, what: str) -> tuple:
    """numpy's broadcast of the two shapes (right-aligned; a 1 takes the other extent)."""
    rank = max(lhs.ndim, rhs.ndim)
    left = (1,) * (rank - lhs.ndim) + tuple(lhs.shape)
    right = (1,) * (rank - rhs.ndim) + tuple(rhs.shape)
    shape = []
    for axis, (a, b) in enumerate(zip(left, right)):
        if _is_one(a):
            shape.append(b)
        elif _is_one(b) or same_extent(a, b):
            shape.append(a)
        else:
            raise DefinitionError(
                f"{what}({lhs.name}, {rhs.name}): shapes {list(lhs.shape)} and {list(rhs.shape)} do not broadcast: "
                f"dimension {axis} (counted in the result, shapes aligned on the right) is {a} against {b}; "
                "extents must be equal or one of them 1")
    return tuple(shape)


def _element(tensor, index: tuple) -> Expr:
    """``tensor``'s element at the trailing ``index`` of the result, 0 along stretched dimensions."""
    own = index[len(index) - tensor.ndim:] if tensor.ndim else ()
    picked = tuple(0 if _is_one(extent) else i for extent, i in zip(tensor.shape, own))
    return tensor[picked]


def _is_one(extent) -> bool:
    return isinstance(extent, int) and extent == 1
