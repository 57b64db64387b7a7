"""Integer facts that code generation needs: bounds of index expressions (to print a floor
division as C's ``/`` where both operands are provably non-negative) and affine forms of flat
offsets (to prove that a vectorized access is contiguous and aligned)."""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.dtypes import INDEX_TYPES
from tensorir.expr import Binary, BinaryOp, Cast, Const, Expr, Unary, UnaryOp, Var

Bounds = tuple[float, float]
_UNKNOWN: Bounds = (float("-inf"), float("inf"))


def _mul(a: Bounds, b: Bounds) -> Bounds:
    products = []
    for x in a:
        for y in b:
            if (x == 0 and abs(y) == float("inf")) or (y == 0 and abs(x) == float("inf")):
                products.append(0.0)
            else:
                products.append(x * y)
    return min(products), max(products)


def bounds(e: Expr, ranges: dict[Var, Bounds]) -> Bounds:
    """Inclusive lower and upper bounds of integer expression ``e`` when each variable ``v`` lies
    in ``ranges[v]`` (unknown variables and loads are unbounded). A narrow or unsigned integer
    wraps around its type, so its bounds are its type's range unless they fit inside it."""
    found = _bounds(e, ranges)
    dtype = e.dtype
    if dtype.is_int and dtype not in INDEX_TYPES and not dtype.min <= found[0] <= found[1] <= dtype.max:
        return float(dtype.min), float(dtype.max)
    return found


def _bounds(e: Expr, ranges: dict[Var, Bounds]) -> Bounds:
    match e:
        case Const(value=v) if not isinstance(v, float):
            return float(v), float(v)
        case Var():
            return ranges.get(e, _UNKNOWN)
        case Cast(value=inner) if inner.dtype.is_int or inner.dtype.name == "BOOL":
            return bounds(inner, ranges)
        case Unary(op=UnaryOp.NEG, a=a):
            lo, hi = bounds(a, ranges)
            return -hi, -lo
        case Binary(op=op, a=a, b=b) if e.dtype.is_int:
            return _binary_bounds(op, bounds(a, ranges), bounds(b, ranges))
    return _UNKNOWN


def _binary_bounds(op: BinaryOp, a: Bounds, b: Bounds) -> Bounds:
    if op is BinaryOp.ADD:
        return a[0] + b[0], a[1] + b[1]
    if op is BinaryOp.SUB:
        return a[0] - b[1], a[1] - b[0]
    if op is BinaryOp.MUL:
        return _mul(a, b)
    if op is BinaryOp.MAX:
        return max(a[0], b[0]), max(a[1], b[1])
    if op is BinaryOp.MIN:
        return min(a[0], b[0]), min(a[1], b[1])
    if op is BinaryOp.FLOORDIV and b[0] > 0 and a[0] >= 0:
        return 0.0, a[1] / b[0] if a[1] != float("inf") else a[1]
    if op is BinaryOp.FLOORMOD and b[0] > 0:
        return 0.0, b[1] - 1
    return _UNKNOWN


def nonnegative(e: Expr, ranges: dict[Var, Bounds]) -> bool:
    return bounds(e, ranges)[0] >= 0


def positive(e: Expr, ranges: dict[Var, Bounds]) -> bool:
    return bounds(e, ranges)[0] > 0


@dataclass
class Affine:
    """``sum(coef * term) + constant``: terms are variables or non-affine sub-expressions."""

    terms: dict[Expr, int]
    constant: int

    def coefficient(self, var: Var) -> int | None:
        """The coefficient of ``var``, or None where ``var`` hides inside a non-affine term."""
        for term in self.terms:
            if term is not var and _mentions(term, var):
                return None
        return self.terms.get(var, 0)

    def rest_divisible(self, var: Var, by: int, shift: int = 0) -> bool:
        """Whether the form without its ``var`` term, plus ``shift``, is always a multiple of ``by``."""
        if (self.constant + shift) % by:
            return False
        return all(coef % by == 0 for term, coef in self.terms.items() if term is not var)


def _mentions(e: Expr, var: Var) -> bool:
    from tensorir.visitor import walk

    return any(node is var for node in walk(e))


