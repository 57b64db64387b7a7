"""The syntax of the string form of compute: tokens, the syntax tree and the parser.

Grammar, loosest operators first::

    definition := NAME ["[" [NAME ("," NAME)*] "]"] "=" expr
                  (``s = ...`` and ``s[] = ...`` define a rank-0 tensor)
    expr       := expr "|" expr  |  expr "&" expr  |  arith CMP arith  |  arith
    arith      := arith ("+" | "-") term  |  term
    term       := term ("*" | "/" | "//" | "%") unary  |  unary
    unary      := "-" unary  |  atom
    atom       := NUMBER | NAME | NAME "[" [expr ("," expr)*] "]" | NAME "(" args ")" | "(" expr ")"
    args       := (expr ("," expr)*)? ("," NAME "=" expr)*     # keywords: sum(x, where=c, init=v)

Unlike Python, ``&`` and ``|`` bind more loosely than comparisons, so ``y + r >= 1 & y + r < 33``
needs no parentheses; comparisons do not chain. Long associative chains are regrouped into
balanced trees (:func:`chain`). What the names mean (indices, operands, reducers, ranges) is
:mod:`tensorir.parse`'s business.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from .errors import DefinitionError
from .tensor import MAX_DEPTH

_TOKEN = re.compile(r"(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_]\w*)"
                    r"|(?P<op>//|<=|>=|==|!=|[-+*/%<>()\[\],=&|])")
_COMPARE = 3
_PRECEDENCE = {"|": 1, "&": 2, "<": _COMPARE, "<=": _COMPARE, ">": _COMPARE, ">=": _COMPARE,
               "==": _COMPARE, "!=": _COMPARE, "+": 4, "-": 4, "*": 5, "/": 5, "//": 5, "%": 5}


def pointer(text: str, pos: int) -> str:
    """The line of ``text`` holding ``pos`` and a caret under it."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start:] if end < 0 else text[start:end]
    return f"    {line}\n    {' ' * (pos - start)}^"


def located(message: str, text: str, pos: int) -> DefinitionError:
    return DefinitionError(f"{message}\n{pointer(text, pos)}")


# ---------------------------------------------------------------------------------------------
# Tokens and syntax tree


@dataclass(frozen=True)
class Token:
    kind: str  # "number", "name", "op" or "end"
    text: str
    pos: int

    def describe(self) -> str:
        return "the end of the text" if self.kind == "end" else f"`{self.text}`"


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            tokens.append(Token("end", "", pos))
            return tokens
        match = _TOKEN.match(text, pos)
        if match is None:
            raise located(f"compute: syntax error: unexpected character {text[pos]!r}", text, pos)
        tokens.append(Token(match.lastgroup or "op", match.group(), pos))
        pos = match.end()


@dataclass(frozen=True, eq=False)
class Node:
    start: int
    end: int


@dataclass(frozen=True, eq=False)
class Number(Node):
    value: int | float


@dataclass(frozen=True, eq=False)
class Name(Node):
    name: str


@dataclass(frozen=True, eq=False)
class Access(Node):
    name: str
    indices: tuple[Node, ...]


@dataclass(frozen=True, eq=False)
class Call(Node):
    name: str
    args: tuple[Node, ...]
    #: ``name=value`` arguments after the positional ones (a reducer's ``where=`` and ``init=``)
    keywords: tuple[tuple[Token, Node], ...] = ()


@dataclass(frozen=True, eq=False)
class BinaryNode(Node):
    op: str
    a: Node
    b: Node
    at: int  # where the operator is


@dataclass(frozen=True, eq=False)
class Negate(Node):
    a: Node


@dataclass(frozen=True)
class Definition:
    output: Token
    indices: tuple[Token, ...]
    rhs: Node


#: per associative operator, the operators of its level that may follow it in a regrouped chain
_REGROUP = {"+": frozenset("+-"), "*": frozenset("*"), "&": frozenset("&"), "|": frozenset("|")}
#: chains up to this many operators keep Python's left-to-right grouping (as the lambda form does)
_LEFT_DEEP = 32


def _chain(operands: list[Node], ops: list[Token]) -> Node:
    """The left-associative chain ``o0 op0 o1 op1 o2 ...`` of one precedence level. A long chain is
    regrouped into a balanced tree wherever the operators allow it (at a ``+`` followed only by
    ``+``/``-``, at a ``*`` followed only by ``*``; a subtraction becomes the addition of a
    negation, exactly), so that a 3,000-term sum is an expression of depth ~40, not 3,000, for
    every recursive pass downstream."""
    if len(ops) > _LEFT_DEEP:
        texts = {op.text for op in ops}
        if "-" in texts and texts <= {"+", "-"}:  # x - y is exactly x + (-y), which regroups
            operands = [operands[0]] + [Negate(o.start, o.end, o) if op.text == "-" else o
                                        for op, o in zip(ops, operands[1:])]
            ops = [Token(op.kind, "+", op.pos) for op in ops]
        split = _split_point(ops)
        if split is not None:
            left, right = _chain(operands[:split + 1], ops[:split]), _chain(operands[split + 1:], ops[split + 1:])
            return BinaryNode(left.start, right.end, ops[split].text, left, right, ops[split].pos)
    node = operands[0]
    for token, right in zip(ops, operands[1:]):
        node = BinaryNode(node.start, right.end, token.text, node, right, token.pos)
    return node


