"""Loop-nest statements and PrimFunc: the lowered IR every backend compiles."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .buffer import Buffer
from .expr import Expr, Var


class ForKind(enum.Enum):
    SERIAL = "serial"
    PARALLEL = "parallel"
    VECTORIZED = "vectorized"
    UNROLLED = "unrolled"
    THREAD_BINDING = "thread_binding"


#: the ``thread_tag`` of a serial loop that runs on the host around GPU kernels, launching them
#: once per iteration (the steps of a scan bound to blockIdx)
HOST_LOOP = "host"


class Stmt:
    """Base of statement nodes (frozen dataclasses, identity equality)."""

    __slots__ = ()

    def __str__(self) -> str:
        from .printer import stmt_str

        return stmt_str(self)


def _node(cls):
    return dataclass(frozen=True, eq=False, repr=False)(cls)


@_node
class For(Stmt):
    """``for var in min..min+extent`` of the given kind; ``thread_tag`` names a GPU index."""

    var: Var
    min: Expr
    extent: Expr
    kind: ForKind
    body: Stmt
    thread_tag: str = ""


@_node
class Store(Stmt):
    """``buffer[indices] = value``; ``indices`` and ``logical`` as in :class:`~tensorir.expr.BufferLoad`."""

    buffer: Buffer
    indices: tuple[Expr, ...]
    value: Expr
    logical: tuple[Expr, ...] | None = None


@_node
class Allocate(Stmt):
    """``buffer`` (of its scope) exists while ``body`` runs."""

    buffer: Buffer
    body: Stmt


@_node
class Seq(Stmt):
    stmts: tuple[Stmt, ...]


@_node
class IfThenElse(Stmt):
    cond: Expr
    then_body: Stmt
    else_body: Stmt | None = None


@_node
class While(Stmt):
    """``while cond: body``, the condition tested before each iteration (TVM's While, which
    ``ir_builder.while_loop`` makes); the only loop without a bound."""

    cond: Expr
    body: Stmt


@_node
class Evaluate(Stmt):
    """Evaluate an expression for its effect (a barrier call)."""

    value: Expr


@dataclass(frozen=True, eq=False)
class PrimFunc:
    """A function over buffer parameters (inputs, then outputs) with a loop-nest body."""

    name: str
    params: tuple[Buffer, ...]
    body: Stmt
    #: the size variables the function takes after its buffers, bound by the caller
    #: (see :mod:`tensorir.symbolic`); empty for a function of static shapes
    scalars: tuple[Var, ...] = ()
    #: conditions on the size variables a call must meet before any loop runs, each with the
    #: schedule step that needs it (a split by a symbolic factor: ``f > 0``)
    requires: tuple[tuple[Expr, str], ...] = ()

    def __str__(self) -> str:
        from .printer import func_str

        return func_str(self)

    def __getitem__(self, name: str) -> PrimFunc:
        """TVM's ``tvm.lower(...)["main"]``: ``lower`` makes one function, and this is it."""
        if name in ("main", self.name):
            return self
        from .errors import LoweringError

        also = "" if self.name == "main" else " (also reached as 'main')"
        raise LoweringError(f"lowered module: no function {name!r}; it holds only {self.name!r}{also}")

    def script(self, **_options) -> str:
        """TVM's ``mod.script()`` / ``astext()``: the printed loop nest (printing options aside)."""
        return str(self)

    astext = script

    def show(self, **_options) -> None:
        """TVM's ``mod.show()``: print the loop nest."""
        print(self)


def seq(*stmts: Stmt | None) -> Stmt:
    """A statement running ``stmts`` in order, flattening nested sequences and dropping None."""
    flat: list[Stmt] = []
    for stmt in stmts:
        if stmt is None:
            continue
        if isinstance(stmt, Seq):
            flat.extend(stmt.stmts)
        else:
            flat.append(stmt)
    if len(flat) == 1:
        return flat[0]
    return Seq(tuple(flat))
