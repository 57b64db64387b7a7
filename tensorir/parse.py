"""The string form of compute: ``compute("C[i,j] = sum(A[i,k] * B[j,k])", A=A, B=B)``.

Grammar, loosest operators first::

    definition := NAME "[" NAME ("," NAME)* "]" "=" expr
    expr       := expr "|" expr  |  expr "&" expr  |  arith CMP arith  |  arith
    arith      := arith ("+" | "-") term  |  term
    term       := term ("*" | "/" | "//" | "%") unary  |  unary
    unary      := "-" unary  |  atom
    atom       := NUMBER | NAME | NAME "[" expr ("," expr)* "]" | NAME "(" args ")" | "(" expr ")"

Unlike Python, ``&`` and ``|`` bind more loosely than comparisons, so ``y + r >= 1 & y + r < 33``
needs no parentheses; comparisons do not chain. The indices on the left side are the output
axes. Every other index is a reduction index and must sit inside a reducer (``sum``, ``max``,
``min``, each with one argument), which reduces over every such index of its argument. The
ranges of all indices are inferred from the operand shapes (see :class:`_RangeInference`)
unless pinned with ``ranges={"y": 54}``.
"""

from __future__ import annotations

import contextlib
import operator
import re
from dataclasses import dataclass, field

import numpy as np

from . import functions
from .dtypes import INDEX
from .errors import DefinitionError
from .expr import IterKind, IterVar, Var, as_expr
from .intmath import as_int
from .isl_bridge import RangeInference
from .tensor import MAX_DEPTH, Tensor, make_compute, reduce_axis

_TOKEN = re.compile(r"(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_]\w*)"
                    r"|(?P<op>//|<=|>=|==|!=|[-+*/%<>()\[\],=&|])")
_COMPARE = 3
_PRECEDENCE = {"|": 1, "&": 2, "<": _COMPARE, "<=": _COMPARE, ">": _COMPARE, ">=": _COMPARE,
               "==": _COMPARE, "!=": _COMPARE, "+": 4, "-": 4, "*": 5, "/": 5, "//": 5, "%": 5}
_OPERATORS = {"|": operator.or_, "&": operator.and_, "<": operator.lt, "<=": operator.le,
              ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
              "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
              "//": operator.floordiv, "%": operator.mod}
_FUNCTIONS = {"exp": (functions.exp, 1), "log": (functions.log, 1), "sqrt": (functions.sqrt, 1),
              "tanh": (functions.tanh, 1), "abs": (functions.abs, 1),
              "sigmoid": (functions.sigmoid, 1), "maximum": (functions.maximum, 2),
              "minimum": (functions.minimum, 2), "power": (functions.power, 2),
              "if_then_else": (functions.if_then_else, 3)}
_REDUCERS = {"sum": functions.sum, "max": functions.max, "min": functions.min}


