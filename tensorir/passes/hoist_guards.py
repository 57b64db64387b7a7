"""Move each part of a guard out of the loops it does not depend on.

``for i: for j: if a(i) and b(j): S`` becomes ``for i: if a(i): for j: if b(j): S``, so a
condition is tested once per iteration of the loops it involves instead of once per innermost
iteration. A condition only moves out of a loop whose body is that guarded statement alone.
"""

from __future__ import annotations

import dataclasses

from ..conditions import conjunction, conjuncts
from ..expr import BinaryOp, binary
from ..stmt import Allocate, For, ForKind, IfThenElse, PrimFunc, Seq, Stmt
from ..visitor import walk


def _hoist(s: Stmt) -> Stmt:
    match s:
        case For(body=body):
            inner = _hoist(body)
            if isinstance(inner, IfThenElse) and inner.else_body is None \
                    and s.kind is not ForKind.THREAD_BINDING:
                parts = conjuncts(inner.cond)
                free = [p for p in parts if not any(n is s.var for n in walk(p))]
                if free:
                    bound = [p for p in parts if any(n is s.var for n in walk(p))]
                    body_inner = IfThenElse(conjunction(bound), inner.then_body) if bound else inner.then_body
                    return IfThenElse(conjunction(free), dataclasses.replace(s, body=body_inner))
            return s if inner is body else dataclasses.replace(s, body=inner)
        case Seq(stmts=stmts):
            new = tuple(_hoist(x) for x in stmts)
            return s if all(a is b for a, b in zip(new, stmts)) else Seq(new)
        case Allocate(body=body):
            inner = _hoist(body)
            return s if inner is body else dataclasses.replace(s, body=inner)
        case IfThenElse(then_body=then_body, else_body=else_body):
            t = _hoist(then_body)
            e = None if else_body is None else _hoist(else_body)
            if isinstance(t, IfThenElse) and t.else_body is None and e is None:
                return IfThenElse(binary(BinaryOp.AND, s.cond, t.cond), t.then_body)
            return s if t is then_body and e is else_body else dataclasses.replace(s, then_body=t, else_body=e)
    return s


def hoist_guards(func: PrimFunc) -> PrimFunc:
    """``func`` with every guard tested at the outermost loop level it allows."""
    body = _hoist(func.body)
    return func if body is func.body else dataclasses.replace(func, body=body)
