"""Readable text of expressions, statements and functions (the form tests keep as golden text).

Buffer accesses print with one index per dimension also after ``flatten_buffers`` (from the
access's ``logical`` indices), so the printed loop nest reads the same before and after it.
The printer keeps no module state: each call prints with display names of its own. Printed text
is for people and golden tests; caches key on :mod:`tensorir.structural`, never on it.
"""

from __future__ import annotations

import math

from .analysis import shared_subexpressions
from .expr import (
    FUNCTION_STYLE,
    Binary,
    BinaryOp,
    BufferLoad,
    Call,
    Cast,
    CheckedIndex,
    Const,
    Expr,
    Reduce,
    Select,
    TensorLoad,
    Unary,
    UnaryOp,
    Var,
)
from .stmt import Allocate, Evaluate, For, ForKind, IfThenElse, PrimFunc, Seq, Stmt, Store, While
from .thread_reduce import ThreadAllReduce, ThreadCombine

_PRECEDENCE = {
    BinaryOp.OR: 1, BinaryOp.AND: 2,
    BinaryOp.EQ: 4, BinaryOp.NE: 4, BinaryOp.LT: 4, BinaryOp.LE: 4, BinaryOp.GT: 4, BinaryOp.GE: 4,
    BinaryOp.ADD: 5, BinaryOp.SUB: 5,
    BinaryOp.MUL: 6, BinaryOp.DIV: 6, BinaryOp.FLOORDIV: 6, BinaryOp.FLOORMOD: 6,
    # Python's levels, between logical and comparison operators and arithmetic
    BinaryOp.BIT_OR: 4.1, BinaryOp.XOR: 4.2, BinaryOp.BIT_AND: 4.3, BinaryOp.SHL: 4.4,
    BinaryOp.SHR: 4.4,
}
_ASSOCIATIVE = frozenset({BinaryOp.ADD, BinaryOp.MUL, BinaryOp.AND, BinaryOp.OR})
_ATOM = 9


def _const_str(node: Const) -> str:
    value = node.value
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if node.dtype.name == "FLOAT32":
            # the shortest text that reads back as the same float32
            import numpy as np

            return repr(float(str(np.float32(value)))) if math.isfinite(value) else str(value)
        return repr(value)
    return str(value)


def _precedence(node: Expr) -> int:
    if isinstance(node, Binary) and node.op not in FUNCTION_STYLE:
        return _PRECEDENCE[node.op]
    if isinstance(node, Unary):
        return 3 if node.op is UnaryOp.NOT else 7
    if isinstance(node, Const) and isinstance(node.value, (int, float)) and node.value < 0:
        return 7
    return _ATOM


def _shown_indices(node: BufferLoad | Store) -> tuple[Expr, ...]:
    """An access as written, one index per dimension, also after flattening."""
    return node.indices if node.logical is None else node.logical


def _line_expressions(node: Stmt) -> tuple[Expr, ...]:
    """The expressions the line of statement ``node`` prints."""
    match node:
        case For(min=lo, extent=extent):
            return lo, extent
        case IfThenElse(cond=cond) | While(cond=cond):
            return (cond,)
        case Store(value=value):
            return (value, *_shown_indices(node))
        case Evaluate(value=value):
            return (value,)
    return ()


