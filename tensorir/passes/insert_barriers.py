"""Insert block-wide barriers where threads of a GPU block share data through memory.

Inside a thread block, a statement that reads a shared buffer written by an earlier statement
waits at a barrier first (read after write), and so does a statement that overwrites a shared
buffer that an earlier one (or the previous iteration of an enclosing loop) read (write after
read). At block level, between the nests of different stages, global buffers count as well.
"""

from __future__ import annotations

import dataclasses

from ..buffer import Buffer, Scope
from ..dtypes import DType
from ..expr import BufferLoad, Call, Func
from ..stmt import Allocate, Evaluate, For, ForKind, IfThenElse, PrimFunc, Seq, Stmt, Store
from ..visitor import walk


def barrier() -> Evaluate:
    return Evaluate(Call(Func.BARRIER, (), DType.INT32))


def _is_thread_loop(s: Stmt) -> bool:
    return isinstance(s, For) and s.kind is ForKind.THREAD_BINDING and s.thread_tag.startswith("threadIdx")


def _is_block_loop(s: Stmt) -> bool:
    return isinstance(s, For) and s.kind is ForKind.THREAD_BINDING and s.thread_tag.startswith("blockIdx")


def _has(s: Stmt, predicate) -> bool:
    return any(isinstance(n, Stmt) and predicate(n) for n in walk(s))


def _accesses(s: Stmt, scopes: frozenset[Scope]) -> tuple[set[Buffer], set[Buffer]]:
    reads, writes = set(), set()
    for node in walk(s):
        if isinstance(node, BufferLoad) and node.buffer.scope in scopes:
            reads.add(node.buffer)
        elif isinstance(node, Store) and node.buffer.scope in scopes:
            writes.add(node.buffer)
    return reads, writes


_SHARED = frozenset({Scope.SHARED})
_SHARED_GLOBAL = frozenset({Scope.SHARED, Scope.GLOBAL})


def _seq(s: Seq, block_level: bool, repeating: bool) -> Stmt:
    scopes = _SHARED_GLOBAL if block_level else _SHARED
    items = [_stmt(item, True, repeating, block_level) for item in s.stmts]
    pending_reads, pending_writes = (set(_accesses(s, scopes)[0]) if repeating else set()), set()
    out: list[Stmt] = []
    for item in items:
        if isinstance(item, Evaluate) and isinstance(item.value, Call) and item.value.func is Func.BARRIER:
            pending_reads, pending_writes = set(), set()  # the body's own barrier (tvm_storage_sync)
        reads, writes = _accesses(item, scopes)
        if (reads & pending_writes) or (writes & pending_reads):
            out.append(barrier())
            pending_reads, pending_writes = set(), set()
        pending_reads |= reads
        pending_writes |= writes
        out.append(item)
    return Seq(tuple(out))


def _stmt(s: Stmt, in_block: bool, repeating: bool, block_level: bool) -> Stmt:
    """``s`` with barriers; ``in_block``: inside a thread block; ``repeating``: inside a loop there."""
    match s:
        case For(body=body) if _is_block_loop(s):
            inner_level = not _has(body, _is_block_loop)
            new = _stmt(body, inner_level or in_block, False, inner_level)
        case For(body=body) if _is_thread_loop(s):
            # every thread runs the serial loops around its thread loop: their repetition carries in
            new = _stmt(body, True, repeating, False)
        case For(body=body, extent=extent):
            loops = in_block and not (hasattr(extent, "value") and extent.value == 1)
            new = _stmt(body, in_block, repeating or loops, block_level)
        case Allocate(body=body):
            new = _stmt(body, in_block, repeating, block_level)
        case IfThenElse(then_body=t, else_body=e):
            return dataclasses.replace(s, then_body=_stmt(t, in_block, repeating, False),
                                       else_body=None if e is None else _stmt(e, in_block, repeating, False))
        case Seq() if in_block:
            return _seq(s, block_level, repeating)
        case Seq(stmts=stmts):
            return Seq(tuple(_stmt(item, in_block, repeating, block_level) for item in stmts))
        case _:
            return s
    return s if new is body else dataclasses.replace(s, body=new)


def insert_barriers(func: PrimFunc) -> PrimFunc:
    """``func`` with a barrier wherever threads of a block exchange data through memory."""
    if not _has(func.body, _is_thread_loop):
        return func
    top_level = not _has(func.body, _is_block_loop)
    body = _stmt(func.body, top_level, False, top_level)
    return func if body is func.body else dataclasses.replace(func, body=body)
