"""Split a loop of symbolic extent into the iterations where its split guards always hold and the tail.

A symbolic loop split by a constant ``f`` is guarded: ``for o in 0..(n + f - 1) // f: ... if
o * f + x < n: S`` (``x`` an inner loop in ``0..f``). For ``o < n // f`` the guard holds for every
inner iteration, so the loop becomes two (as TVM's loop partition does)::

    for o in 0..p: ... S              # no guard: full tiles, vectorised and unrolled freely
    for o in p..(n + f - 1) // f: ... if o * f + x < n: S

where ``p = min(max((n - 1 - c) // f + 1, 0), extent)`` and ``c`` is the largest value the
rest of the guarded index takes over the inner loops. Only loops of symbolic extent change, so
static kernels print and run as before.
"""

from __future__ import annotations

import dataclasses

from ..analysis import _rebuild, interval, linear_form
from ..conditions import conjunction, conjuncts
from ..expr import Binary, BinaryOp, Const, Expr, Var, binary, const
from ..stmt import Allocate, For, ForKind, IfThenElse, PrimFunc, Seq, Stmt, seq
from ..structural import structural_key
from ..symbolic import ShapeVar
from ..visitor import Substitute, map_statements, walk
from .hoist_guards import _hoist

_SPLITTABLE = (ForKind.SERIAL, ForKind.PARALLEL)



def _inner_ranges(loop: For) -> dict[Var, tuple[int, int]]:
    ranges = {}
    for node in walk(loop.body):
        if isinstance(node, For) and isinstance(node.min, Const) and isinstance(node.extent, Const):
            ranges[node.var] = (node.min.value, node.min.value + node.extent.value - 1)
    return ranges


def _full_until(loop: For, cond: Expr, ranges: dict, positive) -> Expr | None:
    """The ``p`` such that ``cond`` holds at every inner iteration for ``loop.var < p``, or None."""
    if not (isinstance(cond, Binary) and cond.op is BinaryOp.LT):
        return None
    form = linear_form(cond.a)
    if form is None:
        return None
    terms, constant = form
    factor = next((k for t, k in terms.items() if t is loop.var), 0)
    rest = [(t, k) for t, k in terms.items() if t is not loop.var]
    if factor <= 0 or any(loop.var is n for n in walk(cond.b)) \
            or any(isinstance(n, Var) and n in ranges for n in walk(cond.b)):
        return None
    top = constant
    for term, coef in rest:
        found = interval(term, ranges)
        if found is None:
            return None
        top += coef * (found[1] if coef > 0 else found[0])
    # factor * o + top < b  <=>  o < (b - 1 - top) // factor + 1 = (b + factor - 1 - top) // factor
    shift = factor - 1 - top
    bound = cond.b if shift == 0 else binary(BinaryOp.ADD if shift > 0 else BinaryOp.SUB, cond.b, abs(shift))
    bound = binary(BinaryOp.FLOORDIV, bound, factor) if factor != 1 else bound
    if not _always(binary(BinaryOp.GE, bound, 0), positive):
        bound = binary(BinaryOp.MAX, bound, const(0, bound.dtype))
    if not _always(binary(BinaryOp.LE, bound, loop.extent), positive):
        bound = binary(BinaryOp.MIN, bound, loop.extent)
    return bound


def _always(cond: Expr, positive) -> bool:
    """Whether ``cond`` over size variables holds for every size the function accepts."""
    if any(isinstance(n, Var) and not isinstance(n, ShapeVar) for n in walk(cond)):
        return False
    from ..isl_params import always

    return always(cond, positive)


class _Drop:
    """Rewrites guards: the conjuncts in ``proven`` become true."""

    def __init__(self, proven: set[Expr]):
        self.proven = proven

    def __call__(self, s: Stmt) -> Stmt:
        match s:
            case IfThenElse(cond=cond, then_body=then_body, else_body=None):
                body = self(then_body)
                kept = [c for c in conjuncts(cond) if c not in self.proven]
                if not kept:
                    return body
                return IfThenElse(conjunction(kept), body)
            case For(body=body) | Allocate(body=body):
                return dataclasses.replace(s, body=self(body))
            case Seq(stmts=stmts):
                return Seq(tuple(self(x) for x in stmts))
            case IfThenElse():
                return dataclasses.replace(s, then_body=self(s.then_body), else_body=self(s.else_body))
        return s


