"""Symbolic extents: size variables (``ns.var``, ``ns.size_var``), assumptions about them, and
integer arithmetic that works on ints and on expressions of size variables alike.

A shape, a reduce axis or a loop extent is a Python int when it is known, else an integer
expression of :class:`ShapeVar` s (``n``, ``8 * m``, ``n - 2``, ``n // 2``). Code that sizes
loops uses the helpers here (:func:`ceil_div`, :func:`mul`, :func:`divides`) so that static
extents stay plain ints and only symbolic ones become expressions. A variable's constraints
(its lower bound, a declared divisor, the conditions given to :func:`assume`) are what the
bounds proofs may rely on and what a built module checks when it binds the variable.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from .dtypes import INDEX, DType, as_dtype
from .errors import DefinitionError
from .expr import Binary, BinaryOp, Cast, Const, Expr, IterVar, Unary, UnaryOp, Var, as_expr, binary
from .intmath import as_int


@dataclass(frozen=True, eq=False, repr=False)
class ShapeVar(Var):
    """A size parameter: bound when a built module is called (from array shapes or an argument).

    ``lower`` is the least allowed value (None: any int, TVM's ``var``; 0: TVM's ``SizeVar``),
    ``divisor`` a number every allowed value is a multiple of.
    """

    lower: int | None = None
    divisor: int = 1


#: conditions given to :func:`assume`, per variable they mention
_ASSUMED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

Extent = int | Expr


def var(name: str = "n", dtype="int32") -> ShapeVar:
    """A symbolic integer (TVM's ``te.var``): any value the caller of a built kernel passes.

    With a float ``dtype`` it is a float scalar parameter (see :mod:`tensorir.scalar_param`):
    a value of a compute body, passed to the kernel as a Python number where it is listed among
    the build's arguments."""
    name = _check_name(name, "var")
    found = as_dtype(dtype, f"var {name}: dtype")
    if found.is_float:
        from .scalar_param import float_var

        return float_var(name, found)  # type: ignore[return-value]
    return ShapeVar(name, _int_dtype(dtype, name, "var"))


def size_var(name: str = "n", dtype="int32", divisor: int = 1) -> ShapeVar:
    """A symbolic size (TVM's ``te.size_var``): known to be >= 0, and a multiple of ``divisor``.

    A loop over ``size_var("n", divisor=16)`` split by 16 (or by any divisor of 16) needs no
    guarded tail.
    """
    name = _check_name(name, "size_var")
    divisor = as_int(divisor)
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 1:
        raise DefinitionError(
            f"size_var {name}: divisor={divisor!r} must be a positive int (1 when nothing divides it)")
    return ShapeVar(name, _int_dtype(dtype, name, "size_var"), 0, divisor)


def _check_name(name: object, who: str) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise DefinitionError(f"{who}({name!r}): the name must be an identifier, e.g. {who}('n')")
    return name


def _int_dtype(dtype: object, name: str, who: str) -> DType:
    found = as_dtype(dtype, f"{who} {name}: dtype")
    if not found.is_int or found.name == "BOOL":
        scalar = (f" (a float scalar parameter is var({name!r}, {found.value!r}), a size is an integer)"
                  if found.is_float else "")
        raise DefinitionError(f"{who} {name}: dtype {found.value} is not an integer type; use 'int32'{scalar}")
    return found


def assume(cond: object) -> None:
    """Promise a condition on size variables, e.g. ``ns.assume(n % 16 == 0)``.

    Bounds proofs and guard elimination may rely on it; a built module checks it when it binds
    the variables and refuses a call that violates it.
    """
    expr = as_expr(cond)
    variables = shape_vars([expr])
    others = [n for n in _walk(expr) if isinstance(n, Var) and not isinstance(n, ShapeVar)]
    if expr.dtype is not DType.BOOL or not variables or others:
        raise DefinitionError(
            f"assume({expr}): the condition must be a comparison of size variables made with "
            "ns.var/ns.size_var, e.g. ns.assume(n % 16 == 0)")
    for v in variables:
        _ASSUMED.setdefault(v, []).append(expr)


def assumptions(variables: Iterable[ShapeVar]) -> list[Expr]:
    """The conditions assumed about any of ``variables``, each once."""
    found: dict[Expr, None] = {}
    for v in variables:
        for cond in _ASSUMED.get(v, ()):
            found.setdefault(cond, None)
    return list(found)


def _walk(expr: Expr):
    from .visitor import walk

    return walk(expr)


def is_static(extent: object) -> bool:
    return isinstance(extent, int)


def shape_vars(items: Iterable[object]) -> list[ShapeVar]:
    """The size variables in ``items`` (ints, expressions, tuples of them), in order of appearance."""
    found: dict[ShapeVar, None] = {}
    for item in items:
        if isinstance(item, (tuple, list)):
            for v in shape_vars(item):
                found.setdefault(v, None)
        elif isinstance(item, IterVar):
            for v in shape_vars([item.min, item.extent]):
                found.setdefault(v, None)
        elif isinstance(item, Expr):
            for node in _walk(item):
                if isinstance(node, ShapeVar):
                    found.setdefault(node, None)
    return list(found)


def as_extent(value: object, who: str, what: str = "extent") -> Extent:
    """``value`` as an extent: a Python int, or an integer expression of size variables only."""
    value = as_int(value)
    if isinstance(value, IterVar):
        value = value.var
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Expr) and value.dtype.is_int and value.dtype is not DType.BOOL:
        folded = fold(value)
        if isinstance(folded, int):
            return folded
        loose = [n for n in _walk(value) if isinstance(n, Var) and not isinstance(n, ShapeVar)]
        if not loose:
            return cast_index(folded)
        raise DefinitionError(
            f"{who}: the {what} {value} uses {loose[0].name}, which is not a size variable; "
            "extents are ints or expressions of ns.var/ns.size_var")
    raise DefinitionError(
        f"{who}: the {what} {value!r} must be an int or an integer expression of size "
        "variables (ns.var / ns.size_var)")


