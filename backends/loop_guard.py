"""Where the guard of an imperfect split stops a loop for good, for the backends' loop bounds.

A split by ``f`` that may not divide its extent ``n`` gives ``for v in 0..f: if o * f + v < n:
body``. With a factor known only when the kernel runs, ``f`` may be far larger than ``n`` (a
split by 2**31 - 1 of ten elements): the loop would run billions of iterations that do
nothing. The backends end such a loop at ``n - o * f`` as well, which skips exactly the
iterations whose guard fails, so the result is the same.
"""

from __future__ import annotations

from tensorir.expr import Binary, BinaryOp, Const, Expr, Var
from tensorir.stmt import For, IfThenElse
from tensorir.visitor import walk


def guard_bound(loop: For) -> tuple[Expr, Expr] | None:
    """``(bound, offset)`` where the whole body of ``loop`` is ``if offset + var < bound`` and
    both sides are arithmetic of other variables and constants (so the same at every iteration),
    else None."""
    body, var = loop.body, loop.var
    if not isinstance(body, IfThenElse) or body.else_body is not None:
        return None
    match body.cond:
        case Binary(op=BinaryOp.LT, a=Binary(op=BinaryOp.ADD, a=offset, b=inner), b=bound) if inner is var:
            pass
        case Binary(op=BinaryOp.LT, a=inner, b=bound) if inner is var:
            offset = Const(0, var.dtype)
        case _:
            return None
    for side in (offset, bound):
        for node in walk(side):
            if node is var or not isinstance(node, (Var, Const, Binary)) or (
                    isinstance(node, Binary) and node.op not in _ARITHMETIC):
                return None
    return bound, offset


_ARITHMETIC = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.FLOORDIV, BinaryOp.FLOORMOD,
                         BinaryOp.MAX, BinaryOp.MIN})
