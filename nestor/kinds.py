"""TVM's class names for ``isinstance`` checks (``te.ComputeOp``, ``te.PlaceholderOp``,
``te.ScanOp``, ``tir.PrimExpr``): each is a kind that matches Nestor's own class, and calling
one says how to make such an object instead of building an IR node from raw arguments."""

from __future__ import annotations

from tensorir.errors import DefinitionError
from tensorir.expr import Expr
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
PrimExpr = _kind("PrimExpr", Expr, "arithmetic on variables, constants and tensor elements (const(1), var('n') + 1)")