def cast_index(expr: Expr) -> Expr:
    return expr if expr.dtype is INDEX else Cast(expr, INDEX)


def to_expr(extent: Extent) -> Expr:
    """An extent as an index expression (a constant for an int: int32, or int64 past its range)."""
    if isinstance(extent, int):
        return as_expr(extent, INDEX) if -(2**31) <= extent < 2**31 else as_expr(extent, None)
    return extent


def fold(expr: Expr) -> Expr | int:
    """``expr`` with constant parts folded; a plain int when nothing symbolic is left."""
    match expr:
        case Const(value=value) if expr.dtype.is_int:
            return int(value)
        case Cast(value=value) if value.dtype.is_int:
            inner = fold(value)
            return inner if isinstance(inner, int) else expr
        case Unary(op=UnaryOp.NEG, a=a):
            inner = fold(a)
            return -inner if isinstance(inner, int) else expr
        case Binary(op=op, a=a, b=b) if op in _INT_OPS:
            x, y = fold(a), fold(b)
            if isinstance(x, int) and isinstance(y, int):
                return _INT_OPS[op](x, y)
    return expr


_INT_OPS = {BinaryOp.ADD: lambda x, y: x + y, BinaryOp.SUB: lambda x, y: x - y,
            BinaryOp.MUL: lambda x, y: x * y,
            BinaryOp.FLOORDIV: lambda x, y: x // y if y else 0,
            BinaryOp.FLOORMOD: lambda x, y: x % y if y else 0,
            BinaryOp.MAX: max, BinaryOp.MIN: min}


#: the largest int32: no symbolic size exceeds it (binding refuses larger ones)
INT32_MAX = 2**31 - 1
#: the largest split factor of a symbolic loop: its inner loop keeps the factor as its extent
MAX_SYMBOLIC_FACTOR = 2**16


