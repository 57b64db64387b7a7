"""The islpy bridge: index expressions as isl objects, range inference and bounds of accesses.

This is the only module that imports islpy; IR nodes never hold isl objects. Index expressions
become isl affine functions (``isl.Aff``) over a box of index variables: sums, differences,
products by constants, and floor division and modulo by positive constants (quasi-affine). Any
other expression (a product of indices, a load, a float) has no affine form: the helpers return
None for it, and the checks skip it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import islpy as isl

from .dtypes import INDEX_TYPES
from .errors import DefinitionError
from .expr import (
    Binary,
    BinaryOp,
    Cast,
    Const,
    Expr,
    IterVar,
    Reduce,
    Select,
    TensorLoad,
    Unary,
    UnaryOp,
    Var,
)
from .visitor import walk

if TYPE_CHECKING:
    from .tensor import ComputeOp

_CONTEXT = isl.DEFAULT_CONTEXT
#: The comparison that holds exactly when a comparison does not.
_NEGATED = {BinaryOp.LT: BinaryOp.GE, BinaryOp.LE: BinaryOp.GT, BinaryOp.GT: BinaryOp.LE,
            BinaryOp.GE: BinaryOp.LT, BinaryOp.EQ: BinaryOp.NE, BinaryOp.NE: BinaryOp.EQ}
_SET_OF = {BinaryOp.LT: "lt_set", BinaryOp.LE: "le_set", BinaryOp.GT: "gt_set",
           BinaryOp.GE: "ge_set", BinaryOp.EQ: "eq_set", BinaryOp.NE: "ne_set"}


@lru_cache(maxsize=4096)
def _box_set(bounds: tuple[tuple[int | None, int | None], ...]) -> isl.Set:
    """The set ``{[v0, v1, ...] : lo <= v < hi}``; a None bound leaves that side open."""
    names = ", ".join(f"v{n}" for n in range(len(bounds)))
    terms = []
    for n, (lo, hi) in enumerate(bounds):
        if lo is not None:
            terms.append(f"v{n} >= {lo}")
        if hi is not None:
            terms.append(f"v{n} < {hi}")
    return isl.Set(f"{{ [{names}] : {' and '.join(terms) or 'true'} }}", _CONTEXT)


class IndexSpace:
    """Index variables in a fixed order, the box they range over, and affine forms over them.

    Parameters
    ----------
    bounds
        ``{var: (lo, hi)}`` with ``hi`` excluded; a None bound is open.
    """

    def __init__(self, bounds: dict[Var, tuple[int | Expr | None, int | Expr | None]],
                 mentions: Iterable[object] = (), positive: Iterable[object] = ()):
        from .isl_params import constrain, split_bounds

        positive = tuple(positive)
        static, symbolic, params = split_bounds(bounds, (*mentions, *positive))
        self.variables = tuple(static)
        self.position = {var: n for n, var in enumerate(self.variables)}
        self.box = _box_set(tuple(static.values()))
        self._local = isl.LocalSpace.from_space(self.box.get_space())
        self._affs: dict[Expr, isl.Aff | None] = {}
        if symbolic or params:
            self.box = constrain(self, symbolic, params, positive)

    def constant(self, value: int) -> isl.Aff:
        return isl.Aff.val_on_domain(self._local, isl.Val.int_from_si(_CONTEXT, value))

    def aff(self, expr: Expr) -> isl.Aff | None:
        """The affine form of the integer expression ``expr``, or None if it has none."""
        if expr not in self._affs:
            self._affs[expr] = self._convert(expr)
        return self._affs[expr]

    def _convert(self, expr: Expr) -> isl.Aff | None:
        if expr.dtype not in INDEX_TYPES:  # narrower or unsigned integers wrap: not affine
            return None
        match expr:
            case Var() if expr in self.position:
                return isl.Aff.var_on_domain(self._local, isl.dim_type.set, self.position[expr])
            case Const(value=value):
                return self.constant(int(value))
            case Cast(value=value) if value.dtype.is_int:
                return self.aff(value)
            case Unary(op=UnaryOp.NEG, a=a):
                inner = self.aff(a)
                return None if inner is None else inner.neg()
            case Binary(op=op, a=a, b=b):
                return self._binary(op, self.aff(a), self.aff(b))
        return None

    def _binary(self, op: BinaryOp, a: isl.Aff | None, b: isl.Aff | None) -> isl.Aff | None:
        if a is None or b is None:
            return None
        if op is BinaryOp.ADD:
            return a.add(b)
        if op is BinaryOp.SUB:
            return a.sub(b)
        if op is BinaryOp.MUL and (a.is_cst() or b.is_cst()):
            return a.mul(b)
        divisor = b.get_constant_val() if b.is_cst() else None
        if divisor is None or not divisor.is_pos():
            return None
        if op is BinaryOp.FLOORDIV:
            return a.scale_down_val(divisor).floor()
        if op is BinaryOp.FLOORMOD:
            return a.mod_val(divisor)
        return None

    def condition(self, cond: Expr, holds: bool = True) -> isl.Set | None:
        """A set that contains every point where ``cond`` is ``holds``; None if nothing is known.

        Comparisons of affine operands are exact; ``&``, ``|`` and ``~`` combine them. A part
        with no affine form is treated as "may be either", so the set can only be larger.
        """
        match cond:
            case Const(value=value):
                return self.box if bool(value) == holds else isl.Set.empty(self.box.get_space())
            case Unary(op=UnaryOp.NOT, a=a):
                return self.condition(a, not holds)
            case Binary(op=BinaryOp.AND | BinaryOp.OR as op, a=a, b=b):
                left, right = self.condition(a, holds), self.condition(b, holds)
                if (op is BinaryOp.AND) == holds:  # both parts are known to be `holds`
                    if left is None or right is None:
                        return right if left is None else left
                    return left.intersect(right)
                return None if left is None or right is None else left.union(right)
            case Binary(op=op, a=a, b=b) if op in _SET_OF:
                left, right = self.aff(a), self.aff(b)
                if left is None or right is None:
                    return None
                return getattr(left, _SET_OF[op if holds else _NEGATED[op]])(right)
        return None

    def values(self, point: isl.Point) -> dict[Var, int]:
        return {var: point.get_coordinate_val(isl.dim_type.set, n).to_python()
                for n, var in enumerate(self.variables)}


def is_quasi_affine(expr: Expr) -> bool:
    """Whether ``expr`` has an affine form in its index variables (see the module docstring)."""
    variables = {node: (None, None) for node in walk(expr) if isinstance(node, Var)}
    return IndexSpace(variables).aff(expr) is not None


@dataclass(frozen=True)
class Violation:
    """A point where a subscript leaves its dimension: the dimension, its value, the point."""

    dim: int
    value: int
    point: dict[Var, int]


def find_out_of_bounds(space: IndexSpace, domain: isl.Set, subscripts: Sequence[Expr],
                       shape: Sequence[int], dims: Iterable[int] | None = None) -> Violation | None:
    """The first dimension whose subscript leaves ``0..extent`` somewhere in ``domain``.

    Only the dimensions ``dims`` are checked (all by default); subscripts without an affine
    form are skipped. The example point is the lexicographically smallest one, so it reads like
    the start of the loop nest.
    """
    for dim in range(len(shape)) if dims is None else dims:
        subscript, extent = subscripts[dim], shape[dim]
        aff = space.aff(subscript)
        if aff is None:
            continue
        if isinstance(extent, int):
            low, high = domain.min_val(aff), domain.max_val(aff)
            if low.is_nan() or (not low.is_neg() and high.lt(isl.Val.int_from_si(_CONTEXT, extent))):
                continue
            top = space.constant(extent)
        else:
            top = space.aff(extent)
            if top is None:
                continue
        outside = domain.intersect(aff.lt_set(space.constant(0)).union(aff.ge_set(top)))
        if outside.is_empty():
            continue
        point = outside.lexmin().sample_point()
        if point.is_void():
            point = outside.sample_point()
        return Violation(dim, aff.eval(point).to_python(), space.values(point))
    return None


def first_out_of_bounds(var: Var, accesses: Iterable[tuple[Expr, int]],
                        known: dict[Var, tuple[int, int]]) -> int | None:
    """The least value ``v >= 0`` of ``var`` at which an access may leave its dimension.

    Parameters
    ----------
    var
        The index whose range is being inferred.
    accesses
        ``(subscript, extent)`` pairs: subscripts in ``var`` and the ``known`` indices.
    known
        The other indices with their ranges ``(lo, hi)``, ``hi`` excluded.

    Returns
    -------
    The first bad value (so ``0..value`` is the largest safe range), or None when no value of
    ``var`` leaves the bounds (the accesses do not bound it).
    """
    space = IndexSpace({var: (0, None), **known})
    bad = isl.Set.empty(space.box.get_space())
    for subscript, extent in accesses:
        aff = space.aff(subscript)
        if aff is not None:
            bad = bad.union(aff.lt_set(space.constant(0))).union(aff.ge_set(space.constant(extent)))
    bad = bad.intersect(space.box)
    if bad.is_empty():
        return None
    return space.values(bad.lexmin().sample_point())[var]


def _same_extent(a, b) -> bool:
    from .symbolic import same_extent

    return same_extent(a, b)


def _guarded_loads(expr: Expr, guards: tuple[tuple[Expr, bool], ...], out: list,
                   seen: set | None = None) -> None:
    """Every tensor load under ``expr`` with the if_then_else conditions around it.

    A guard is ``(cond, holds)``: the load is evaluated only where ``cond`` is ``holds``. A
    subexpression reused under the same guards is visited once (``seen``), so a body that is a
    graph costs its distinct nodes, not its paths.
    """
    seen = set() if seen is None else seen
    if (id(expr), guards) in seen:
        return
    seen.add((id(expr), guards))
    match expr:
        case Select(cond=cond, true_value=t, false_value=f):
            _guarded_loads(cond, guards, out, seen)
            _guarded_loads(t, (*guards, (cond, True)), out, seen)
            _guarded_loads(f, (*guards, (cond, False)), out, seen)
        case TensorLoad(indices=indices):
            out.append((expr, guards))
            for index in indices:
                _guarded_loads(index, guards, out, seen)
        case Reduce():
            # the values are read only where the reduction's predicate holds; init at no point of it
            inside = guards if expr.condition is None else (*guards, (expr.condition, True))
            for part in (expr.condition, expr.init):
                if part is not None:
                    _guarded_loads(part, guards, out, seen)
            for source in expr.all_sources:
                _guarded_loads(source, inside, out, seen)
        case Binary(a=a, b=b):
            _guarded_loads(a, guards, out, seen)
            _guarded_loads(b, guards, out, seen)
        case Unary(a=a) | Cast(value=a):
            _guarded_loads(a, guards, out, seen)
        case _:
            for child in getattr(expr, "args", ()):
                _guarded_loads(child, guards, out, seen)


def _domain(space: IndexSpace, guards: tuple, cache: dict) -> isl.Set:
    if guards not in cache:
        domain = _domain(space, guards[:-1], cache)
        cond = space.condition(*guards[-1])
        cache[guards] = domain if cond is None else domain.intersect(cond)
    return cache[guards]


def check_definition_bounds(name: str, axis: Sequence[IterVar], body: Expr, written: dict | None = None) -> None:
    """Prove that every access of the compute ``name[axis] = body`` stays in bounds
    (``written``: the reads as the user wrote them, by the id of the read checked in their place).

    Each tensor load is checked over the box of the output and reduce axes, narrowed by the
    affine conditions of the ``if_then_else`` branches around it. Subscripts with no affine
    form are not checked.

    Raises
    ------
    DefinitionError
        If an access may leave its tensor, with an example point and how to fix it.
    """
    loads: list = []
    _guarded_loads(body, (), loads)
    if not loads:
        return
    reduce_axes = body.axes if isinstance(body, Reduce) else ()
    space = IndexSpace({iv.var: (iv.min, _end(iv)) for iv in (*axis, *reduce_axes)},
                       mentions=[*(ld.indices for ld, _ in loads), *(ld.tensor.shape for ld, _ in loads)],
                       positive=[*(iv.extent for iv in axis), *(e for ld, _ in loads for e in ld.tensor.shape)])
    domains: dict = {(): space.box}
    for load, guards in loads:
        violation = find_out_of_bounds(space, _domain(space, guards, domains), load.indices,
                                       load.tensor.shape)
        if violation is not None:
            shown = (written or {}).get(id(load), (load, load))[1]
            raise DefinitionError(out_of_bounds_message(f"compute {name}", load, violation, shown=shown))


def _end(iv: IterVar) -> int | Expr:
    """Where the range of ``iv`` ends (excluded)."""
    if isinstance(iv.min, int) and isinstance(iv.extent, int):
        return iv.min + iv.extent
    from .symbolic import to_expr

    return to_expr(iv.min) + to_expr(iv.extent)


def check_access_bounds(op: ComputeOp) -> None:
    """Prove that every access of the compute definition ``op`` stays in bounds.

    See :func:`check_definition_bounds`.
    """
    check_definition_bounds(op.name, op.axis, op.body)


def out_of_bounds_message(who: str, load: TensorLoad, violation: Violation,
                          fix: str = "guard it with if_then_else(...) or shrink the ranges",
                          shown: TensorLoad | None = None) -> str:
    """The error text for ``load`` leaving its tensor at ``violation`` (named as ``shown``)."""
    tensor, dim = load.tensor, violation.dim
    subscript = load.indices[dim]
    used = {node for node in walk(subscript) if isinstance(node, Var)}
    from .symbolic import ShapeVar

    where = ", ".join(f"{var.name}={value}" for var, value in violation.point.items()
                      if var in used and not isinstance(var, ShapeVar))
    sizes = ", ".join(f"{var.name}={value}" for var, value in violation.point.items()
                      if isinstance(var, ShapeVar))
    if sizes:
        where = f"{where or 'every point'} when {sizes}"
    return (f"{who}: the access {load if shown is None else shown} may go out of bounds: its index "
            f"{dim}, {subscript}, is {violation.value} at {where or 'every point'}, but dimension {dim} of "
            f"{tensor.name} (shape {list(tensor.shape)}) has the range 0..{tensor.shape[dim]}; {fix}")


@dataclass(frozen=True)
class _Subscript:
    """One dimension of one access: its index variables and whether it is affine."""

    load: TensorLoad
    dim: int
    variables: frozenset[Var]
    affine: bool
    position: object  # where the subscript was written, for error messages

    @property
    def extent(self) -> int:
        return self.load.tensor.shape[self.dim]


class RangeInference:
    """Ranges ``0..extent`` of index variables: the largest that keep every access in bounds.

    First an index that is the bare subscript of a dimension gets that dimension's extent.
    Then, one at a time, an index whose affine subscripts involve only indices of known range
    gets the largest extent that keeps those subscripts in bounds for every value of the others:
    the least value at which some point of the others' box leaves the bounds. Where no index
    has all its subscripts complete, one with some complete subscripts is inferred from those,
    and the others are inferred later with its range known.

    Parameters
    ----------
    who
        The definition, for error messages (``"compute C"``).
    variables
        The indices, in the order errors report them.
    pinned
        Extents given by the user; they are not inferred, only checked.
    locate
        ``locate(position, message)`` builds the error for a subscript's ``position``.
    """

    def __init__(self, who: str, variables: Sequence[Var], pinned: dict[Var, int],
                 locate: Callable[[object, str], DefinitionError] | None = None):
        self.who, self.variables, self.pinned = who, tuple(variables), pinned
        self.locate = locate or (lambda position, message: DefinitionError(message))
        self.extents: dict[Var, int] = dict(pinned)
        self.subscripts: list[_Subscript] = []
        self.origin: dict[Var, _Subscript] = {}

    def add(self, load: TensorLoad, positions: Sequence[object]) -> None:
        """Take the access ``load`` into account; ``positions`` locate its subscripts."""
        for dim, (index, position) in enumerate(zip(load.indices, positions)):
            variables = frozenset(n for n in walk(index) if isinstance(n, Var))
            self.subscripts.append(_Subscript(load, dim, variables, is_quasi_affine(index), position))

    def run(self) -> dict[Var, int]:
        """The extent of every index; raises DefinitionError where there is none."""
        for sub in self.subscripts:
            if isinstance(sub.load.indices[sub.dim], Var):
                self._bare(sub, sub.load.indices[sub.dim])
        while (var := self._next()) is not None:
            self.extents[var] = self._largest(var)
        for var in self.variables:
            if var not in self.extents:
                raise self._cannot_infer(var)
        self._check_pinned()
        return self.extents

    def _bare(self, sub: _Subscript, var: Var) -> None:
        if var in self.pinned:
            return
        first = self.origin.setdefault(var, sub)
        if not _same_extent(first.extent, sub.extent):
            raise self.locate(sub.position, (
                f"inconsistent ranges for index `{var.name}`: it indexes dimension {first.dim} of "
                f"{first.load.tensor.name} (extent {first.extent}) and dimension {sub.dim} of "
                f"{sub.load.tensor.name} (extent {sub.extent}); an index has one range, so make "
                "the shapes agree or use different indices"))
        self.extents[var] = sub.extent

    def _uses(self, var: Var) -> list[_Subscript]:
        return [sub for sub in self.subscripts if var in sub.variables and sub.affine]

    def _complete(self, var: Var) -> list[_Subscript]:
        """The affine subscripts in ``var`` whose other indices all have a known range."""
        return [sub for sub in self._uses(var)
                if all(v in self.extents for v in sub.variables - {var})]

    def _next(self) -> Var | None:
        """An index to infer next: preferably one whose subscripts are all complete."""
        unknown = [v for v in self.variables if v not in self.extents]
        for strict in (True, False):
            for var in unknown:
                complete = self._complete(var)
                if complete and (not strict or len(complete) == len(self._uses(var))):
                    return var
        return None

    def _largest(self, var: Var) -> int | Expr:
        uses = self._complete(var)
        known = {v: (0, self.extents[v]) for sub in uses for v in sub.variables - {var}}
        accesses = [(sub.load.indices[sub.dim], sub.extent) for sub in uses]
        if not all(isinstance(e, int) for _, e in accesses) or not all(isinstance(h, int) for _, h in known.values()):
            from .isl_params import first_out_of_bounds_symbolic

            first = first_out_of_bounds_symbolic(var, accesses, known)
            if first is None:
                raise self.locate(uses[0].position, (
                    f"cannot infer the range of index {var.name}: with symbolic shapes its largest safe "
                    f'range is not one affine expression; pin it with ranges={{"{var.name}": ...}}'))
            return first
        first = first_out_of_bounds(var, accesses, known)
        if first is None:
            raise self.locate(uses[0].position, (
                f"cannot infer the range of index {var.name}: no subscript bounds it; pin it with "
                f'ranges={{"{var.name}": N}}'))
        if first == 0:
            space = IndexSpace({var: (0, 1), **known})
            for sub in uses:
                violation = find_out_of_bounds(space, space.box, sub.load.indices,
                                               sub.load.tensor.shape, [sub.dim])
                if violation is not None:
                    raise DefinitionError(out_of_bounds_message(
                        f"{self.who}: no range of index {var.name} is safe", sub.load, violation,
                        "fix the subscript or the shapes"))
        return first

    def _cannot_infer(self, var: Var) -> DefinitionError:
        uses = self._uses(var)
        if not uses:
            reason = "it is in no affine subscript outside if_then_else branches"
        else:
            unknown = {v for sub in uses for v in sub.variables if v not in self.extents} - {var}
            accesses = ", ".join(dict.fromkeys(str(sub.load) for sub in uses))
            names = ", ".join(v.name for v in self.variables if v in unknown)
            reason = f"its accesses {accesses} also involve {names}, whose range is unknown too"
        return DefinitionError(f"{self.who}: cannot infer the range of index {var.name}: {reason}; "
                               f'pin it with ranges={{"{var.name}": N}}')

    def _check_pinned(self) -> None:
        space = IndexSpace({v: (0, self.extents[v]) for v in self.variables})
        pinned = [sub for sub in self.subscripts if sub.variables & self.pinned.keys()]
        for load in dict.fromkeys(sub.load for sub in pinned):
            dims = [sub.dim for sub in pinned if sub.load is load]
            violation = find_out_of_bounds(space, space.box, load.indices, load.tensor.shape, dims)
            if violation is not None:
                ranges = ", ".join(f'"{v.name}": {n}' for v, n in self.pinned.items())
                raise DefinitionError(out_of_bounds_message(
                    f"{self.who}: with the pinned ranges ranges={{{ranges}}}", load, violation,
                    "pin a smaller range"))