def _pointer(text: str, pos: int) -> str:
    """The line of ``text`` holding ``pos`` and a caret under it."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start:] if end < 0 else text[start:end]
    return f"    {line}\n    {' ' * (pos - start)}^"


def _located(message: str, text: str, pos: int) -> DefinitionError:
    return DefinitionError(f"{message}\n{_pointer(text, pos)}")


# ---------------------------------------------------------------------------------------------
# Tokens and syntax tree


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "op" or "end"
    text: str
    pos: int

    def describe(self) -> str:
        return "the end of the text" if self.kind == "end" else f"`{self.text}`"


def _tokenize(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            tokens.append(_Token("end", "", pos))
            return tokens
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _located(f"compute: syntax error: unexpected character {text[pos]!r}", text, pos)
        tokens.append(_Token(match.lastgroup or "op", match.group(), pos))
        pos = match.end()


@dataclass(frozen=True, eq=False)
class _Node:
    start: int
    end: int


@dataclass(frozen=True, eq=False)
class _Number(_Node):
    value: int | float


@dataclass(frozen=True, eq=False)
class _Name(_Node):
    name: str


@dataclass(frozen=True, eq=False)
class _Access(_Node):
    name: str
    indices: tuple[_Node, ...]


@dataclass(frozen=True, eq=False)
class _Call(_Node):
    name: str
    args: tuple[_Node, ...]


@dataclass(frozen=True, eq=False)
class _BinaryOp(_Node):
    op: str
    a: _Node
    b: _Node
    at: int  # where the operator is


@dataclass(frozen=True, eq=False)
class _Negate(_Node):
    a: _Node


@dataclass(frozen=True)
class _Definition:
    output: _Token
    indices: tuple[_Token, ...]
    rhs: _Node


#: per associative operator, the operators of its level that may follow it in a regrouped chain
_REGROUP = {"+": frozenset("+-"), "*": frozenset("*"), "&": frozenset("&"), "|": frozenset("|")}
#: chains up to this many operators keep Python's left-to-right grouping (as the lambda form does)
_LEFT_DEEP = 32


def _chain(operands: list[_Node], ops: list[_Token]) -> _Node:
    """The left-associative chain ``o0 op0 o1 op1 o2 ...`` of one precedence level. A long chain is
    regrouped into a balanced tree wherever the operators allow it (at a ``+`` followed only by
    ``+``/``-``, at a ``*`` followed only by ``*``; a subtraction becomes the addition of a
    negation, exactly), so that a 3,000-term sum is an expression of depth ~40, not 3,000, for
    every recursive pass downstream."""
    if len(ops) > _LEFT_DEEP:
        texts = {op.text for op in ops}
        if "-" in texts and texts <= {"+", "-"}:  # x - y is exactly x + (-y), which regroups
            operands = [operands[0]] + [_Negate(o.start, o.end, o) if op.text == "-" else o
                                        for op, o in zip(ops, operands[1:])]
            ops = [_Token(op.kind, "+", op.pos) for op in ops]
        split = _split_point(ops)
        if split is not None:
            left, right = _chain(operands[:split + 1], ops[:split]), _chain(operands[split + 1:], ops[split + 1:])
            return _BinaryOp(left.start, right.end, ops[split].text, left, right, ops[split].pos)
    node = operands[0]
    for token, right in zip(ops, operands[1:]):
        node = _BinaryOp(node.start, right.end, token.text, node, right, token.pos)
    return node


def _split_point(ops: list[_Token]) -> int | None:
    """The associative operator nearest the middle after which every operator may be regrouped."""
    best, middle, after = None, len(ops) // 2, set()
    for position in range(len(ops) - 1, -1, -1):
        text = ops[position].text
        nearer = best is None or abs(position - middle) < abs(best - middle)
        if text in _REGROUP and after <= _REGROUP[text] and nearer:
            best = position
        after.add(text)
    return best


class _Parser:
    """Recursive descent with precedence climbing over the token list."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.at = 0
        self.nesting = 0

    def error(self, token: _Token, message: str) -> DefinitionError:
        return _located(f"compute: syntax error: {message}", self.text, token.pos)

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        if token.kind != "end":
            self.at += 1
        return token

    def accept(self, op: str) -> _Token | None:
        token = self.peek()
        return self.take() if token.kind == "op" and token.text == op else None

    def expect(self, op: str, context: str) -> _Token:
        token = self.accept(op)
        if token is None:
            raise self.error(self.peek(), f"expected `{op}` {context}, found {self.peek().describe()}")
        return token

    def definition(self) -> _Definition:
        output = self.take()
        if output.kind != "name":
            raise self.error(output, "a definition starts with the output, like C[i, j] = ...")
        self.expect("[", f"after the output name {output.text}")
        indices = [self.output_index(output)]
        while self.accept(","):
            indices.append(self.output_index(output))
        close = self.expect("]", f"to close the indices of {output.text}")
        self.expect("=", f"after the left side {self.text[output.pos:close.pos + 1]}")
        rhs = self.expression()
        if self.peek().kind != "end":
            raise self.error(self.peek(), f"unexpected {self.peek().describe()} after the end of "
                             "the expression")
        return _Definition(output, tuple(indices), rhs)

    def output_index(self, output: _Token) -> _Token:
        token = self.take()
        follow = self.peek()
        if token.kind != "name" or follow.text not in (",", "]"):
            bad = token if token.kind != "name" else follow
            raise self.error(bad, f"the left side indexes {output.text} with bare index names, "
                             f"like {output.text}[i, j]")
        return token

    def expression(self, min_precedence: int = 1) -> _Node:
        operands, ops = [self.unary()], []
        while True:
            token = self.peek()
            precedence = _PRECEDENCE.get(token.text) if token.kind == "op" else None
            if precedence is None or precedence < min_precedence:
                return _chain(operands, ops)
            if ops and precedence != _PRECEDENCE[ops[-1].text]:
                operands, ops = [_chain(operands, ops)], []
            self.take()
            operands.append(self.expression(precedence + 1))
            ops.append(token)
            follow = self.peek()
            if precedence == _COMPARE and _PRECEDENCE.get(follow.text) == _COMPARE:
                raise self.error(follow, "comparisons do not chain; combine them with &, like "
                                 "(a < b) & (b < c)")

    def unary(self) -> _Node:
        minus = self.accept("-")
        if minus is None:
            return self.atom()
        with self.nested(minus):
            operand = self.unary()
        return _Negate(minus.pos, operand.end, operand)

    @contextlib.contextmanager
    def nested(self, token: _Token):
        """One level of parentheses, brackets, calls or negations, at most MAX_DEPTH deep."""
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.error(token, f"the expression nests more than {MAX_DEPTH} levels of parentheses, calls "
                             "or negations; split it into several computes")
        try:
            yield
        finally:
            self.nesting -= 1

    def atom(self) -> _Node:
        with self.nested(self.peek()):
            return self._atom()

    def _atom(self) -> _Node:
        token = self.take()
        end = token.pos + len(token.text)
        if token.kind == "number":
            value = int(token.text) if token.text.isdigit() else float(token.text)
            return _Number(token.pos, end, value)
        if token.kind == "name":
            if self.accept("["):
                items = self.items("]", f"in the access to {token.text}")
                return _Access(token.pos, self.tokens[self.at - 1].pos + 1, token.text, items)
            if self.accept("("):
                items = self.items(")", f"in the call of {token.text}")
                return _Call(token.pos, self.tokens[self.at - 1].pos + 1, token.text, items)
            return _Name(token.pos, end, token.text)
        if token.text == "(":
            inner = self.expression()
            self.expect(")", "to close `(`")
            return inner
        raise self.error(token, f"expected a number, a name or `(`, found {token.describe()}")

    def items(self, close: str, context: str) -> tuple[_Node, ...]:
        if close == ")" and self.accept(")"):
            return ()
        items = [self.expression()]
        while not self.accept(close):
            if not self.accept(","):
                found = self.peek()
                raise self.error(found, f"expected `,` or `{close}` {context}, found {found.describe()}")
            items.append(self.expression())
        return tuple(items)