def ceil_div(a: Extent, b: Extent) -> Extent:
    """``ceil(a / b)``: an int for ints, else ``(a - 1) // b + 1``, which never overflows 32 bits
    (``a + b - 1`` would for a large ``b``) and is at most 0 where ``a <= 0``."""
    if isinstance(a, int) and isinstance(b, int):
        return -(-a // b)
    if isinstance(b, int) and b == 1:
        return a
    return binary(BinaryOp.ADD, binary(BinaryOp.FLOORDIV, binary(BinaryOp.SUB, to_expr(a), 1), to_expr(b)), 1)


def mul(a: Extent, b: Extent) -> Extent:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if a == 1 if isinstance(a, int) else False:
        return b
    if b == 1 if isinstance(b, int) else False:
        return a
    return binary(BinaryOp.MUL, to_expr(a), to_expr(b))


def product(extents: Iterable[Extent]) -> Extent:
    total: Extent = 1
    for extent in extents:
        total = mul(total, extent)
    return total


def divides(factor: int, extent: Extent) -> bool:
    """Whether ``factor`` divides ``extent`` for every allowed value of its size variables."""
    if isinstance(extent, int):
        return extent % factor == 0
    from .isl_params import always

    return always(binary(BinaryOp.EQ, binary(BinaryOp.FLOORMOD, extent, factor), 0))


def same_extent(a: Extent, b: Extent) -> bool:
    """Whether two extents are equal for every allowed value of their size variables."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    from .isl_params import always

    return always(binary(BinaryOp.EQ, to_expr(a), to_expr(b)))


def evaluate(expr: Extent, values: dict[Var, int]) -> int:
    """The value of an integer extent once its variables have ``values``."""
    if isinstance(expr, int):
        return expr
    match expr:
        case Var():
            return values[expr]
        case Const(value=value):
            return int(value)
        case Cast(value=value):
            return evaluate(value, values)
        case Unary(op=UnaryOp.NEG, a=a):
            return -evaluate(a, values)
        case Binary(op=op, a=a, b=b) if op in _INT_OPS:
            return _INT_OPS[op](evaluate(a, values), evaluate(b, values))
        case Binary(op=op, a=a, b=b) if op in _COMPARE:
            return int(_COMPARE[op](evaluate(a, values), evaluate(b, values)))
        case Binary(op=BinaryOp.AND, a=a, b=b):
            return int(bool(evaluate(a, values)) and bool(evaluate(b, values)))
        case Binary(op=BinaryOp.OR, a=a, b=b):
            return int(bool(evaluate(a, values)) or bool(evaluate(b, values)))
        case Unary(op=UnaryOp.NOT, a=a):
            return int(not evaluate(a, values))
    raise DefinitionError(f"cannot evaluate the extent {expr}: it is not integer arithmetic of size variables")


_COMPARE = {BinaryOp.EQ: lambda x, y: x == y, BinaryOp.NE: lambda x, y: x != y,
            BinaryOp.LT: lambda x, y: x < y, BinaryOp.LE: lambda x, y: x <= y,
            BinaryOp.GT: lambda x, y: x > y, BinaryOp.GE: lambda x, y: x >= y}


def extent_str(extent: Extent) -> str:
    return str(extent)


def symbolic_reduce_axis(name: str, lo: object, hi: object) -> IterVar:
    """A reduce axis over ``lo..hi`` where a bound is an expression of size variables."""
    from .expr import IterKind

    who = f"reduce_axis {name}"
    lo, hi = as_extent(lo, who, "lower bound"), as_extent(hi, who, "upper bound")
    extent = fold(to_expr(hi) - to_expr(lo)) if not (isinstance(lo, int) and lo == 0) else hi
    if not isinstance(extent, int):
        extent = cast_index(extent)
    elif extent <= 0:
        raise DefinitionError(f"reduce_axis {name}: range {lo}..{hi} is empty; it needs hi > lo")
    if not isinstance(lo, int):
        raise DefinitionError(
            f"reduce_axis {name}: the lower bound {lo} is symbolic; start the range at an int "
            f"and shift the index instead, e.g. reduce_axis((0, {hi} - {lo})) and use k + {lo}")
    return IterVar(Var(name, INDEX), lo, extent, IterKind.REDUCE)


def row_major_strides(shape: tuple[Extent, ...]) -> tuple[Extent, ...]:
    """The strides of a row-major buffer of a symbolic ``shape`` (ints where they are known)."""
    strides: list[Extent] = []
    step: Extent = 1
    for extent in reversed(shape):
        strides.append(step)
        step = mul(step, extent)
    return tuple(reversed(strides))
