"""Integer analyses of index expressions: linear forms, their canonical form, value intervals over
loop ranges, and the variables and loads an expression holds.

Passes (``tensorir/passes``) and backends build on these; nothing here depends on a pass.
Structural keys of IR live in :mod:`tensorir.structural`.
"""

from __future__ import annotations

from functools import lru_cache

from .expr import Binary, BinaryOp, BufferLoad, Cast, Const, Expr, Unary, UnaryOp, Var, const
from .structural import identity_key
from .visitor import _children

LinearForm = tuple[dict[Expr, int], int]


def linear_form(e: Expr) -> LinearForm | None:
    """``e`` as ``sum(coef * term) + constant`` over non-additive terms (structurally equal
    terms merged), or None."""
    form = _linear(e)
    if form is None:
        return None
    merged: dict[tuple, tuple[Expr, int]] = {}
    for term, coef in form[0]:
        key = identity_key(term)
        first, total = merged.get(key, (term, 0))
        merged[key] = (first, total + coef)
    return {term: coef for term, coef in merged.values()}, form[1]


def _linear(e: Expr) -> tuple[list[tuple[Expr, int]], int] | None:
    match e:
        case Const(value=v) if isinstance(v, int) and not isinstance(v, bool):
            return [], v
        case Binary(op=BinaryOp.ADD | BinaryOp.SUB, a=a, b=b):
            la, lb = _linear(a), _linear(b)
            if la is None or lb is None:
                return None
            sign = 1 if e.op is BinaryOp.ADD else -1
            return la[0] + [(t, sign * k) for t, k in lb[0]], la[1] + sign * lb[1]
        case Binary(op=BinaryOp.MUL, a=a, b=Const(value=c)) | Binary(op=BinaryOp.MUL, a=Const(value=c), b=a) \
                if isinstance(c, int) and not isinstance(c, bool):
            inner = _linear(a)
            if inner is None:
                return None
            return [(t, k * c) for t, k in inner[0]], inner[1] * c
        case Unary(op=UnaryOp.NEG, a=a):
            inner = _linear(a)
            if inner is None:
                return None
            return [(t, -k) for t, k in inner[0]], -inner[1]
    return [(e, 1)], 0


Ranges = dict[Var, tuple[int, int]]


def interval(e: Expr, ranges: Ranges) -> tuple[int, int] | None:
    """Inclusive bounds of integer expression ``e`` when each variable lies in ``ranges``
    (None where unknown, or where the value could wrap around its type)."""
    found = _interval(e, ranges)
    if found is not None and e.dtype.is_int and not e.dtype.min <= found[0] <= found[1] <= e.dtype.max:
        return None
    return found


def _interval(e: Expr, ranges: Ranges) -> tuple[int, int] | None:
    match e:
        case Const(value=v) if isinstance(v, int) and not isinstance(v, bool):
            return v, v
        case Var():
            return ranges.get(e)
        case Cast(value=v) if e.dtype.is_int and v.dtype.is_int:
            return interval(v, ranges)
        case Unary(op=UnaryOp.NEG, a=a):
            r = interval(a, ranges)
            return None if r is None else (-r[1], -r[0])
        case Binary(op=op, a=a, b=b) if e.dtype.is_int and op in _INTERVAL_OPS:
            ra, rb = interval(a, ranges), interval(b, ranges)
            if ra is None or rb is None:
                return None
            return _combine(op, ra, rb)
    return None


_INTERVAL_OPS = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.FLOORDIV, BinaryOp.FLOORMOD,
                           BinaryOp.MAX, BinaryOp.MIN})


def _combine(op: BinaryOp, ra, rb):
    if op is BinaryOp.ADD:
        return ra[0] + rb[0], ra[1] + rb[1]
    if op is BinaryOp.SUB:
        return ra[0] - rb[1], ra[1] - rb[0]
    if op is BinaryOp.MUL:
        products = [x * y for x in ra for y in rb]
        return min(products), max(products)
    if op in (BinaryOp.FLOORDIV, BinaryOp.FLOORMOD) and rb[0] == rb[1] and rb[0] > 0:
        d = rb[0]
        if op is BinaryOp.FLOORDIV:
            return ra[0] // d, ra[1] // d
        if ra[1] - ra[0] < d and ra[0] % d <= ra[1] % d:
            return ra[0] % d, ra[1] % d
        return 0, d - 1
    if op is BinaryOp.MAX:
        return max(ra[0], rb[0]), max(ra[1], rb[1])
    if op is BinaryOp.MIN:
        return min(ra[0], rb[0]), min(ra[1], rb[1])
    return None