def _split_point(ops: list[Token]) -> int | None:
    """The associative operator nearest the middle after which every operator may be regrouped."""
    best, middle, after = None, len(ops) // 2, set()
    for position in range(len(ops) - 1, -1, -1):
        text = ops[position].text
        nearer = best is None or abs(position - middle) < abs(best - middle)
        if text in _REGROUP and after <= _REGROUP[text] and nearer:
            best = position
        after.add(text)
    return best


class Parser:
    """Recursive descent with precedence climbing over the token list."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.at = 0
        self.nesting = 0

    def error(self, token: Token, message: str) -> DefinitionError:
        return located(f"compute: syntax error: {message}", self.text, token.pos)

    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        if token.kind != "end":
            self.at += 1
        return token

    def accept(self, op: str) -> Token | None:
        token = self.peek()
        return self.take() if token.kind == "op" and token.text == op else None

    def expect(self, op: str, context: str) -> Token:
        token = self.accept(op)
        if token is None:
            raise self.error(self.peek(), f"expected `{op}` {context}, found {self.peek().describe()}")
        return token

    def definition(self) -> Definition:
        output = self.take()
        if output.kind != "name":
            raise self.error(output, "a definition starts with the output, like C[i, j] = ...")
        indices = self.output_indices(output)
        self.expect("=", f"after the left side {self.text[output.pos:self.tokens[self.at - 1].pos + 1]}")
        rhs = self.expression()
        if self.peek().kind != "end":
            raise self.error(self.peek(), f"unexpected {self.peek().describe()} after the end of "
                             "the expression")
        return Definition(output, tuple(indices), rhs)

    def output_indices(self, output: Token) -> list[Token]:
        """The bare index names of the left side; none for ``s = ...`` or ``s[] = ...`` (rank 0)."""
        if self.peek().text == "=":
            return []
        self.expect("[", f"or `=` after the output name {output.text}")
        if self.accept("]"):
            return []
        indices = [self.output_index(output)]
        while self.accept(","):
            indices.append(self.output_index(output))
        self.expect("]", f"to close the indices of {output.text}")
        return indices

    def output_index(self, output: Token) -> Token:
        token = self.take()
        follow = self.peek()
        if token.kind != "name" or follow.text not in (",", "]"):
            bad = token if token.kind != "name" else follow
            raise self.error(bad, f"the left side indexes {output.text} with bare index names, "
                             f"like {output.text}[i, j]")
        return token

    def expression(self, min_precedence: int = 1) -> Node:
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

    def unary(self) -> Node:
        minus = self.accept("-")
        if minus is None:
            return self.atom()
        with self.nested(minus):
            operand = self.unary()
        return Negate(minus.pos, operand.end, operand)

    @contextlib.contextmanager
    def nested(self, token: Token):
        """One level of parentheses, brackets, calls or negations, at most MAX_DEPTH deep."""
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.error(token, f"the expression nests more than {MAX_DEPTH} levels of parentheses, calls "
                             "or negations; split it into several computes")
        try:
            yield
        finally:
            self.nesting -= 1

    def atom(self) -> Node:
        with self.nested(self.peek()):
            return self._atom()

    def _atom(self) -> Node:
        token = self.take()
        end = token.pos + len(token.text)
        if token.kind == "number":
            value = int(token.text) if token.text.isdigit() else float(token.text)
            return Number(token.pos, end, value)
        if token.kind == "name":
            if self.accept("["):
                items = self.items("]", f"in the access to {token.text}")
                return Access(token.pos, self.tokens[self.at - 1].pos + 1, token.text, items)
            if self.accept("("):
                items, keywords = self.call_items(token.text)
                return Call(token.pos, self.tokens[self.at - 1].pos + 1, token.text, items, keywords)
            return Name(token.pos, end, token.text)
        if token.text == "(":
            inner = self.expression()
            self.expect(")", "to close `(`")
            return inner
        raise self.error(token, f"expected a number, a name or `(`, found {token.describe()}")

    def keyword(self) -> Token | None:
        """The ``name`` of a ``name=value`` argument (taken with its ``=``), or None."""
        if self.peek().kind == "name" and self.tokens[self.at + 1].text == "=":
            name = self.take()
            self.take()
            return name
        return None

    def call_items(self, callee: str) -> tuple[tuple[Node, ...], tuple[tuple[Token, Node], ...]]:
        """The positional and the keyword arguments of a call, after its ``(``."""
        context = f"in the call of {callee}"
        if self.accept(")"):
            return (), ()
        items: list[Node] = []
        keywords: list[tuple[Token, Node]] = []
        while True:
            name = self.keyword()
            if name is not None:
                if any(name.text == seen.text for seen, _ in keywords):
                    raise self.error(name, f"{name.text}= is given twice {context}")
                keywords.append((name, self.expression()))
            elif keywords:
                raise self.error(self.peek(), f"a positional argument follows a keyword argument {context}")
            else:
                items.append(self.expression())
            if self.accept(")"):
                return tuple(items), tuple(keywords)
            if not self.accept(","):
                found = self.peek()
                raise self.error(found, f"expected `,` or `)` {context}, found {found.describe()}")

    def items(self, close: str, context: str) -> tuple[Node, ...]:
        if self.accept(close):  # f() calls with no argument, s[] reads a rank-0 tensor
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
