"""The islpy bridge of differentiation: the preimage of an access, as a gather.

An access ``X[f(v)]`` in a compute over the iteration variables ``v`` (output axes and reduce
axes, each in a box) reads the element ``x`` for every ``v`` in the box with ``f(v) = x``. To
write the adjoint of ``X`` as a gather (each ``dX[x]`` computed on its own, no scatter) those
``v`` are enumerated from ``x``: a few of them, the *free* variables, become the reduce axes of the
adjoint, and isl solves the equations ``f(v) = x`` for all others as quasi-affine functions of
``x`` and the free variables (a floor division where a stride divides). The guard keeps exactly
the points that are solutions: the solved variables inside their ranges and ``f(v) = x`` (which
holds only where the divisions are exact); the parts of it isl proves always true are dropped.
A subscript with no affine form (it reads a tensor, multiplies indices) solves nothing: its
variables stay free and the caller tests the equality itself (:mod:`.opaque`).

The free variables are the fewest (and, among those, the ones with the smallest ranges) for which
the rest is a function of ``x`` and them: for a strided, padded convolution ``dX`` sums over the
output channels and the kernel taps, and solves the output position, as a transposed
convolution does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce as fold

import islpy as isl

from ..dtypes import INDEX
from ..errors import DefinitionError
from ..expr import Binary, BinaryOp, Cast, CheckedIndex, Const, Expr, Unary, UnaryOp, Var, binary, const
from ..visitor import substitute, walk

_CONTEXT = isl.DEFAULT_CONTEXT
#: the most choices of free variables tried before giving up on an access
MAX_CHOICES = 512


@dataclass(frozen=True)
class Domain:
    """An iteration variable and its range ``lo <= var < lo + extent``."""

    var: Var
    lo: int
    extent: int


@dataclass(frozen=True)
class Piece:
    """Where ``guard`` holds (None: everywhere), the solved variables are ``solved``."""

    solved: tuple[tuple[Var, Expr], ...]
    guard: Expr | None


@dataclass(frozen=True)
class Preimage:
    """The points ``v`` with ``f(v) = x``: the free variables, and the rest solved piecewise."""

    free: tuple[Domain, ...]
    pieces: tuple[Piece, ...]


def unwrap(index: Expr) -> Expr:
    """A subscript without its run-time bounds check (the gradient needs the bare index)."""
    return index.value if isinstance(index, CheckedIndex) else index


def isl_text(expr: Expr, names: dict[Var, str]) -> str | None:
    """``expr`` in isl's syntax, or None when it is not quasi-affine over ``names``."""
    match expr:
        case Var() if expr in names:
            return names[expr]
        case Const(value=value) if expr.dtype.is_int:
            return str(int(value))
        case Cast(value=value) if value.dtype.is_int and expr.dtype.is_int:
            return isl_text(value, names)
        case CheckedIndex(value=value):
            return isl_text(value, names)
        case Unary(op=UnaryOp.NEG, a=a):
            inner = isl_text(a, names)
            return None if inner is None else f"(-{inner})"
        case Binary(op=op, a=a, b=b) if expr.dtype.is_int:
            if op is BinaryOp.MUL and not (isinstance(a, Const) or isinstance(b, Const)):
                return None  # a product of two indices is not affine
            return _binary_text(op, isl_text(a, names), isl_text(b, names), b)
    return None


def _binary_text(op: BinaryOp, a: str | None, b: str | None, right: Expr) -> str | None:
    if a is None or b is None:
        return None
    match op:
        case BinaryOp.ADD | BinaryOp.SUB:
            return f"({a} {op.value} {b})"
        case BinaryOp.MUL:
            return f"({a} * {b})"
        case BinaryOp.MIN | BinaryOp.MAX:  # piecewise affine: isl splits the preimage into pieces
            return f"{op.value}({a}, {b})"
        case BinaryOp.FLOORDIV if isinstance(right, Const) and right.value > 0:
            return f"floor(({a})/{b})"
        case BinaryOp.FLOORMOD if isinstance(right, Const) and right.value > 0:
            return f"(({a}) mod {b})"
    return None


def is_affine(index: Expr, names: dict[Var, str]) -> bool:
    """Whether ``index`` is quasi-affine in the variables ``names`` (isl can solve it)."""
    return isl_text(unwrap(index), names) is not None


def opaque_subscripts(domains: Sequence[Domain], indices: Sequence[Expr]) -> list[int]:
    """The positions of the subscripts with no affine form in the variables of ``domains``."""
    names = {d.var: f"v{n}" for n, d in enumerate(domains)}
    return [position for position, index in enumerate(indices) if not is_affine(index, names)]


