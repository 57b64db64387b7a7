"""TVM's ``op.body`` as a list: ``C.op.body[0]`` is the compute's (first) body, ``op.body[n]``
its ``n``-th for a compute with several outputs.

Here ``op.body`` is the first body itself (an Expr, as every pass reads it). A compute registers
its first body, and only a registered expression answers ``[n]``: any other expression stays
unsubscriptable, so ``A[i, j][k]`` is still an error rather than a silent ``A[i, j]``.
"""

from __future__ import annotations

import weakref

#: id of a compute's first body -> (the body, a weak reference to the compute)
_BODIES: dict[int, tuple[object, weakref.ref]] = {}


def register(op) -> None:
    """Make ``op.body`` indexable as TVM's list of ``op``'s bodies."""
    first = op.bodies[0]
    _BODIES[id(first)] = (first, weakref.ref(op))
    weakref.finalize(op, _BODIES.pop, id(first), None)


def body_item(expr, n):
    """``expr[n]`` where ``expr`` is a compute's ``op.body``: that compute's body ``n``."""
    entry = _BODIES.get(id(expr))
    op = entry[1]() if entry is not None and entry[0] is expr else None
    if op is None:
        raise TypeError(f"'{type(expr).__name__}' object is not subscriptable: only a compute's op.body is "
                        f"(TVM's list of bodies, op.body[0]); got {expr}[{n!r}]")
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{op.name}.op.body[{n!r}]: index the list of bodies with an int")
    if not -op.num_outputs <= n < op.num_outputs:
        raise IndexError(f"{op.name}.op.body[{n}]: {op.name} has {op.num_outputs} body(ies), numbered "
                         f"0..{op.num_outputs - 1}")
    return op.bodies[n]


__all__ = ["body_item", "register"]