# ---------------------------------------------------------------------------------------------
# Names: operands, functions, indices


@dataclass
class _Uses:
    """What the right side refers to, in text order."""

    #: every access with whether it sits in a branch of if_then_else
    accesses: list[tuple[_Access, bool]] = field(default_factory=list)
    #: index name -> its uses, each with the reducers around it
    indices: dict[str, list[tuple[_Name, tuple[_Call, ...]]]] = field(default_factory=dict)
    #: every call of sum, max or min
    reducers: list[_Call] = field(default_factory=list)


class _Scope:
    """The text, the output name and the operands of one definition; located errors."""

    def __init__(self, text: str, name: str, operands: dict):
        self.text, self.name, self.operands = text, name, operands

    def error(self, pos: int, message: str) -> DefinitionError:
        return _located(f"compute {self.name}: {message}", self.text, pos)

    def available(self) -> str:
        if not self.operands:
            return "no operands were passed"
        described = [f"{n} ({'tensor' if isinstance(v, Tensor) else 'constant'})"
                     for n, v in self.operands.items()]
        return "the operands passed are " + ", ".join(described)

    def check_access(self, node: _Access) -> None:
        value = self.operands.get(node.name)
        if value is None:
            raise self.error(node.start, f"unknown tensor `{node.name}`; {self.available()}; pass "
                             f"it as compute(..., {node.name}={node.name})")
        if not isinstance(value, Tensor):
            raise self.error(node.start, f"`{node.name}` is the constant {value!r}, not a tensor; "
                             "use it without indices")

    def check_call(self, node: _Call) -> None:
        if node.name in _REDUCERS:
            arity, hint = 1, (f"; for the elementwise {node.name}imum of two values use "
                              f"{node.name}imum(a, b)" if node.name != "sum" else "")
        elif node.name in _FUNCTIONS:
            arity, hint = _FUNCTIONS[node.name][1], ""
        else:
            known = ", ".join(_FUNCTIONS)
            raise self.error(node.start, f"unknown function `{node.name}`; the functions are "
                             f"{known}, and the reducers sum, max, min")
        if len(node.args) != arity:
            raise self.error(node.start, f"{node.name} takes {arity} argument"
                             f"{'s' if arity > 1 else ''}, got {len(node.args)}{hint}")

    def collect(self, node: _Node, uses: _Uses, reducers: tuple = (), branch: bool = False) -> None:
        """Check the names under ``node`` and record its accesses and index uses in ``uses``."""
        match node:
            case _Name(name=name) if name in self.operands:
                if isinstance(self.operands[name], Tensor):
                    raise self.error(node.start, f"`{name}` is a tensor; index it, like {name}[...]")
            case _Name(name=name):
                uses.indices.setdefault(name, []).append((node, reducers))
            case _Access(indices=indices):
                self.check_access(node)
                uses.accesses.append((node, branch))
                for index in indices:
                    self.collect(index, uses, reducers, branch)
            case _Call(name=name, args=args):
                self.check_call(node)
                inner = reducers
                if name in _REDUCERS:
                    uses.reducers.append(node)
                    inner = (*reducers, node)
                for position, arg in enumerate(args):
                    in_branch = branch or (name == "if_then_else" and position > 0)
                    self.collect(arg, uses, inner, in_branch)
            case _BinaryOp(a=a, b=b):
                self.collect(a, uses, reducers, branch)
                self.collect(b, uses, reducers, branch)
            case _Negate(a=a):
                self.collect(a, uses, reducers, branch)