def safe_divisor(divisor: Expr, ranges: Ranges) -> bool:
    """Whether integer division by ``divisor`` needs no guard: it is provably neither 0 nor -1
    (``INT_MIN // -1`` overflows) over the loop ranges. See :mod:`tensorir.dtypes`."""
    r = interval(divisor, ranges)
    return r is not None and (r[0] > 0 or r[1] < -1)


def split_divmod(e: Binary, ranges: Ranges) -> Expr | None:
    """``(q*d*t + r) // d -> q*t + r // d`` and ``% d -> r % d``, and ``r // d -> 0``,
    ``r % d -> r`` where ``0 <= r < d`` over the loop ranges; None when nothing applies."""
    d = e.b.value if isinstance(e.b, Const) else None
    if not isinstance(d, int) or isinstance(d, bool) or d <= 0:
        return None
    form = linear_form(e.a)
    if form is None:
        return None
    terms, constant = form
    whole = {t: c for t, c in terms.items() if c % d == 0}
    rest_terms = {t: c for t, c in terms.items() if c % d != 0}
    rest = _rebuild(rest_terms, constant % d, e.dtype)
    r = interval(rest, ranges)
    if r is None or r[0] < 0 or r[1] >= d:
        return None
    if e.op is BinaryOp.FLOORMOD:
        return rest
    return _rebuild({t: c // d for t, c in whole.items()}, constant // d, e.dtype)


def _rebuild(terms: dict[Expr, int], constant: int, dtype) -> Expr:
    total: Expr = const(constant, dtype)
    for term, coef in terms.items():
        if coef:
            total = Binary(BinaryOp.ADD, total, Binary(BinaryOp.MUL, term, const(coef, dtype), dtype), dtype)
    return canonical_index(total)


@lru_cache(maxsize=1 << 16)
def free_vars(node) -> frozenset[Var]:
    """The variables an expression or statement mentions (memoised per node)."""
    found = set()
    if isinstance(node, Var):
        found.add(node)
    for child in _children(node):
        found |= free_vars(child)
    return frozenset(found)


@lru_cache(maxsize=1 << 16)
def reads_memory(node) -> bool:
    """Whether an expression loads from a buffer (memoised per node)."""
    return isinstance(node, BufferLoad) or any(reads_memory(child) for child in _children(node))


def canonical_index(e: Expr) -> Expr:
    """An integer expression rewritten as ``t1 * c1 + t2 * c2 + ... + c`` with like terms merged."""
    form = linear_form(e)
    if form is None or not e.dtype.is_int:
        return e
    terms, constant = form
    dtype = e.dtype
    result: Expr | None = None
    for term, coef in terms.items():
        if coef == 0:
            continue
        magnitude = term if abs(coef) == 1 else Binary(BinaryOp.MUL, term, const(abs(coef), dtype), dtype)
        if result is None:
            result = magnitude if coef > 0 else Unary(UnaryOp.NEG, magnitude, dtype)
        else:
            result = Binary(BinaryOp.ADD if coef > 0 else BinaryOp.SUB, result, magnitude, dtype)
    if result is None:
        return const(constant, dtype)
    if constant:
        result = Binary(BinaryOp.ADD if constant > 0 else BinaryOp.SUB, result, const(abs(constant), dtype), dtype)
    return result


#: a subexpression used more than once is written once (a temporary, a ``let`` line) when its
#: tree form has at least this many nodes: smaller ones are repeated, as they always were
SHARED_MIN_SIZE = 16


def shared_subexpressions(roots, min_size: int = SHARED_MIN_SIZE) -> list[Expr]:
    """The expressions under ``roots`` that are used more than once (IR is a graph when a
    subexpression is reused) and whose tree form has at least ``min_size`` nodes, each before
    the ones that use it. Written as trees their text would grow with the number of paths,
    exponentially in the depth of the sharing."""
    uses: dict = {}
    size: dict = {}
    order: list = []
    expanded: set = set()
    for root in roots:
        uses[root] = uses.get(root, 0) + 1
        stack = [root]  # post-order without recursion: a graph can be deep
        while stack:
            node = stack[-1]
            if node in size:
                stack.pop()
                continue
            children = tuple(_children(node))
            if node not in expanded:
                expanded.add(node)  # first visit: count its edges, then its children first
                for child in children:
                    uses[child] = uses.get(child, 0) + 1
                pending = [child for child in children if child not in size]
                if pending:
                    stack.extend(reversed(pending))
                    continue
            size[node] = min(1 + sum(size[child] for child in children), min_size)
            order.append(node)
            stack.pop()
    return [n for n in order if uses[n] > 1 and size[n] >= min_size and isinstance(n, Expr)]