def invert(who: str, domains: Sequence[Domain], indices: Sequence[Expr], shape: Sequence[int],
           targets: Sequence[Var]) -> Preimage:
    """The preimage of the access ``indices`` over ``domains`` at the element ``targets`` of a tensor
    of ``shape``, from its affine subscripts only (see :func:`opaque_subscripts`); ``who`` names the
    access in errors."""
    names = {d.var: f"v{n}" for n, d in enumerate(domains)} | {x: f"x{n}" for n, x in enumerate(targets)}
    texts = [isl_text(unwrap(index), names) for index in indices]
    # a subscript with no affine form solves nothing: the caller tests it for equality instead
    used = {node for index, text in zip(indices, texts) if text is not None
            for node in walk(unwrap(index)) if isinstance(node, Var)}
    constraints = _constraints(domains, texts, shape, names, targets)
    for free in _choices(domains, used, who):
        solved = [d for d in domains if d not in free]
        relation = _map(targets, free, solved, names, constraints)
        if relation is not None and relation.is_single_valued():
            offsets, bound = _narrow(relation, targets, free, names)
            return Preimage(tuple(offsets), _pieces(relation, targets, free, solved, indices, shape, names,
                                                    offsets, bound))
    raise DefinitionError(f"gradient of {who}: isl found no way to enumerate the points that read one element "
                          f"from the subscripts {', '.join(map(str, indices))}; split the compute into simpler stages")


def _constraints(domains, texts, shape, names, targets) -> list[str]:
    cons = [f"{d.lo} <= {names[d.var]} < {d.lo + d.extent}" for d in domains]
    cons += [f"0 <= {names[x]} < {extent}" for x, extent in zip(targets, shape)]
    cons += [f"{names[x]} = {text}" for x, text in zip(targets, texts) if text is not None]
    return cons


def _choices(domains: Sequence[Domain], used: set, who: str):
    """Sets of free variables, fewest first and, among as many, the smallest product of ranges."""
    must = [d for d in domains if d.var not in used]
    rest = [d for d in domains if d.var in used]
    tried = 0
    for size in range(len(rest) + 1):
        for chosen in sorted(itertools.combinations(rest, size), key=lambda c: math.prod(d.extent for d in c)):
            tried += 1
            if tried > MAX_CHOICES:
                raise DefinitionError(
                    f"gradient of {who}: more than {MAX_CHOICES} ways to enumerate the points that read one "
                    "element were tried; split the compute into stages with fewer indices")
            yield [d for d in domains if d in must or d in chosen]


def _map(targets, free, solved, names, constraints) -> isl.Map | None:
    inputs = ", ".join([names[x] for x in targets] + [names[d.var] for d in free])
    outputs = ", ".join(names[d.var] for d in solved)
    try:
        return isl.Map(f"{{ [{inputs}] -> [{outputs}] : {' and '.join(constraints)} }}", _CONTEXT)
    except isl.Error:
        return None


def _narrow(relation, targets, free, names) -> tuple[list[Domain], dict[Var, Expr]]:
    """The free variables to sum over, narrowed where isl bounds one to a short window.

    A free variable ``f`` whose readers of one element lie in ``lo(x, earlier) <= f < lo + width``
    with ``width`` below its extent (an index ``X[i // 2]``: ``i`` in ``2x, 2x + 1``) is summed
    as ``f = lo + t`` over ``t < width``; ``bound`` gives each original free variable in terms of
    the new ones."""
    domain = relation.domain()
    offsets: list[Domain] = []
    bound: dict[Var, Expr] = {}
    before = list(targets)
    for position, d in enumerate(free):
        window = _window(domain, len(targets) + position, len(free) - position - 1)
        if window is None or window[1] >= d.extent:
            offsets.append(d)
            bound[d.var] = d.var
        else:
            start, width = window
            offset = Var(d.var.name)
            names[offset] = f"t{position}"
            offsets.append(Domain(offset, 0, width))
            bound[d.var] = substitute(aff_expr(start, before), bound) + offset
        before.append(d.var)
    return offsets, bound


def _window(domain: isl.Set, position: int, later: int) -> tuple[isl.Aff, int] | None:
    """``(lo, width)`` of dimension ``position`` of ``domain`` given the ones before it, or None."""
    shown = domain.project_out(isl.dim_type.set, position + 1, later)
    relation = isl.Map.from_domain(shown).move_dims(isl.dim_type.out, 0, isl.dim_type.in_, position, 1)
    low, high = relation.lexmin_pw_multi_aff(), relation.lexmax_pw_multi_aff()
    if low.n_piece() != 1 or high.n_piece() != 1:
        return None
    width = high.get_pw_aff(0).sub(low.get_pw_aff(0)).max_val()
    if not width.is_int():
        return None
    found: list = []
    low.foreach_piece(lambda where, values: found.append(values.get_at(0)))
    return found[0], width.to_python() + 1