def _roles(scope: _Scope, definition: _Definition, uses: _Uses) -> dict[_Call, list[str]]:
    """Check where indices are used; return the indices each reducer reduces over."""
    lhs = [token.text for token in definition.indices]
    for position, token in enumerate(definition.indices):
        if token.text in lhs[:position]:
            raise scope.error(token.pos, f"the index {token.text} appears twice on the left side; "
                              "each output dimension needs its own index")
        if token.text in scope.operands:
            raise scope.error(token.pos, f"`{token.text}` is both an index on the left side and an "
                              "operand; rename one of them")
    axes: dict[_Call, list[str]] = {}
    for name, occurrences in uses.indices.items():
        if name in lhs:
            continue
        if not any(reducers for _, reducers in occurrences):
            node = occurrences[0][0]
            raise scope.error(node.start, f"index `{name}` is neither on the left side nor inside a "
                              "reducer; add it to the left side, wrap its use in sum(...), max(...) "
                              f"or min(...), or, if it is a constant, pass it: compute(..., {name}=...)")
        for _, reducers in occurrences:
            for reducer in reducers:
                axes.setdefault(reducer, [])
                if name not in axes[reducer]:
                    axes[reducer].append(name)
    return axes


def _check_reducers(scope: _Scope, uses: _Uses, axes: dict[_Call, list[str]]) -> None:
    for reducer in uses.reducers:
        if reducer not in axes:
            raise scope.error(reducer.start, f"{reducer.name}(...) has no index to reduce over: "
                              "every index in it is on the left side, and a reducer reduces over "
                              "the others")


class _Builder:
    """Builds expressions from syntax with the public expression API, as a lambda would."""

    def __init__(self, scope: _Scope, env: dict, reducer_axes: dict | None = None):
        self.scope, self.env, self.reducer_axes = scope, env, reducer_axes

    def attempt(self, pos: int, make):
        try:
            return make()
        except DefinitionError as error:
            raise self.scope.error(pos, str(error)) from None
        except (TypeError, ZeroDivisionError) as error:
            raise self.scope.error(pos, f"cannot evaluate this: {error}") from None

    def build(self, node: _Node):
        match node:
            case _Number(value=value):
                return value
            case _Name(name=name):
                return self.env[name]
            case _Access(name=name, indices=indices):
                values = tuple(self.build(index) for index in indices)
                return self.attempt(node.start, lambda: self.env[name][values])
            case _BinaryOp(op=op, a=a, b=b):
                left, right = self.build(a), self.build(b)
                return self.attempt(node.at, lambda: _OPERATORS[op](left, right))
            case _Negate(a=a):
                value = self.build(a)
                return self.attempt(node.start, lambda: -value)
            case _Call(name=name, args=args):
                values = [self.build(arg) for arg in args]
                if name not in _REDUCERS:
                    return self.attempt(node.start, lambda: _FUNCTIONS[name][0](*values))
                if self.reducer_axes is None:
                    raise self.scope.error(node.start, f"{name}(...) cannot be used in a subscript")
                axes = self.reducer_axes[node]
                return self.attempt(node.start, lambda: _REDUCERS[name](values[0], axis=axes))
        raise AssertionError(node)


# ---------------------------------------------------------------------------------------------
# Entry point


