"""What printers of lowered IR as source text share: fresh names, indented lines, expressions
with each language's precedence (parentheses only where needed), and the statement structure
(loops, guards, stores, sequences).

A language subclasses :class:`SourcePrinter` and fills in its tables (``INFIX``: binary
operators written infix, with their precedence; ``RESERVED``) and the hooks for what it spells
its own way: literals, casts, calls, choices, the operators it writes as calls, the loop header
and the block syntax. :mod:`backends.cuda.cstyle` prints C (CUDA), :mod:`backends.interp.pysource`
prints Python (the reference interpreter).
"""

from __future__ import annotations

from tensorir.analysis import reads_memory, shared_subexpressions
from tensorir.buffer import Buffer
from tensorir.errors import CodegenError
from tensorir.expr import (
    Binary,
    BinaryOp,
    BufferLoad,
    Call,
    Cast,
    CheckedIndex,
    Const,
    Expr,
    Select,
    Unary,
    UnaryOp,
    Var,
)
from tensorir.names import identifier
from tensorir.stmt import Allocate, Evaluate, For, IfThenElse, Seq, Stmt, Store, While
from tensorir.visitor import _children, walk

#: precedence levels (higher binds tighter); a language maps its operators onto them
ATOM, UNARY, MUL, ADD, REL, EQ, NOT, AND, OR, COND = 16, 14, 13, 12, 10, 9, 7, 5, 4, 3