def affine(e: Expr) -> Affine:
    """The affine form of integer expression ``e``."""
    match e:
        case Const(value=v) if isinstance(v, int) and not isinstance(v, bool):
            return Affine({}, v)
        case Binary(op=BinaryOp.ADD | BinaryOp.SUB, a=a, b=b):
            fa, fb = affine(a), affine(b)
            sign = 1 if e.op is BinaryOp.ADD else -1
            terms = dict(fa.terms)
            for term, coef in fb.terms.items():
                terms[term] = terms.get(term, 0) + sign * coef
            return Affine(terms, fa.constant + sign * fb.constant)
        case Binary(op=BinaryOp.MUL, a=a, b=Const(value=c)) | Binary(op=BinaryOp.MUL, a=Const(value=c), b=a) \
                if isinstance(c, int) and not isinstance(c, bool):
            inner = affine(a)
            return Affine({t: k * c for t, k in inner.terms.items()}, inner.constant * c)
        case Unary(op=UnaryOp.NEG, a=a):
            inner = affine(a)
            return Affine({t: -k for t, k in inner.terms.items()}, -inner.constant)
        case Cast(value=inner) if e.dtype.is_int and inner.dtype.is_int and \
                e.dtype.numpy.itemsize >= inner.dtype.numpy.itemsize:
            return affine(inner)  # a widening (the 64-bit offsets of large buffers) keeps the value
    return Affine({e: 1}, 0)


def multiple_of(e: Expr) -> int:
    """A positive integer that always divides integer expression ``e`` (1 where nothing is known)."""
    from math import gcd

    match e:
        case Const(value=v) if isinstance(v, int) and not isinstance(v, bool):
            return abs(v)  # 0 is a multiple of everything: gcd(0, x) = x keeps that
        case Binary(op=BinaryOp.MUL, a=a, b=b):
            return multiple_of(a) * multiple_of(b)
        case Binary(op=BinaryOp.ADD | BinaryOp.SUB, a=a, b=b):
            return gcd(multiple_of(a), multiple_of(b)) or 1
        case Binary(op=BinaryOp.FLOORMOD, a=a, b=Const(value=c)) if isinstance(c, int) and c > 0:
            return gcd(multiple_of(a), c) or 1
        case Unary(op=UnaryOp.NEG, a=a) | Cast(value=a):
            return multiple_of(a)
    return 1


def _aligned(form: Affine, lane: Var, lanes: int) -> bool:
    """Whether ``form`` without its ``lane`` term is always a multiple of ``lanes``."""
    if form.constant % lanes:
        return False
    return all((coef * multiple_of(term)) % lanes == 0 for term, coef in form.terms.items() if term is not lane)


def see_through(e: Expr, lane: Var, lanes: int) -> Expr:
    """``e`` with floor divisions and modulos by multiples of ``lanes`` rewritten where ``lane``
    (in ``0..lanes``) is added to a multiple of ``lanes`` in their dividend:
    ``(x + lane) // c == x // c`` and ``(x + lane) % c == x % c + lane`` when ``x`` and ``c`` are
    multiples of ``lanes`` (``x % c`` is then at most ``c - lanes``). What a ``fuse`` then
    ``split`` of a contiguous axis produces, so that its accesses prove contiguous."""
    from dataclasses import replace

    from tensorir.visitor import substitute

    match e:
        case Binary(op=BinaryOp.FLOORDIV | BinaryOp.FLOORMOD, a=a, b=Const(value=c)) \
                if isinstance(c, int) and c > 0 and c % lanes == 0:
            inner = see_through(a, lane, lanes)
            form = affine(inner)
            if form.coefficient(lane) == 1 and _aligned(form, lane, lanes):
                base = substitute(inner, {lane: Const(0, lane.dtype)})
                if e.op is BinaryOp.FLOORDIV:
                    return replace(e, a=base)
                return Binary(BinaryOp.ADD, replace(e, a=base), lane, e.dtype)
            return e if inner is a else replace(e, a=inner)
        case Binary(a=a, b=b):
            na, nb = see_through(a, lane, lanes), see_through(b, lane, lanes)
            return e if (na is a and nb is b) else replace(e, a=na, b=nb)
        case Unary(a=a):
            na = see_through(a, lane, lanes)
            return e if na is a else replace(e, a=na)
        case Cast(value=a):
            na = see_through(a, lane, lanes)
            return e if na is a else replace(e, value=na)
    return e


def contiguous_lanes(index: Expr, var: Var, start: int, lanes: int = 4) -> bool:
    """Whether flat offset ``index`` takes ``lanes`` consecutive values, starting at a multiple of
    ``lanes``, for each group of ``lanes`` consecutive values of ``var`` from ``start`` (a
    multiple of ``lanes``)."""
    from tensorir.visitor import substitute

    if start % lanes:
        return False
    group, lane = Var(f"{var.name}.group", var.dtype), Var(f"{var.name}.lane", var.dtype)
    at = Binary(BinaryOp.ADD, Binary(BinaryOp.MUL, group, Const(lanes, var.dtype), var.dtype),
                Const(start, var.dtype), var.dtype)
    lane_index = see_through(substitute(index, {var: Binary(BinaryOp.ADD, at, lane, var.dtype)}), lane, lanes)
    form = affine(lane_index)
    return form.coefficient(lane) == 1 and _aligned(form, lane, lanes)