class _Printer:
    """Text of one expression, statement or function; ``names`` holds the display names of the
    variables that print differently from their own (distinct loops sharing a name get suffixes)."""

    def __init__(self, names: dict[Var, str] | None = None) -> None:
        self.names = names or {}
        #: text of the shared subexpressions written once as ``let`` lines (see :meth:`lets`)
        self.bound: dict[Expr, str] = {}
        self.counter = 0

    def lets(self, roots, pad: str, out: list[str]) -> None:
        """``let`` lines for the subexpressions the expressions ``roots`` share (a graph printed
        as a tree would grow exponentially); none when nothing large is shared."""
        self.bound = {}
        for node in shared_subexpressions(roots):
            text = self.expr(node)
            self.bound[node] = name = f"%{self.counter}"
            self.counter += 1
            out.append(f"{pad}let {name} = {text}")

    def indices(self, indices) -> str:
        return ", ".join(self.expr(i) for i in indices)

    def wrap(self, node: Expr, parens: bool) -> str:
        text = self.expr(node)
        return f"({text})" if parens and node not in self.bound else text

    def expr(self, node: Expr) -> str:
        bound = self.bound.get(node)
        if bound is not None:
            return bound
        match node:
            case Var(name=name):
                return self.names.get(node, name)
            case Const():
                return _const_str(node)
            case Binary(op=op, a=a, b=b) if op in FUNCTION_STYLE:
                return f"{op.value}({self.expr(a)}, {self.expr(b)})"
            case Binary(op=op, a=a, b=b):
                mine = _PRECEDENCE[op]
                left = self.wrap(a, _precedence(a) < mine or (_precedence(a) == mine and mine == 4))
                same_op = isinstance(b, Binary) and b.op is op
                right_needs = _precedence(b) < mine or (_precedence(b) == mine and not (op in _ASSOCIATIVE and same_op))
                return f"{left} {op.value} {self.wrap(b, right_needs)}"
            case Unary(op=UnaryOp.NEG, a=a):
                return f"-{self.wrap(a, _precedence(a) < 7)}"
            case Unary(op=UnaryOp.NOT, a=a):
                return f"not {self.wrap(a, _precedence(a) < 3)}"
            case Unary(op=UnaryOp.BIT_NOT, a=a):
                return f"~{self.wrap(a, _precedence(a) < 7)}"
            case Call(func=func, args=(a,), dtype=dtype) if func.value == "reinterpret":  # its type shown
                return f"reinterpret('{dtype.value}', {self.expr(a)})"
            case Call(func=func, args=args):
                return f"{func.value}({', '.join(self.expr(a) for a in args)})"
            case Cast(value=value, dtype=dtype):
                return f"{dtype.value}({self.expr(value)})"
            case CheckedIndex(value=value, extent=extent):
                return f"checked({self.expr(value)}, {extent})"
            case Select(cond=c, true_value=t, false_value=f):
                return f"if_then_else({self.expr(c)}, {self.expr(t)}, {self.expr(f)})"
            case TensorLoad(tensor=tensor, indices=indices):
                return f"{tensor.name}[{self.indices(indices)}]"
            case BufferLoad(buffer=buffer):
                return f"{buffer.name}[{self.indices(_shown_indices(node))}]"
            case Reduce(axes=axes):
                names = ", ".join(iv.name for iv in axes)
                return f"{_reducer_name(node)}({self._reduced(node)}, axis=[{names}]{self._reduce_options(node)})"
            case ThreadCombine(values=values, index=index, threads=threads, combiner=combiner):
                tupled = ", ".join(self.expr(v) for v in values)
                return f"thread_allreduce_{combiner.name}(({tupled}), threadIdx.x < {threads})[{index}]"
            case ThreadAllReduce(op=op, value=value, threads=threads):
                return f"thread_allreduce_{op.value}({self.expr(value)}, threadIdx.x < {threads})"
        raise TypeError(f"cannot print {type(node).__name__}")

    def _reduced(self, node: Reduce) -> str:
        if not node.sources:
            return self.expr(node.source)
        return f"({', '.join(self.expr(s) for s in node.sources)})[{node.value_index}]"

    def _reduce_options(self, node: Reduce) -> str:
        parts = [f", where={self.expr(node.condition)}"] if node.condition is not None else []
        if node.init is not None:
            parts.append(f", init={self.expr(node.init)}")
        return "".join(parts)

    def range(self, node: For) -> str:
        lo = node.min
        if isinstance(lo, Const) and isinstance(node.extent, Const):
            return f"{lo.value}..{lo.value + node.extent.value}"
        if isinstance(lo, Const) and lo.value == 0:  # a symbolic extent from 0
            return f"0..{self.expr(node.extent)}"
        if isinstance(node.extent, Binary) and node.extent.op is BinaryOp.SUB and node.extent.b is lo:
            return f"{self.expr(lo)}..{self.expr(node.extent.a)}"  # a loop over hi - lo, from lo
        folded = self._folded_end(lo, node.extent)
        if folded is not None:
            return f"{lo.value}..{folded}"
        return f"{self.expr(lo)}..{self.expr(lo + node.extent)}"

    def _folded_end(self, lo, extent) -> str | None:
        """``lo + extent`` with constant ``lo`` and ``extent = e -/+ c`` as ``e + (lo -/+ c)``
        (a scan's ``1..m`` rather than ``1..1 + (m - 1)``); None for other forms."""
        if not (isinstance(lo, Const) and isinstance(extent, Binary) and isinstance(extent.b, Const)):
            return None
        if extent.op not in (BinaryOp.SUB, BinaryOp.ADD) or not extent.b.dtype.is_int:
            return None
        offset = lo.value + (extent.b.value if extent.op is BinaryOp.ADD else -extent.b.value)
        end = self.expr(extent.a)
        return end if offset == 0 else f"{end} {'+' if offset > 0 else '-'} {abs(offset)}"

    def lines(self, node: Stmt, depth: int, out: list[str]) -> None:
        pad = "  " * depth
        self.lets(_line_expressions(node), pad, out)
        match node:
            case For(var=var, kind=kind, body=body, thread_tag=tag):
                prefix = "" if kind in (ForKind.SERIAL, ForKind.THREAD_BINDING) else f"{kind.value} "
                suffix = f" [{tag}]" if kind is ForKind.THREAD_BINDING or tag else ""
                out.append(f"{pad}{prefix}for {self.expr(var)} in {self.range(node)}{suffix}:")
                self.lines(body, depth + 1, out)
            case Store(buffer=buffer, value=value):
                out.append(f"{pad}{buffer.name}[{self.indices(_shown_indices(node))}] = {self.expr(value)}")
            case Allocate(buffer=buffer, body=body):
                shape = ", ".join(map(str, buffer.shape))
                out.append(f"{pad}allocate {buffer.name}: {buffer.dtype.value}[{shape}] in {buffer.scope.value}")
                self.lines(body, depth, out)
            case Seq(stmts=stmts):
                for stmt in stmts:
                    self.lines(stmt, depth, out)
            case IfThenElse(cond=cond, then_body=then_body, else_body=else_body):
                out.append(f"{pad}if {self.expr(cond)}:")
                self.lines(then_body, depth + 1, out)
                if else_body is not None:
                    out.append(f"{pad}else:")
                    self.lines(else_body, depth + 1, out)
            case Evaluate(value=value):
                out.append(f"{pad}{self.expr(value)}")
            case While(cond=cond, body=body):
                out.append(f"{pad}while {self.expr(cond)}:")
                self.lines(body, depth + 1, out)
            case _:
                raise TypeError(f"cannot print {type(node).__name__}")

    def stmt(self, node: Stmt, depth: int = 0) -> str:
        out: list[str] = []
        self.lines(node, depth, out)
        return "\n".join(out)