def _pieces(relation, targets, free, solved, indices, shape, names, offsets, bound) -> tuple[Piece, ...]:
    found: list[tuple[isl.Set, isl.MultiAff]] = []
    relation.lexmin_pw_multi_aff().foreach_piece(lambda where, values: found.append((where, values)))
    domain = [*targets, *(d.var for d in free)]
    space = _Space(names, targets, shape, offsets)
    narrowed = [(d, bound[d.var]) for d in free if bound[d.var] is not d.var]
    pieces = []
    for _, values in found:
        exprs = tuple((d.var, substitute(aff_expr(values.get_at(n), domain), bound)) for n, d in enumerate(solved))
        mapping = dict(exprs) | bound
        conditions = [c for d, e in [*zip(solved, (e for _, e in exprs)), *narrowed] for c in
                      ((e, BinaryOp.GE, d.lo), (e, BinaryOp.LT, d.lo + d.extent))]
        conditions += [(substitute(unwrap(index), mapping), BinaryOp.EQ, x) for index, x in zip(indices, targets)
                       if is_affine(index, names)]
        needed = [binary(op, lhs, rhs) for lhs, op, rhs in conditions if not space.always(lhs, op, rhs)]
        guard = fold(lambda a, b: binary(BinaryOp.AND, a, b), needed) if needed else None
        pieces.append(Piece(exprs + tuple((v, e) for v, e in bound.items() if e is not v), guard))
    return tuple(pieces)


_NEGATION = {BinaryOp.GE: "<", BinaryOp.LT: ">=", BinaryOp.EQ: "!="}


class _Space:
    """The box of the adjoint's indices and free variables; proves conditions over it."""

    def __init__(self, names, targets, shape, free):
        self.names = names
        self.header = ", ".join(names[v] for v in [*targets, *(d.var for d in free)])
        box = [f"0 <= {names[x]} < {extent}" for x, extent in zip(targets, shape)]
        box += [f"{d.lo} <= {names[d.var]} < {d.lo + d.extent}" for d in free]
        self.box = " and ".join(box) or "true"

    def always(self, lhs: Expr, op: BinaryOp, rhs) -> bool:
        left = isl_text(lhs, self.names)
        right = str(rhs) if isinstance(rhs, int) else isl_text(rhs, self.names)
        if left is None or right is None:
            return False
        if op is BinaryOp.EQ:
            negated = f"({left} < {right} or {left} > {right})"
        else:
            negated = f"{left} {_NEGATION[op]} {right}"
        return isl.Set(f"{{ [{self.header}] : {self.box} and {negated} }}", _CONTEXT).is_empty()


def aff_expr(aff: isl.Aff, domain: Sequence[Var]) -> Expr:
    """The quasi-affine ``aff`` over ``domain`` as an index expression (floor divisions for its divs)."""
    denominator = aff.get_denominator_val().to_python()
    scaled = aff.scale_val(isl.Val.int_from_si(_CONTEXT, denominator))
    terms: list = []
    for n, var in enumerate(domain):
        coefficient = scaled.get_coefficient_val(isl.dim_type.in_, n).to_python()
        if coefficient:
            terms.append(var if coefficient == 1 else var * coefficient)
    for n in range(aff.dim(isl.dim_type.div)):
        coefficient = scaled.get_coefficient_val(isl.dim_type.div, n).to_python()
        if coefficient:
            div = aff.get_div(n)
            floor = aff_expr(div.scale_val(isl.Val.int_from_si(_CONTEXT, 1)), domain) \
                if div.get_denominator_val().to_python() == 1 else _floor(div, domain)
            terms.append(floor if coefficient == 1 else floor * coefficient)
    constant = scaled.get_constant_val().to_python()
    total = fold(lambda a, b: a + b, terms) if terms else const(0, INDEX)
    if constant:
        total = total + constant
    return total if denominator == 1 else total // denominator


def _floor(div: isl.Aff, domain: Sequence[Var]) -> Expr:
    denominator = div.get_denominator_val().to_python()
    numerator = aff_expr(div.scale_val(isl.Val.int_from_si(_CONTEXT, denominator)), domain)
    return numerator // denominator