def _check_arguments(name: str, ranges, operands: dict) -> tuple[dict, dict[str, int]]:
    clean = {}
    for key, value in operands.items():
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, (Tensor, int, float)):
            raise DefinitionError(f"compute {name}: operand {key}={value!r} must be a tensor or a "
                                  "Python number")
        clean[key] = value
    ranges = {key: as_int(extent) for key, extent in dict(ranges or {}).items()}
    for key, extent in ranges.items():
        if isinstance(extent, bool) or not isinstance(extent, int) or extent <= 0:
            raise DefinitionError(f"compute {name}: ranges={{{key!r}: {extent!r}}}: a range is a "
                                  "positive int extent")
    return clean, ranges


def compute_from_string(text: str, name: str | None = None, ranges: dict[str, int] | None = None,
                        **operands) -> Tensor:
    """The tensor defined by ``text``, like ``"C[i,j] = sum(A[i,k] * B[j,k])"``.

    Parameters
    ----------
    text
        ``Out[i, ...] = expression``; see the module docstring for the grammar.
    name
        The name of the tensor; by default the name on the left side.
    ranges
        Extents that override inference, like ``{"y": 54}``; accesses must stay in bounds.
    **operands
        The tensors and named constants the expression uses, like ``A=A, eps=1e-5``.

    Returns
    -------
    Tensor
        The same compute definition as the lambda form builds.

    Raises
    ------
    DefinitionError
        On a syntax error (with a caret under it), an unknown name, a range that cannot be
        inferred or is inconsistent, or an access that may go out of bounds.
    """
    if not isinstance(text, str):
        raise DefinitionError(f"compute: the definition must be a string, got {type(text).__name__}")
    definition = _Parser(text).definition()
    name = name or definition.output.text
    _check_depth(text, name, definition.rhs)
    operands, pinned = _check_arguments(name, ranges, operands)
    scope = _Scope(text, name, operands)
    uses = _Uses()
    scope.collect(definition.rhs, uses)
    reducer_axes = _roles(scope, definition, uses)
    _check_reducers(scope, uses, reducer_axes)
    extents = _infer(scope, definition, uses, pinned)
    lhs = [token.text for token in definition.indices]
    axis = tuple(IterVar(Var(n, INDEX), 0, extents[n], IterKind.DATA_PAR) for n in lhs)
    reduce = {n: reduce_axis(extents[n], n) for n in uses.indices if n not in lhs}
    env = {**operands, **dict(zip(lhs, axis)), **reduce}
    axes = {call: [reduce[n] for n in names] for call, names in reducer_axes.items()}
    body = _Builder(scope, env, axes).build(definition.rhs)
    return make_compute(name, axis, as_expr(body))


def _infer(scope: _Scope, definition: _Definition, uses: _Uses, pinned: dict[str, int]) -> dict:
    names = [token.text for token in definition.indices]
    names += [n for n in uses.indices if n not in names]
    for key in pinned:
        if key not in names:
            raise DefinitionError(f"compute {scope.name}: ranges names {key!r}, which is not an "
                                  f"index of the definition (its indices are {', '.join(names)})")
    variables = {name: Var(name, INDEX) for name in names}
    inference = RangeInference(f"compute {scope.name}", list(variables.values()),
                               {variables[key]: extent for key, extent in pinned.items()},
                               locate=lambda pos, message: scope.error(pos, message))
    builder = _Builder(scope, {**scope.operands, **variables})
    for node, in_branch in uses.accesses:
        if not in_branch:
            inference.add(builder.build(node), [index.start for index in node.indices])
    extents = inference.run()
    return {name: extents[var] for name, var in variables.items()}


def _check_depth(text: str, name: str, root: _Node) -> None:
    """Refuse a syntax tree deeper than MAX_DEPTH (a long chain of ``/`` cannot be regrouped), before
    any recursive pass walks it."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _located(f"compute {name}: the expression is more than {MAX_DEPTH} operations deep here (a chain "
                           "of -, /, //, % or comparisons, or nested calls); split it into several computes, or "
                           "write long sums and products as chains of + or *, which are regrouped", text, node.start)
        match node:
            case _BinaryOp(a=a, b=b):
                stack += [(a, depth + 1), (b, depth + 1)]
            case _Negate(a=a):
                stack.append((a, depth + 1))
            case _Access(indices=items) | _Call(args=items):
                stack += [(item, depth + 1) for item in items]