def _partition(loop: For, positive) -> Stmt | None:
    ranges = _inner_ranges(loop)
    bounds: list[Expr] = []
    proven: set[Expr] = set()
    everywhere: set[Expr] = set()  # guards that hold at every iteration: dropped in the tail too
    for node in walk(loop.body):
        if isinstance(node, IfThenElse) and node.else_body is None:
            for part in conjuncts(node.cond):
                found = _full_until(loop, part, ranges, positive)
                if found is not None and _always(binary(BinaryOp.GE, found, loop.extent), positive):
                    everywhere.add(part)
                elif found is not None:
                    bounds.append(found)
                    proven.add(part)
    if not bounds:
        return dataclasses.replace(loop, body=_Drop(everywhere)(loop.body)) if everywhere else None
    if everywhere:
        loop = dataclasses.replace(loop, body=_Drop(everywhere)(loop.body))
    unique = {structural_key(b): b for b in bounds}  # one split point per distinct bound
    bounds = list(unique.values())
    split = bounds[0]
    for other in bounds[1:]:
        split = binary(BinaryOp.MIN, split, other)
    if _always(binary(BinaryOp.GE, split, loop.extent), positive):  # the guards always hold
        return dataclasses.replace(loop, body=_Drop(proven)(loop.body))
    main = dataclasses.replace(loop, extent=split, body=_Drop(proven)(loop.body))
    tail_var = Var(loop.var.name, loop.var.dtype)
    tail_body = _tighten_all(_hoist(Substitute({loop.var: tail_var})(loop.body)))
    tail = For(tail_var, split, binary(BinaryOp.SUB, loop.extent, split), loop.kind, tail_body, loop.thread_tag)
    return seq(main, tail)


#: a guarded serial loop longer than this runs only its live iterations (a split of a symbolic
#: loop keeps its factor, which may be far larger than the sizes it meets)
LONG_LOOP = 64


def _tighten(loop: For) -> For:
    """``for x in 0..f: if x + c < b and rest: S`` as ``for x in 0..min(f, max(b - c, 0)): if rest: S``."""
    body = loop.body
    if not (isinstance(body, IfThenElse) and body.else_body is None and isinstance(loop.min, Const)
            and loop.min.value == 0):
        return loop
    for part in conjuncts(body.cond):
        if not (isinstance(part, Binary) and part.op is BinaryOp.LT) or any(n is loop.var for n in walk(part.b)):
            continue
        form = linear_form(part.a)
        if form is None or form[0].get(loop.var) != 1 or any(
                t is not loop.var and any(n is loop.var for n in walk(t)) for t in form[0]):
            continue
        rest = _rebuild({t: k for t, k in form[0].items() if t is not loop.var}, form[1], part.a.dtype)
        live = binary(BinaryOp.MAX, binary(BinaryOp.SUB, part.b, rest), const(0, part.b.dtype))
        extent = binary(BinaryOp.MIN, loop.extent, live)
        return dataclasses.replace(loop, extent=extent, body=_Drop({part})(body))
    return loop


def _tighten_all(s: Stmt) -> Stmt:
    """``s`` with every serial loop whose body is one guard on it, around unrolled or vector
    code, tightened (:func:`_tighten`), however short (``s`` with its guards hoisted first): in
    a tail, a guard under a short loop (the last partial chunk of a symbolic reduction: ``for
    k.inner in 0..16: if k.outer * 16 + k.inner < K4``) is the loop's end."""
    inner = map_statements(s, _tighten_all)
    if isinstance(inner, For) and inner.kind is ForKind.SERIAL and _unrolled_or_vector(inner.body):
        return _tighten(inner)
    return inner


def _unrolled_or_vector(s: Stmt) -> bool:
    """Whether ``s`` holds an unrolled or vectorized loop: a guard around such a body is worth
    tightening away (around scalar code it costs little, and the nest stays as it printed)."""
    return any(isinstance(n, For) and n.kind in (ForKind.UNROLLED, ForKind.VECTORIZED) for n in walk(s))


def _visit(s: Stmt, positive) -> Stmt:
    inner = map_statements(s, lambda x: _visit(x, positive))
    if isinstance(s, For):
        if s.kind is ForKind.SERIAL and isinstance(s.extent, Const) and s.extent.value > LONG_LOOP:
            return _tighten(inner)
        if s.kind in _SPLITTABLE and not isinstance(s.extent, Const) and isinstance(s.min, Const):
            return _partition(inner, positive) or inner
    return inner


def partition_tails(func: PrimFunc) -> PrimFunc:
    """``func`` with each symbolic loop split into its guard-free iterations and its tail."""
    if not func.scalars:
        return func
    positive = [extent for buffer in func.params for extent in buffer.shape]
    body = _visit(func.body, positive)
    return func if body is func.body else dataclasses.replace(func, body=body)
