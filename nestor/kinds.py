"""TVM's class names for ``isinstance`` checks (``te.ComputeOp``, ``te.PlaceholderOp``,
``te.ScanOp``, ``te.ExternOp``, ``tir.PrimExpr``): each is a kind that matches Nestor's own class, and calling
one says how to make such an object instead of building an IR node from raw arguments."""

from __future__ import annotations

import numbers

from tensorir.errors import DefinitionError
from tensorir.expr import Expr
from tensorir.extern_op import ExternOp as _ExternOp
from tensorir.scan import ScanOp as _ScanOp
from tensorir.tensor import ComputeOp as _ComputeOp
from tensorir.tensor import PlaceholderOp as _PlaceholderOp


class _Kind(type):
    """A class whose instances are those of ``_target`` (and of its subclasses)."""

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, cls._target)

    def __subclasscheck__(cls, sub) -> bool:
        return isinstance(sub, type) and issubclass(sub, cls._target)

    def __call__(cls, *args, **kwargs):
        raise DefinitionError(f"{cls.__name__}(...): this name is for isinstance checks; make one with "
                              f"{cls._maker}")


def _kind(name: str, target: type, maker: str) -> type:
    return _Kind(name, (), {"_target": target, "_maker": maker,
                            "__doc__": f"The kind of {target.__name__} (``isinstance`` only); made by {maker}."})


ComputeOp = _kind("ComputeOp", _ComputeOp, "compute(shape, fcompute, name)")
PlaceholderOp = _kind("PlaceholderOp", _PlaceholderOp, "placeholder(shape, dtype, name)")
ScanOp = _kind("ScanOp", _ScanOp, "scan(init, update, state_placeholder)")
ExternOp = _kind("ExternOp", _ExternOp, "extern(shape, inputs, fcompute, name)")
PrimExpr = _kind("PrimExpr", Expr, "arithmetic on variables, constants and tensor elements (const(1), var('n') + 1)")


class _ConstKind(_Kind):
    """A constant of one family of types (TVM's ``IntImm``: ints, unsigned ints and bools;
    ``FloatImm``: floats): a ``Const`` of such a dtype (a constant dimension of a shape is an
    ``IntImm`` too). Calling one makes the constant: ``IntImm("int32", 3)`` is ``const(3, "int32")``."""

    def __instancecheck__(cls, obj) -> bool:
        from tensorir.expr import Const
        from tensorir.shapes import IntDim

        if cls._family == "int" and isinstance(obj, IntDim):
            return True
        return isinstance(obj, Const) and obj.dtype.value.startswith(cls._prefixes)

    def __subclasscheck__(cls, sub) -> bool:
        return False

    def __call__(cls, dtype, value, span=None):
        from tensorir.dtypes import as_dtype
        from tensorir.expr import const

        dt = as_dtype(dtype)
        if not isinstance(value, numbers.Real):  # numpy scalars too
            raise DefinitionError(f"{cls.__name__}({dtype!r}, {value!r:.40}): the value must be a Python number; "
                                  f"use {cls._maker}")
        if not dt.value.startswith(cls._prefixes):
            raise DefinitionError(f"{cls.__name__}({dtype!r}, {value!r}): {dt.value} is not a type of "
                                  f"{cls.__name__}; use {cls._maker}")
        return const(value, dt)


IntImm = _ConstKind("IntImm", (), {"_target": Expr, "_family": "int", "_prefixes": ("int", "uint", "bool"),
                                   "_maker": "IntImm('int32', 1) or const(1, 'int32')",
                                   "__doc__": "The kind of int and bool constants; IntImm(dtype, value) makes one."})
FloatImm = _ConstKind("FloatImm", (), {"_target": Expr, "_family": "float", "_prefixes": ("float", "bfloat"),
                                       "_maker": "FloatImm('float32', 1.0) or const(1.0, 'float32')",
                                       "__doc__": "The kind of float constants; FloatImm(dtype, value) makes one."})