class SourcePrinter:
    """Prints lowered IR as lines of source, one instance per function (or kernel)."""

    #: what the language calls itself in error messages
    language = "source"
    indent = "  "
    #: binary operators written infix: op -> (symbol, precedence)
    INFIX: dict[BinaryOp, tuple[str, int]] = {}
    #: precedences whose operators do not chain: a left operand of the same level is wrapped too
    NON_ASSOCIATIVE: frozenset[int] = frozenset({REL, EQ})
    #: names that generated code must not declare
    RESERVED: frozenset[str] = frozenset()
    #: what a name gets in front when it starts with a digit or one of RESERVED_PREFIXES
    NAME_PREFIX = "v_"
    RESERVED_PREFIXES: tuple[str, ...] = ("_",)
    #: ``(prefix text, precedence)`` of negation and logical not
    NEG, NOT_ = ("-", UNARY), ("!", UNARY)

    def __init__(self) -> None:
        self.names: dict[object, str] = {}
        self.taken: set[str] = set()
        self.lines: list[str] = []
        #: text to print instead of a node (a vector lane, a variable's value in one lane)
        self.overrides: dict[object, str] = {}

    def cannot(self, what: str) -> str:
        """The message of a CodegenError for a node this printer cannot write."""
        return f"cannot print {what} as {self.language}"

    # -- names and lines -------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A name of the language's own for ``hint``, not taken yet: no leading digit, none of
        the ``RESERVED_PREFIXES`` (those prefixed with ``NAME_PREFIX``), none of the ``RESERVED``."""
        base = identifier(hint, empty="v", prefix=self.NAME_PREFIX, reserved=self.RESERVED_PREFIXES)
        name, n = base, 1
        while name in self.taken or name in self.RESERVED:
            name = f"{base}_{n}"
            n += 1
        self.taken.add(name)
        return name

    def name(self, obj: Var | Buffer) -> str:
        if obj not in self.names:
            self.names[obj] = self.fresh(obj.name)
        return self.names[obj]

    def emit(self, text: str, depth: int) -> None:
        self.lines.append(self.indent * depth + text)

    # -- expressions -----------------------------------------------------------------------
    def expr(self, e: Expr) -> str:
        return self._expr(e)[0]

    def _wrap(self, e: Expr, parens_below: int) -> str:
        text, precedence = self._expr(e)
        return f"({text})" if precedence < parens_below else text

    def _expr(self, e: Expr) -> tuple[str, int]:
        override = self.overrides.get(e)
        if override is not None:
            return override, ATOM
        match e:
            case Var():
                return self.name(e), ATOM
            case Const():
                text = self.const(e)
                return text, (UNARY if text.startswith("-") else ATOM)
            case Binary(op=op) if op in self.INFIX:
                return self.infix(e, *self.INFIX[op])
            case Binary():
                return self.binary(e)
            case Unary(op=UnaryOp.NEG, a=a):
                text, precedence = self._expr(a)
                symbol, mine = self.NEG
                parens = precedence < mine or text.startswith("-")
                return (f"{symbol}({text})" if parens else f"{symbol}{text}"), mine
            case Unary(op=UnaryOp.NOT, a=a):
                symbol, mine = self.NOT_
                return f"{symbol}{self._wrap(a, mine)}", mine
            case Unary(op=UnaryOp.BIT_NOT, a=a):  # ~ is spelled alike in C and Python
                return f"~{self._wrap(a, UNARY)}", UNARY
            case Cast():
                return self.cast(e)
            case Select():
                return self.select(e)
            case Call(func=func, args=args):
                return self.call(func, args, e.dtype), ATOM
            case BufferLoad(buffer=buffer):
                return f"{self.name(buffer)}[{self.offset(e)}]", ATOM
            case CheckedIndex():
                return self.checked_index(e), ATOM
        raise CodegenError(self.cannot(f"expression {e}"))

    def infix(self, e: Binary, symbol: str, precedence: int) -> tuple[str, int]:
        left_min = precedence + 1 if precedence in self.NON_ASSOCIATIVE else precedence
        return f"{self._wrap(e.a, left_min)} {symbol} {self._wrap(e.b, precedence + 1)}", precedence

    def offset(self, access: BufferLoad | Store) -> str:
        """The element offset of an access: its flat index (see ``flatten_buffers``)."""
        (flat,) = access.indices
        return self.expr(flat)

    def const(self, node: Const) -> str:
        raise NotImplementedError

    def binary(self, e: Binary) -> tuple[str, int]:
        """A binary operator the language does not write infix."""
        raise CodegenError(self.cannot(f"operator {e.op.value}"))

    def cast(self, e: Cast) -> tuple[str, int]:
        raise NotImplementedError

    def select(self, e: Select) -> tuple[str, int]:
        raise NotImplementedError

    def call(self, func, args, dtype) -> str:
        raise NotImplementedError

    def checked_index(self, e: CheckedIndex) -> str:
        """A subscript checked when it runs (see :mod:`tensorir.access_guards`)."""
        raise CodegenError(self.cannot(f"the run-time check of {e}"))

    # -- shared subexpressions --------------------------------------------------------------
    def temporaries(self, roots: tuple[Expr, ...], depth: int) -> list[Expr]:
        """Temporaries, written before a statement, for the large subexpressions its expressions
        ``roots`` share (IR is a graph: printed as a tree, the text would grow exponentially with
        the depth of the sharing); the statement's text then names them. Only a subexpression
        the statement evaluates anyway, or one that cannot fail, is computed ahead: one under a
        choice (a ``Select`` branch, the right side of ``and``/``or``) that loads, divides or
        checks stays in its place."""
        shared = shared_subexpressions(roots)
        if not shared:
            return []
        always = _always_evaluated(roots)
        bound = []
        for node in shared:
            if node in self.overrides or not (node in always or _cannot_fail(node)):
                continue
            name = self.fresh("t")
            self.emit(self.temporary(name, self.expr(node), node), depth)
            self.overrides[node] = name
            bound.append(node)
        return bound

    def release(self, bound: list[Expr]) -> None:
        """The temporaries of a statement end with it: a later statement may run elsewhere."""
        for node in bound:
            del self.overrides[node]

    def temporary(self, name: str, text: str, node: Expr) -> str:
        """The line that computes a temporary."""
        raise NotImplementedError

    # -- statements ------------------------------------------------------------------------
    #: how a statement line ends (``;`` in C)
    terminator = ""

    def stmt(self, s: Stmt, depth: int) -> None:
        match s:
            case For():
                self.loop(s, depth)
            case Store(buffer=buffer, value=value):
                bound = self.temporaries((value, *s.indices, *(s.logical or ())), depth)
                self.emit(f"{self.name(buffer)}[{self.offset(s)}] = {self.expr(value)}{self.terminator}", depth)
                self.release(bound)
            case Allocate():
                self.allocate(s, depth)
            case Seq(stmts=stmts):
                for item in stmts:
                    self.stmt(item, depth)
            case IfThenElse():
                self.branch(s, depth)
            case While():
                self.while_loop(s, depth)
            case Evaluate(value=value):
                bound = self.temporaries((value,), depth)
                self.emit(f"{self.expr(value)}{self.terminator}", depth)
                self.release(bound)
            case _:
                raise CodegenError(self.cannot(f"statement {type(s).__name__}"))

    def branch(self, s: IfThenElse, depth: int) -> None:
        bound = self.temporaries((s.cond,), depth)
        self.emit(self.if_header(self.expr(s.cond)), depth)
        self.release(bound)
        self.stmt(s.then_body, depth + 1)
        if s.else_body is not None:
            self.emit(self.else_line, depth)
            self.stmt(s.else_body, depth + 1)
        if self.block_end:
            self.emit(self.block_end, depth)

    #: the line between a guard's branches, and the line that closes a block (none in Python)
    else_line, block_end = "} else {", "}"
    #: the head of a loop left only by ``break``
    forever = "while (true) {"

    def loop_exit(self, cond: str) -> str:
        """The line leaving the innermost loop where ``cond`` does not hold."""
        return f"if (!({cond})) break;"

    def while_loop(self, s: While, depth: int) -> None:
        """``while``: the condition (and the temporaries it needs) evaluated at the top of each
        iteration, inside a loop left by ``break``."""
        self.emit(self.forever, depth)
        bound = self.temporaries((s.cond,), depth + 1)
        self.emit(self.loop_exit(self.expr(s.cond)), depth + 1)
        self.release(bound)
        self.stmt(s.body, depth + 1)
        if self.block_end:
            self.emit(self.block_end, depth)

    def if_header(self, cond: str) -> str:
        return f"if ({cond}) {{"

    def loop(self, s: For, depth: int) -> None:
        raise NotImplementedError

    def allocate(self, s: Allocate, depth: int) -> None:
        raise NotImplementedError


#: operators that can fail or trap on some operands
_MAY_FAIL = frozenset({BinaryOp.DIV, BinaryOp.FLOORDIV, BinaryOp.FLOORMOD, BinaryOp.POW})


def _always_evaluated(roots: tuple[Expr, ...]) -> set[Expr]:
    """The nodes evaluated whenever expressions ``roots`` are: all but those reached only
    through a choice (a ``Select`` branch, the right side of a short-circuit ``and``/``or``)."""
    seen: set[Expr] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        match node:
            case Select(cond=cond):
                stack.append(cond)
            case Binary(op=BinaryOp.AND | BinaryOp.OR, a=a):
                stack.append(a)
            case _:
                stack.extend(_children(node))
    return seen


def _cannot_fail(node: Expr) -> bool:
    """Whether computing ``node`` ahead of its place is harmless: no load, checked subscript,
    division, power, call or conversion under it."""
    if reads_memory(node):
        return False
    return not any(isinstance(n, (CheckedIndex, Call, Cast)) or (isinstance(n, Binary) and n.op in _MAY_FAIL)
                   for n in walk(node))
