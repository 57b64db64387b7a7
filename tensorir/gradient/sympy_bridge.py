"""The sympy bridge: the derivative of a scalar body with respect to one of its loads.

This is the only module that imports sympy; IR nodes never hold sympy objects. A float
expression becomes a sympy expression in which every distinct tensor load (and every
subexpression that no float load flows into: an index, an integer load, a cast of an index)
is a symbol; sympy differentiates and simplifies it, and the result comes back as a Nestor
expression over the same loads and indices.

Handled: ``+ - * /``, ``pow``, ``max``/``min``, ``exp``, ``log``, ``sqrt``, ``tanh``,
``sigmoid``, ``abs``, ``if_then_else`` and float casts. Where a derivative is not defined at a
point (``abs`` at 0, a tie of ``max``) the subgradient sympy gives is used: ``sign(0) = 0``,
``Heaviside(0) = 1/2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce as fold

import sympy

from ..dtypes import DType
from ..errors import DefinitionError
from ..expr import (
    COMPARISONS,
    Binary,
    BinaryOp,
    Call,
    Cast,
    Const,
    Expr,
    Func,
    Select,
    TensorLoad,
    Unary,
    UnaryOp,
    as_expr,
    binary,
    const,
    unary,
)
from ..functions import abs as nabs
from ..functions import exp, if_then_else, log, maximum, minimum, power, sigmoid, sqrt, tanh
from ..structural import identity_key
from ..visitor import walk


class _Sigmoid(sympy.Function):
    """``1 / (1 + exp(-x))`` kept whole, so that its derivative reads ``s * (1 - s)``."""

    is_real = True

    def fdiff(self, argindex=1):
        return self * (1 - self)


_ARITHMETIC = {BinaryOp.ADD: sympy.Add, BinaryOp.MUL: sympy.Mul}
_RELATIONS = {BinaryOp.EQ: sympy.Eq, BinaryOp.NE: sympy.Ne, BinaryOp.LT: sympy.Lt, BinaryOp.LE: sympy.Le,
              BinaryOp.GT: sympy.Gt, BinaryOp.GE: sympy.Ge}
#: sympy's function for each differentiable intrinsic (by name: the ones this tree has)
_SYMPY_FUNCTIONS = {"exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt, "tanh": sympy.tanh, "abs": sympy.Abs,
                    "sigmoid": _Sigmoid, "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "sinh": sympy.sinh,
                    "cosh": sympy.cosh, "atan": sympy.atan, "asin": sympy.asin, "acos": sympy.acos, "erf": sympy.erf}
_CALLS = {func: _SYMPY_FUNCTIONS[func.value] for func in Func if func.value in _SYMPY_FUNCTIONS}
#: intrinsics that are piecewise constant: no derivative flows through them
_STEPS = frozenset(func for func in Func if func.value in {"floor", "ceil", "trunc", "round", "sign"})


@dataclass
class Translation:
    """A body as sympy: the expression, and each symbol with the Nestor expression it stands for."""

    expr: sympy.Expr
    atoms: dict[sympy.Symbol, Expr]
    symbol_of: dict[tuple, sympy.Symbol]

    def symbol(self, load: TensorLoad) -> sympy.Symbol | None:
        """The symbol of ``load`` (None when the body does not read it)."""
        return self.symbol_of.get(identity_key(load))


class _ToSympy:
    def __init__(self, who: str):
        self.who = who
        self.atoms: dict[sympy.Symbol, Expr] = {}
        self.symbol_of: dict[tuple, sympy.Symbol] = {}
        self.memo: dict[Expr, sympy.Basic] = {}

    def atom(self, expr: Expr) -> sympy.Symbol:
        key = identity_key(expr)
        found = self.symbol_of.get(key)
        if found is None:
            if expr.dtype is DType.BOOL:
                assumptions = {"real": False, "integer": False}
            else:  # an integer is real: sympy refuses integer=True with real=False
                assumptions = {"real": True} if expr.dtype.is_float else {"integer": True}
            found = sympy.Symbol(f"a{len(self.atoms)}", **assumptions)
            self.atoms[found] = expr
            self.symbol_of[key] = found
        return found

    def __call__(self, expr: Expr) -> sympy.Basic:
        if expr not in self.memo:
            self.memo[expr] = self.convert(expr)
        return self.memo[expr]

    def convert(self, expr: Expr) -> sympy.Basic:
        if not _has_float_load(expr):
            if isinstance(expr, Const):
                return sympy.sympify(expr.value) if expr.dtype is not DType.BOOL else sympy.true if expr.value \
                    else sympy.false
            return self.atom(expr)
        match expr:
            case TensorLoad():
                return self.atom(expr)
            case Cast(value=value) if value.dtype.is_float and expr.dtype.is_float:
                return self(value)
            case Cast():  # through an integer: piecewise constant, no derivative flows
                return self.atom(expr)
            case Unary(op=UnaryOp.NEG, a=a):
                return -self(a)
            case Unary(op=UnaryOp.NOT, a=a):
                return sympy.Not(self(a))
            case Binary():
                return self.binary(expr)
            case Call(func=func, args=args) if func in _CALLS and len(args) == 1:
                return _CALLS[func](self(args[0]))
            case Call(func=func) if func in _STEPS:
                return self.atom(expr)
            case Select(cond=cond, true_value=t, false_value=f):
                return sympy.Piecewise((self(t), self(cond)), (self(f), True))
        raise DefinitionError(
            f"gradient of {self.who}: cannot differentiate {expr} (a {type(expr).__name__}"
            f"{' ' + expr.func.value if isinstance(expr, Call) else ''} of a tensor element); use "
            "+ - * /, pow, max, min, exp, log, sqrt, tanh, sigmoid, abs and if_then_else on float values")

    def binary(self, expr: Binary) -> sympy.Basic:
        a, b = self(expr.a), self(expr.b)
        match expr.op:
            case BinaryOp.ADD | BinaryOp.MUL:
                return _ARITHMETIC[expr.op](a, b)
            case BinaryOp.SUB:
                return a - b
            case BinaryOp.DIV:
                return a / b
            case BinaryOp.POW:
                return a ** b
            case BinaryOp.MAX:
                return sympy.Max(a, b)
            case BinaryOp.MIN:
                return sympy.Min(a, b)
            case BinaryOp.AND:
                return sympy.And(a, b)
            case BinaryOp.OR:
                return sympy.Or(a, b)
            case op if op in COMPARISONS:
                return _RELATIONS[op](a, b)
        raise DefinitionError(
            f"gradient of {self.who}: `{expr.op.value}` in {expr} has no derivative that helps (it is "
            "piecewise constant or periodic in a tensor element); rewrite it without floor division or modulo "
            "of float values")


def _has_float_load(expr: Expr) -> bool:
    return any(isinstance(node, TensorLoad) and node.dtype.is_float for node in walk(expr))


def to_sympy(expr: Expr, who: str) -> Translation:
    """``expr`` as a sympy expression over symbols for its loads; ``who`` names it in errors."""
    convert = _ToSympy(who)
    result = convert(expr)
    return Translation(result, convert.atoms, convert.symbol_of)


def derivative(body: Translation, load: TensorLoad, dtype: DType, who: str, value: Expr | None = None) -> Expr:
    """``d body / d load``, simplified, as a Nestor expression of type ``dtype``.

    ``value``, when given, holds the body's value (a load of the computed output): where the
    derivative contains the whole body (``1 - tanh(x)**2``, ``exp(x)``, ``s * (1 - s)``), it
    reads ``value`` instead of computing the body again."""
    symbol = body.symbol(load)
    if symbol is None:
        return const(0.0, dtype)
    raw = sympy.diff(body.expr, symbol)
    atoms = body.atoms
    if value is not None and not body.expr.is_Symbol:
        stand_in = sympy.Symbol(f"a{len(atoms)}", real=True)
        reused = raw.subs(body.expr, stand_in)
        if reused.has(stand_in):
            raw, atoms = reused, {**atoms, stand_in: value}
    best = min((form for form in _simpler_forms(raw) if _convertible(form)), key=sympy.count_ops, default=raw)
    return _as_dtype(_FromSympy(atoms, dtype, who)(best), dtype)


def _simpler_forms(raw: sympy.Basic) -> list[sympy.Basic]:
    """``raw`` and cheap rewritings of it: common factors pulled out, powers merged, like terms
    collected. (sympy.simplify takes seconds on a derivative as small as ``1 - tanh(x)**2``,
    trying trigonometric rewritings that only make kernels slower.)"""
    factored = sympy.powsimp(sympy.factor_terms(raw))
    return [raw, factored, sympy.expand(factored, deep=False, mul=False, multinomial=False, log=False)]


def _convertible(expr: sympy.Basic) -> bool:
    try:
        _FromSympy({s: const(0, DType.INT32) for s in expr.free_symbols}, DType.FLOAT32, "")(expr)
    except DefinitionError:
        return False
    return True


def _as_dtype(expr: Expr, dtype: DType) -> Expr:
    from ..expr import cast

    return cast(expr, dtype)


def _nestor_function(expr: sympy.Basic):
    """The Nestor function of the sympy function ``expr`` (sin, cos, ...), where this tree has one."""
    from .. import functions, intrinsics

    name = next((n for n, f in _SYMPY_FUNCTIONS.items() if f is type(expr)), None)
    if not name or len(expr.args) != 1:
        return None
    return getattr(functions, name, None) or getattr(intrinsics, name, None)  # cos, sinh, ... are intrinsics


class _FromSympy:
    """A sympy expression back as a Nestor expression; numbers take the type of their partner."""

    def __init__(self, atoms: dict, dtype: DType, who: str):
        self.atoms, self.dtype, self.who = atoms, dtype, who

    def __call__(self, expr: sympy.Basic) -> Expr:
        return as_expr(self.value(expr), self.dtype)

    def value(self, expr: sympy.Basic):
        """A Nestor expression, or a Python number where ``expr`` is a number."""
        if expr is sympy.true or expr is sympy.false:
            return const(bool(expr), DType.BOOL)
        if expr.is_Number:
            return int(expr) if expr.is_Integer else float(expr)
        if expr.is_Symbol:
            if expr not in self.atoms:
                self.refuse(expr)
            return self.atoms[expr]
        if isinstance(expr, sympy.Add):
            return fold(lambda a, b: binary(BinaryOp.ADD, a, b), self.operands(expr.args))
        if isinstance(expr, sympy.Mul):
            return self.product(expr)
        if isinstance(expr, sympy.Pow):
            return self.power(expr)
        return self.function(expr)

    def operands(self, args) -> list:
        # numbers last, so that each takes the type of an expression beside it
        return sorted((self.value(a) for a in args), key=lambda v: not isinstance(v, Expr))

    def product(self, expr: sympy.Mul):
        coefficient, rest = expr.as_coeff_Mul()
        if coefficient == -1:
            return unary(UnaryOp.NEG, as_expr(self.value(rest), self.dtype))
        return fold(lambda a, b: binary(BinaryOp.MUL, a, b), self.operands(expr.args))

    def power(self, expr: sympy.Pow):
        base, exponent = self.value(expr.base), expr.exp
        if exponent == sympy.Rational(1, 2):
            return sqrt(base)
        if exponent == sympy.Rational(-1, 2):
            return binary(BinaryOp.DIV, 1.0, sqrt(base))
        if exponent.is_Integer and 1 <= abs(int(exponent)) <= 4:
            positive = fold(lambda a, b: binary(BinaryOp.MUL, a, b), [base] * abs(int(exponent)))
            return positive if exponent > 0 else binary(BinaryOp.DIV, 1.0, positive)
        return power(base, self.value(exponent))

    def function(self, expr: sympy.Basic):
        if isinstance(expr, sympy.Piecewise):
            return self.piecewise(expr)
        args = [self.value(a) for a in expr.args]
        match expr:
            case sympy.exp():
                return exp(args[0])
            case sympy.log():
                return log(args[0])
            case sympy.tanh():
                return tanh(args[0])
            case sympy.Abs():
                return nabs(args[0])
            case sympy.Function() if _nestor_function(expr) is not None:
                return _nestor_function(expr)(args[0])
            case _Sigmoid():
                return sigmoid(args[0])
            case sympy.sign():
                x, one, zero = as_expr(args[0], self.dtype), const(1.0, self.dtype), const(0.0, self.dtype)
                return if_then_else(x > 0, one, if_then_else(x < 0, -one, zero))
            case sympy.Heaviside():
                x, one, zero = as_expr(args[0], self.dtype), const(1.0, self.dtype), const(0.0, self.dtype)
                return if_then_else(x > 0, one, if_then_else(x < 0, zero, const(0.5, self.dtype)))
            case sympy.Max() | sympy.Min():
                pick = maximum if isinstance(expr, sympy.Max) else minimum
                return fold(pick, sorted(args, key=lambda v: not isinstance(v, Expr)))
            case sympy.And() | sympy.Or():
                op = BinaryOp.AND if isinstance(expr, sympy.And) else BinaryOp.OR
                return fold(lambda a, b: binary(op, a, b), args)
            case sympy.Not():
                return unary(UnaryOp.NOT, args[0])
            case sympy.core.relational.Relational():
                op = next(op for op, cls in _RELATIONS.items() if isinstance(expr, cls))
                return binary(op, args[0], args[1])
        self.refuse(expr)

    def piecewise(self, expr: sympy.Piecewise):
        result = None
        for value, cond in reversed(expr.args):
            if cond is sympy.true:
                result = as_expr(self.value(value), self.dtype)
                continue
            chosen = as_expr(self.value(value), self.dtype)
            result = if_then_else(self.value(cond), chosen, const(0.0, self.dtype) if result is None else result)
        return result

    def refuse(self, expr: sympy.Basic):
        raise DefinitionError(
            f"gradient of {self.who}: the derivative contains {expr}, which Nestor has no expression for; "
            "write the body with + - * /, pow, max, min, exp, log, sqrt, tanh, sigmoid, abs and if_then_else")
