"""Structural checks of lowered IR: scoping of loop variables and buffers, ranks and types."""

from __future__ import annotations

from .buffer import Buffer
from .dtypes import DType
from .errors import LoweringError
from .expr import COMPARISONS, Binary, BufferLoad, Expr, Reduce, Select, TensorLoad, Var
from .stmt import Allocate, Evaluate, For, IfThenElse, PrimFunc, Seq, Stmt, Store, While
from .visitor import walk


class _Verifier:
    def __init__(self, func: PrimFunc):
        self.func = func
        self.vars: set[Var] = set(func.scalars)
        self.buffers: set[Buffer] = set(func.params)
        self.errors: list[str] = []

    def fail(self, message: str) -> None:
        self.errors.append(message)

    def expr(self, e: Expr) -> None:
        for node in walk(e):
            if isinstance(node, Var) and node not in self.vars:
                self.fail(f"variable {node.name} is used outside any loop that defines it")
            elif isinstance(node, (TensorLoad, Reduce)):
                self.fail(f"{node} is a definition-level node left in lowered IR")
            elif isinstance(node, BufferLoad):
                self.access(node, node)  # printed only in a failure's message
            elif isinstance(node, Binary) and node.a.dtype is not node.b.dtype:
                self.fail(f"operands of {node} have types {node.a.dtype} and {node.b.dtype}")
            elif isinstance(node, Binary) and node.op in COMPARISONS and node.dtype is not DType.BOOL:
                self.fail(f"comparison {node} is not bool")
            elif isinstance(node, Select) and node.cond.dtype is not DType.BOOL:
                self.fail(f"condition of {node} is not bool")

    def access(self, node: BufferLoad | Store, text: object) -> None:
        """A known buffer, one index per dimension (in ``logical`` once flattened, with one flat
        offset in ``indices``), integer indices."""
        buffer = node.buffer
        if buffer not in self.buffers:
            self.fail(f"{text}: buffer {buffer.name} is neither a parameter nor allocated here")
        indices = node.indices if node.logical is None else node.logical
        if len(indices) != len(buffer.shape):
            self.fail(f"{text}: {len(indices)} indices for buffer {buffer.name} of rank {len(buffer.shape)}")
        if node.logical is not None and len(node.indices) != 1:
            self.fail(f"{text}: a flattened access of {buffer.name} has {len(node.indices)} offsets, not one")
        for index in (*indices, *(node.indices if node.logical is not None else ())):
            if not index.dtype.is_int:
                self.fail(f"{text}: index {index} has type {index.dtype}")

    def stmt(self, s: Stmt) -> None:
        match s:
            case For(var=var, min=lo, extent=extent, body=body):
                self.expr(lo)
                self.expr(extent)
                if var in self.vars:
                    self.fail(f"loop variable {var.name} is bound again inside its own loop")
                self.vars.add(var)
                self.stmt(body)
                self.vars.discard(var)
            case Store(buffer=buffer, value=value):
                self.access(s, f"store to {buffer.name}")
                for index in (*s.indices, *(s.logical or ())):
                    self.expr(index)
                self.expr(value)
                if value.dtype is not buffer.dtype:
                    self.fail(f"store of {value.dtype} value {value} into {buffer.dtype} buffer {buffer.name}")
            case Allocate(buffer=buffer, body=body):
                if buffer in self.buffers:
                    self.fail(f"buffer {buffer.name} is allocated twice in one scope")
                self.buffers.add(buffer)
                self.stmt(body)
                self.buffers.discard(buffer)
            case Seq(stmts=stmts):
                for item in stmts:
                    self.stmt(item)
            case IfThenElse(cond=cond, then_body=then_body, else_body=else_body):
                self.expr(cond)
                if cond.dtype is not DType.BOOL:
                    self.fail(f"if condition {cond} is not bool")
                self.stmt(then_body)
                if else_body is not None:
                    self.stmt(else_body)
            case Evaluate(value=value):
                self.expr(value)
            case While(cond=cond, body=body):
                self.expr(cond)
                if cond.dtype is not DType.BOOL:
                    self.fail(f"while condition {cond} is not bool")
                self.stmt(body)
            case _:
                self.fail(f"unknown statement {type(s).__name__}")


def verify(func: PrimFunc, after: str = "lowering") -> PrimFunc:
    """``func`` itself when it is well formed, else a LoweringError listing what is wrong."""
    checker = _Verifier(func)
    checker.stmt(func.body)
    if checker.errors:
        listed = "\n  ".join(dict.fromkeys(checker.errors))
        raise LoweringError(f"invalid IR for {func.name} after {after}:\n  {listed}")
    return func
