"""Conditions as lists of conjuncts: ``a & b & c`` taken apart and put back together, for the
passes and codegen that keep or drop the parts of a guard one by one."""

from __future__ import annotations

from .expr import Binary, BinaryOp, Expr, binary


def conjuncts(cond: Expr) -> list[Expr]:
    """The parts of ``cond`` joined by ``&`` (``[cond]`` when it is no conjunction)."""
    if isinstance(cond, Binary) and cond.op is BinaryOp.AND:
        return conjuncts(cond.a) + conjuncts(cond.b)
    return [cond]


def conjunction(parts: list[Expr]) -> Expr | None:
    """``parts[0] & parts[1] & ...``; None for no parts."""
    result = None
    for part in parts:
        result = part if result is None else binary(BinaryOp.AND, result, part)
    return result
