"""Temporaries in the LLVM code: on the stack up to :data:`STACK_LIMIT`, else on the heap (for
each run of their scope, or a kernel's workspace kept between calls), their scope written with
``noalias`` buffers (:mod:`.noalias`). A mixin of :class:`.codegen.Codegen`."""

from __future__ import annotations

from llvmlite import ir

from tensorir.intmath import round_up
from tensorir.names import identifier
from tensorir.stmt import Allocate, Stmt
from tensorir.symbolic import to_expr

from .types import I8, I32, I64, SIZE, STORAGE, VOID, i64

#: temporaries up to this size live on the stack; larger ones on the heap
STACK_LIMIT = 64 * 1024


class Allocations:
    """``allocate`` and its heap forms, for a code generator with ``b``, ``state``, ``stmt``,
    ``expr``, ``declare`` and ``alloca_entry``."""

    def heap_functions(self) -> tuple[ir.Function, ir.Function]:
        """``(aligned_alloc, free)``, declared in the module."""
        return (self.declare("aligned_alloc", I8.as_pointer(), [I64, I64]),
                self.declare("free", VOID, [I8.as_pointer()]))

    def allocate(self, s: Allocate) -> None:
        buffer = s.buffer
        ty = STORAGE[buffer.dtype]
        if not isinstance(buffer.size, int):
            self.dynamic_allocate(s, ty)
            return
        nbytes = buffer.size * SIZE[buffer.dtype]
        state = self.state
        if nbytes <= STACK_LIMIT:
            slot = self.alloca_entry(ty, buffer.size)
            state.buffers[buffer] = self.b.bitcast(slot, ty.as_pointer())  # type: ignore[union-attr]
            self.stmt(s.body)
            return
        if state.loop_depth == 0 and not state.in_parallel:  # type: ignore[union-attr]
            self.workspace(s, ty, nbytes)
            return
        aligned_alloc, free = self.heap_functions()
        raw = self.b.call(aligned_alloc, [i64(64), i64(round_up(nbytes, 64))])
        state.buffers[buffer] = self.b.bitcast(raw, ty.as_pointer())  # type: ignore[union-attr]
        self.heap_body(s.body)
        self.b.call(free, [raw])

    def heap_body(self, body: Stmt) -> None:
        """The scope of a heap temporary; the innermost one of nested temporaries is written
        with ``noalias`` buffers (see :mod:`backends.llvm.noalias`)."""
        if isinstance(body, Allocate):
            self.stmt(body)
            return
        from .noalias import emit_noalias

        emit_noalias(self, body)

    def dynamic_allocate(self, s: Allocate, ty) -> None:
        """A temporary of symbolic size: heap memory for each run of its scope (64-byte aligned,
        its size rounded up to a whole number of 64 bytes, never zero)."""
        count = self.as_i64(self.expr(to_expr(s.buffer.size)))
        nbytes = self.b.mul(count, i64(SIZE[s.buffer.dtype]))
        rounded = self.b.add(self.b.and_(self.b.add(nbytes, i64(63)), i64(-64)), i64(64))
        aligned_alloc, free = self.heap_functions()
        raw = self.b.call(aligned_alloc, [i64(64), rounded])
        self.state.buffers[s.buffer] = self.b.bitcast(raw, ty.as_pointer())  # type: ignore[union-attr]
        self.heap_body(s.body)
        self.b.call(free, [raw])

    def workspace(self, s: Allocate, ty, nbytes: int) -> None:
        """A large temporary of the kernel itself, allocated on the first call and kept for later
        ones: fresh pages each call would cost page faults (several ms for a few MiB). A call
        that finds it in use (another thread in the same kernel) takes memory of its own."""
        size = i64(round_up(nbytes, 64))
        name = f"{self.func.name}.workspace.{identifier(s.buffer.name, keep='.', prefix='')}"
        slot = ir.GlobalVariable(self.module, I8.as_pointer(), name=name)
        slot.initializer = ir.Constant(I8.as_pointer(), None)
        slot.linkage = "internal"
        busy = ir.GlobalVariable(self.module, I32, name=f"{name}.busy")
        busy.initializer = ir.Constant(I32, 0)
        busy.linkage = "internal"
        aligned_alloc, free = self.heap_functions()
        bld = self.b
        mine = bld.icmp_unsigned("==", bld.atomic_rmw("xchg", busy, ir.Constant(I32, 1), "acquire"),
                                 ir.Constant(I32, 0))
        with bld.if_else(mine) as (kept, own):
            with kept:
                current = bld.load(slot)
                with bld.if_then(bld.icmp_unsigned("==", current, ir.Constant(I8.as_pointer(), None))):
                    bld.store(bld.call(aligned_alloc, [i64(64), size]), slot)
                kept_memory = bld.load(slot)
                kept_block = bld.block
            with own:
                own_memory = bld.call(aligned_alloc, [i64(64), size])
                own_block = bld.block
        raw = bld.phi(I8.as_pointer())
        raw.add_incoming(kept_memory, kept_block)
        raw.add_incoming(own_memory, own_block)
        self.state.buffers[s.buffer] = bld.bitcast(raw, ty.as_pointer())  # type: ignore[union-attr]
        self.heap_body(s.body)
        with self.b.if_else(mine) as (kept, own):
            with kept:
                self.b.store_atomic(ir.Constant(I32, 0), busy, "release", 4)
            with own:
                self.b.call(free, [raw])