def _reducer_name(node: Reduce) -> str:
    return node.combiner.name if node.combiner is not None else node.op.value


def expr_str(node: Expr) -> str:
    printer, lets = _Printer(), []
    printer.lets((node,), "", lets)
    text = printer.expr(node)
    return f"(let {'; '.join(line[4:] for line in lets)} in {text})" if lets else text


def stmt_str(node: Stmt, depth: int = 0) -> str:
    return _Printer().stmt(node, depth)


def _display_names(body: Stmt) -> dict[Var, str]:
    """Display names for loop variables: a loop whose name an enclosing loop already shows gets
    a suffix (``i_1``), so every printed name means one variable."""
    names: dict[Var, str] = {}

    def visit(node: Stmt, in_scope: frozenset[str]) -> None:
        match node:
            case For(var=var, body=inner):
                if var not in names:
                    name, n = var.name, 1
                    while name in in_scope:
                        name = f"{var.name}_{n}"
                        n += 1
                    names[var] = name
                visit(inner, in_scope | {names[var]})
            case Seq(stmts=stmts):
                for item in stmts:
                    visit(item, in_scope)
            case Allocate(body=inner) | While(body=inner):
                visit(inner, in_scope)
            case IfThenElse(then_body=then_body, else_body=else_body):
                visit(then_body, in_scope)
                if else_body is not None:
                    visit(else_body, in_scope)

    visit(body, frozenset())
    return names


def func_str(func: PrimFunc) -> str:
    params = ", ".join(
        f"{b.name}: {b.dtype.value}[{', '.join(map(str, b.shape))}]" for b in func.params)
    body = _Printer(_display_names(func.body)).stmt(func.body, 1)
    return f"func {func.name}({params}) {{\n{body}\n}}"
