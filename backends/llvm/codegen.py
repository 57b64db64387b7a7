"""Lowered IR -> LLVM IR with llvmlite's IRBuilder: scalar expressions, loops, buffers.

Integer index arithmetic runs in 64 bits (loop variables are i64); values are converted to the
IR's types where they are stored or cast. Accesses arrive flat (``flatten_buffers`` runs first,
see :mod:`.module`): an access's one index is its element offset. Vectorized loops are emitted by :mod:`.vector`,
parallel loops by :mod:`.parallel`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llvmlite import ir

from tensorir.access_guards import runtime_checks, site_number
from tensorir.analysis import Ranges, reads_memory
from tensorir.buffer import Buffer
from tensorir.dtypes import DType
from tensorir.errors import CodegenError
from tensorir.expr import (
    Binary,
    BufferLoad,
    Call,
    Cast,
    CheckedIndex,
    Const,
    Expr,
    Func,
    Select,
    Unary,
    UnaryOp,
    Var,
)
from tensorir.names import identifier
from tensorir.passes.flatten_buffers import flatten_buffers
from tensorir.stmt import Allocate, Evaluate, For, ForKind, IfThenElse, PrimFunc, Seq, Stmt, Store, While
from tensorir.structural import canonical
from tensorir.visitor import walk

from ..loop_guard import guard_bound
from .allocation import Allocations
from .arith import Arithmetic, add_i64
from .fold import known_condition
from .map_kernels import mark_arguments
from .types import F32, F64, I1, I8, I32, I64, SIZE, STORAGE, VALUE, VOID, i64  # noqa: F401


@dataclass
class FunctionState:
    """What one LLVM function being written knows: its builder, variables and buffers."""

    function: ir.Function
    builder: ir.IRBuilder
    entry: ir.Block
    vars: dict[Var, ir.Value] = field(default_factory=dict)
    buffers: dict[Buffer, ir.Value] = field(default_factory=dict)
    ranges: Ranges = field(default_factory=dict)
    in_parallel: bool = False
    #: pure expressions already computed: (block, structural key, variable values) -> value
    cse: dict = field(default_factory=dict)
    #: expressions computed for the statement being written, by node: (block, node, variable
    #: values) -> value; a node shared in one statement (IR is a graph) is emitted once, also
    #: when it loads (no store comes between), and the entries end with the statement
    shared: dict = field(default_factory=dict)
    #: loops around the statement being written
    loop_depth: int = 0
    #: element and vector pointers already computed: (block, storage or pointer, offset or type)
    #: -> pointer; a load and the store to the same place (a register tile's update) share one.
    #: Keyed by the storage's value, not the Buffer: a buffer allocated inside an unrolled loop
    #: has one storage per copy of the body
    pointers: dict = field(default_factory=dict)


class Codegen(Allocations, Arithmetic):
    """Writes one PrimFunc (and the bodies its parallel loops outline) into an LLVM module."""

    def __init__(self, func: PrimFunc, triple: str, data_layout: str, vector_bytes: int, openmp: bool):
        self.func = flatten_buffers(func)
        self.module = ir.Module(name=func.name)
        self.module.triple = triple
        self.module.data_layout = data_layout
        self.vector_bytes = vector_bytes
        self.openmp = openmp
        self.state: FunctionState | None = None
        self.outlined = 0
        #: the run-time checks of subscripts, and the status slot where a failing one reports
        self.checks = runtime_checks(self.func)
        self.status = Buffer("nestor_status", (2,), DType.INT64) if self.checks else None

    # -- module ----------------------------------------------------------------------------
    def generate(self) -> ir.Module:
        buffers = self.func.params + ((self.status,) if self.status is not None else ())
        params = [STORAGE[b.dtype].as_pointer() for b in buffers]
        # size variables come as i64 values after the buffers, before the status slot
        scalars = self.func.scalars
        params[len(self.func.params):len(self.func.params)] = [I64] * len(scalars)
        fn = ir.Function(self.module, ir.FunctionType(VOID, params), name=self.func.name)
        buffer_args = [a for a in fn.args if isinstance(a.type, ir.PointerType)]
        for arg, buffer in zip(buffer_args, buffers):
            arg.name = _ident(buffer.name)
            arg.add_attribute("noalias")
        mark_arguments(self.func, buffers, buffer_args)
        state = self.new_function(fn)
        state.buffers.update(zip(buffers, buffer_args))
        state.vars.update(zip(scalars, fn.args[len(self.func.params):]))
        self.run_in(state, lambda: self.stmt(self.func.body))
        return self.module

    def new_function(self, fn: ir.Function) -> FunctionState:
        entry = fn.append_basic_block("entry")
        body = fn.append_basic_block("body")
        ir.IRBuilder(entry).branch(body)
        return FunctionState(fn, ir.IRBuilder(body), entry)

    def run_in(self, state: FunctionState, emit) -> None:
        saved, self.state = self.state, state
        try:
            emit()
            if not state.builder.block.is_terminated:
                state.builder.ret_void()
        finally:
            self.state = saved

    @property
    def b(self) -> ir.IRBuilder:
        return self.state.builder  # type: ignore[union-attr]

    def declare(self, name: str, ret, args) -> ir.Function:
        existing = self.module.globals.get(name)
        if existing is not None:
            return existing
        return ir.Function(self.module, ir.FunctionType(ret, args), name=name)

    def intrinsic(self, name: str, ty) -> ir.Function:
        suffix = f"v{ty.count}f{ty.element.width if hasattr(ty.element, 'width') else _fbits(ty.element)}" \
            if isinstance(ty, ir.VectorType) else (f"f{_fbits(ty)}" if ty in (F32, F64) else f"i{ty.width}")
        return self.declare(f"{name}.{suffix}", ty, [ty] * _INTRINSIC_ARITY.get(name, 1))

    def alloca_entry(self, ty, count: int | None = None, align: int = 64) -> ir.Value:
        """A stack slot in the entry block of the current function (allocated once per call)."""
        entry_builder = ir.IRBuilder(self.state.entry)  # type: ignore[union-attr]
        entry_builder.position_at_start(self.state.entry)  # type: ignore[union-attr]
        slot = entry_builder.alloca(ir.ArrayType(ty, count) if count else ty)
        slot.align = align
        return slot

    # -- expressions -----------------------------------------------------------------------
    def expr(self, e: Expr) -> ir.Value:
        """The value of ``e``; the same node met again in the current statement, or a pure
        expression already computed in the current block, with the same variable values, is
        reused instead of emitted again."""
        if isinstance(e, (Var, Const)):
            return self._emit_expr(e)
        state = self.state
        found = canonical(e)
        bound = self._bound(found)
        block = id(self.b.block)
        shared = state.shared  # type: ignore[union-attr]
        hit = shared.get((block, e, bound))
        if hit is not None:
            return hit
        if _reads_memory(e):
            hit = self._emit_expr(e)
        else:
            key = (block, found.key, bound, found.buffers)
            cache = state.cse  # type: ignore[union-attr]
            hit = cache.get(key)
            if hit is None:
                hit = cache[key] = self._emit_expr(e)
        shared[(block, e, bound)] = hit
        return hit

    def _bound(self, found) -> tuple:
        """The values the variables of an expression have here: equal keys with equal values
        compute equal values."""
        values = self.state.vars  # type: ignore[union-attr]
        return tuple(values[v].get_reference() if v in values else None for v in found.variables)

    def _emit_expr(self, e: Expr) -> ir.Value:
        match e:
            case Var():
                value = self.state.vars.get(e)  # type: ignore[union-attr]
                if value is None:
                    raise CodegenError(f"llvm: variable {e.name} is not defined where it is used")
                return value
            case Const(value=value, dtype=dtype):
                if dtype is DType.BOOL:
                    return ir.Constant(I1, int(bool(value)))
                if dtype.is_unsigned and value >= 1 << (dtype.bits - 1):
                    value -= 1 << dtype.bits  # the same bits, written as LLVM's signed literal
                return ir.Constant(VALUE[dtype], value)
            case Binary():
                return self.binary(e)
            case Unary(op=UnaryOp.NEG, a=a):
                value = self.expr(a)
                return self.b.fneg(value) if a.dtype.is_float else self.b.neg(value)
            case Unary(op=UnaryOp.NOT | UnaryOp.BIT_NOT, a=a):
                return self.b.not_(self.expr(a))
            case Call(func=Func.REINTERPRET, args=(x,)):
                return self.reinterpret(self.expr(x), e.dtype)
            case Call():
                return self.call(e.func, [self.expr(x) for x in e.args], e.args[0].dtype if e.args else e.dtype)
            case Cast(value=value, dtype=dtype):
                return self.convert(self.expr(value), value.dtype, dtype)
            case Select(cond=c, true_value=t, false_value=f):
                return self.select(e, c, t, f)
            case BufferLoad(buffer=buffer):
                return self.load(buffer, self.offset(e))
            case CheckedIndex():
                return self.checked_index(e)
        raise CodegenError(f"llvm: cannot compile expression {e}")

    def checked_index(self, e: CheckedIndex) -> ir.Value:
        """The subscript ``e.value`` if it lies in ``0..e.extent``, else 0 (so no access leaves
        the tensor) with the first failing check and its value reported in the status slot,
        which the module reads after the call and raises from."""
        raw = self.expr(e.value)
        wide = self.as_i64(raw)
        extent = self.as_i64(self.expr(e.extent)) if isinstance(e.extent, Expr) else i64(e.extent)
        bad = self.b.icmp_unsigned(">=", wide, extent)  # a symbolic extent: a size variable's value
        with self.b.if_then(bad, likely=False):
            status = self.state.buffers[self.status]  # type: ignore[union-attr, index]
            first = self.b.cmpxchg(status, i64(0), i64(site_number(self.checks, e)), "monotonic", "monotonic")
            with self.b.if_then(self.b.extract_value(first, 1)):
                self.b.store(wide, self.b.gep(status, [i64(1)]))
        return self.b.select(bad, ir.Constant(raw.type, 0), raw)

    def offset(self, access: BufferLoad | Store) -> ir.Value:
        """The element offset of an access: its flat index (see ``flatten_buffers``) in 64 bits."""
        (flat,) = access.indices
        return self.as_i64(self.expr(flat))

    def pointer(self, buffer: Buffer, offset: ir.Value) -> ir.Value:
        base = self.state.buffers.get(buffer)  # type: ignore[union-attr]
        if base is None:
            raise CodegenError(f"llvm: buffer {buffer.name} is used outside its allocation")
        key = (id(self.b.block), base, offset.get_reference())  # the storage itself: each allocation its own
        found = self.state.pointers.get(key)  # type: ignore[union-attr]
        if found is None:
            found = self.state.pointers[key] = self.b.gep(base, [offset], inbounds=True)  # type: ignore[union-attr]
        return found

    def prefetch(self, load: BufferLoad) -> None:
        """``llvm.prefetch`` of the element ``load`` reads: a read, kept in all cache levels
        (locality 3), of data (cache type 1)."""
        address = self.b.bitcast(self.pointer(load.buffer, self.offset(load)), I8.as_pointer())
        hint = self.declare("llvm.prefetch.p0", VOID, [I8.as_pointer(), I32, I32, I32])
        self.b.call(hint, [address, ir.Constant(I32, 0), ir.Constant(I32, 3), ir.Constant(I32, 1)])

    def load(self, buffer: Buffer, offset: ir.Value) -> ir.Value:
        value = self.b.load(self.pointer(buffer, offset), align=SIZE[buffer.dtype])
        return self.b.trunc(value, I1) if buffer.dtype is DType.BOOL else value

    def store(self, buffer: Buffer, offset: ir.Value, value: ir.Value) -> None:
        value = self.fit(value, buffer.dtype)
        self.b.store(value, self.pointer(buffer, offset), align=SIZE[buffer.dtype])

    def fit(self, value: ir.Value, dtype: DType) -> ir.Value:
        """``value`` in the storage type of ``dtype`` (integers truncated or extended, bools as bytes)."""
        target = STORAGE[dtype]
        if dtype is DType.BOOL:
            return self.b.zext(value, I8) if value.type == I1 else value
        if isinstance(target, ir.IntType) and value.type != target:
            return self.b.trunc(value, target) if value.type.width > target.width else self.b.sext(value, target)
        return value

    def as_i64(self, value: ir.Value) -> ir.Value:
        if value.type == I64:
            return value
        if isinstance(value, ir.Constant) and isinstance(value.type, ir.IntType):
            return i64(int(value.constant))
        if value.type == I1:
            return self.b.zext(value, I64)
        return self.b.sext(value, I64)

    def widen(self, a: ir.Value, b: ir.Value) -> tuple[ir.Value, ir.Value]:
        if isinstance(a.type, ir.IntType) and a.type != b.type and a.type != I1:
            if a.type.width < b.type.width:
                a = _const_cast(a, b.type) or self.b.sext(a, b.type)
            else:
                b = _const_cast(b, a.type) or self.b.sext(b, a.type)
        return a, b

    def binary(self, e: Binary) -> ir.Value:
        a, b = self.widen(self.expr(e.a), self.expr(e.b))
        return self.arith(e.op, a, b, e.a.dtype, e.a, e.b)

    def select(self, e: Select, c: Expr, t: Expr, f: Expr):
        known = known_condition(c, self.state.vars)  # type: ignore[union-attr]
        if known is not None:
            return self.expr(t if known else f)
        if not any(isinstance(n, (BufferLoad, CheckedIndex)) for side in (t, f) for n in walk(side)):
            tv, fv = self.widen(self.expr(t), self.expr(f))
            return self.b.select(self.expr(c), tv, fv)
        # only the chosen side may be evaluated: its loads can be out of bounds otherwise, and
        # the checks of the other side need not hold
        cond = self.expr(c)
        with self.b.if_else(cond) as (then, otherwise):
            with then:
                tv = self.expr(t)
                then_block = self.b.block
            with otherwise:
                fv = self.expr(f)
                else_block = self.b.block
        tv, fv = self._unify(tv, then_block, fv, else_block)
        phi = self.b.phi(tv.type)
        phi.add_incoming(tv, then_block)
        phi.add_incoming(fv, else_block)
        return phi

    def _unify(self, tv, tb, fv, fb):
        if tv.type == fv.type or not isinstance(tv.type, ir.IntType):
            return tv, fv
        wide = tv.type if tv.type.width > fv.type.width else fv.type
        fix = []
        for value, block in ((tv, tb), (fv, fb)):
            if value.type != wide:
                with self.b.goto_block(block):
                    self.b.position_before(block.terminator)
                    value = self.b.sext(value, wide)
            fix.append(value)
        return fix[0], fix[1]

    # -- statements ------------------------------------------------------------------------
    def stmt(self, s: Stmt) -> None:
        self.state.shared.clear()  # type: ignore[union-attr]
        match s:
            case For(kind=ForKind.THREAD_BINDING, thread_tag=tag):
                raise CodegenError(
                    f"llvm: loop {s.var.name} is bound to {tag}, which only a GPU has; build with "
                    "target='cuda' (or 'interp' to check it), or schedule it without bind() for the CPU")
            case For(kind=ForKind.PARALLEL) if self.openmp and not self.state.in_parallel:  # type: ignore[union-attr]
                from .parallel import emit_parallel

                emit_parallel(self, s)
            case For(kind=ForKind.VECTORIZED):
                from .vector import emit_vectorized

                emit_vectorized(self, s)
            case For(kind=ForKind.UNROLLED, min=Const(value=lo), extent=Const(value=n)) if n <= 64:
                self.unrolled(s, lo, n)
            case For():
                self.loop(s, lambda: self.stmt(s.body))
            case Store(buffer=buffer, value=value):
                self.store(buffer, self.offset(s), self.expr(value))
            case Seq(stmts=stmts):
                for item in stmts:
                    self.stmt(item)
            case IfThenElse(cond=cond, then_body=then_body, else_body=else_body):
                self.branch(cond, then_body, else_body)
            case Allocate():
                self.allocate(s)
            case While(cond=cond, body=body):
                self.while_loop(cond, body)
            case Evaluate(value=Call(func=Func.BARRIER)):
                raise CodegenError("llvm: barrier() synchronises GPU threads; build with target='cuda'")
            case Evaluate(value=Call(func=Func.PREFETCH, args=(BufferLoad() as load,))):
                self.prefetch(load)
            case Evaluate(value=value):
                self.expr(value)
            case _:
                raise CodegenError(f"llvm: cannot compile statement {type(s).__name__}")

    def branch(self, cond: Expr, then_body: Stmt, else_body: Stmt | None) -> None:
        c = self.expr(cond)
        if else_body is None:
            with self.b.if_then(c):
                self.stmt(then_body)
            return
        with self.b.if_else(c) as (then, otherwise):
            with then:
                self.stmt(then_body)
            with otherwise:
                self.stmt(else_body)

    def while_loop(self, cond: Expr, body: Stmt) -> None:
        """The condition tested in a header block before each run of the body."""
        bld = self.b
        header, inner, done = (bld.append_basic_block(f"while.{part}") for part in ("header", "body", "done"))
        bld.branch(header)
        bld.position_at_end(header)
        bld.cbranch(self.expr(cond), inner, done)
        bld.position_at_end(inner)
        self.stmt(body)
        bld.branch(header)
        bld.position_at_end(done)

    def loop(self, s: For, emit_body, start: ir.Value | None = None, stop: ir.Value | None = None) -> None:
        """A counted loop binding ``s.var``; ``start``/``stop`` override the IR bounds."""
        bld = self.b
        lo = start if start is not None else self.as_i64(self.expr(s.min))
        hi = stop if stop is not None else add_i64(bld, lo, self.as_i64(self.expr(s.extent)))
        if stop is None and not isinstance(s.extent, Const):
            hi = self._guard_stop(s, hi)
        pre = bld.block
        header = bld.append_basic_block(f"{_ident(s.var.name)}.header")
        body = bld.append_basic_block(f"{_ident(s.var.name)}.body")
        done = bld.append_basic_block(f"{_ident(s.var.name)}.done")
        bld.branch(header)
        bld.position_at_end(header)
        var = bld.phi(I64, name=_ident(s.var.name))
        var.add_incoming(lo, pre)
        bld.cbranch(bld.icmp_signed("<", var, hi), body, done)
        bld.position_at_end(body)
        self._bind(s, var, emit_body)
        latch = bld.block
        var.add_incoming(bld.add(var, i64(1)), latch)
        bld.branch(header)
        bld.position_at_end(done)

    def _guard_stop(self, s: For, hi: ir.Value) -> ir.Value:
        """``hi``, or where the guard of an imperfect split by a run-time factor fails for good
        if that comes first (:mod:`backends.loop_guard`)."""
        found = guard_bound(s)
        if found is None:
            return hi
        bld = self.b
        end = bld.sub(self.as_i64(self.expr(found[0])), self.as_i64(self.expr(found[1])))
        return bld.select(bld.icmp_signed("<", end, hi), end, hi)

    def _bind(self, s: For, value: ir.Value, emit) -> None:
        state = self.state
        state.loop_depth += 1  # type: ignore[union-attr]
        saved_var, saved_range = state.vars.get(s.var), state.ranges.get(s.var)  # type: ignore[union-attr]
        state.vars[s.var] = value  # type: ignore[union-attr]
        if isinstance(s.min, Const) and isinstance(s.extent, Const):
            state.ranges[s.var] = (s.min.value, s.min.value + s.extent.value - 1)  # type: ignore[union-attr]
        try:
            emit()
        finally:
            state.loop_depth -= 1  # type: ignore[union-attr]
            for table, old in ((state.vars, saved_var), (state.ranges, saved_range)):  # type: ignore[union-attr]
                if old is None:
                    table.pop(s.var, None)
                else:
                    table[s.var] = old

    def unrolled(self, s: For, lo: int, n: int) -> None:
        for k in range(n):
            self._bind(s, i64(lo + k), lambda: self.stmt(s.body))


def _reads_memory(e: Expr) -> bool:
    return reads_memory(e)


def _const_cast(value, ty):
    if isinstance(value, ir.Constant) and not isinstance(value.type, ir.VectorType):
        return ir.Constant(ty, int(value.constant))
    return None


_INTRINSIC_ARITY = {"llvm.maximum": 2, "llvm.minimum": 2, "llvm.pow": 2}


def _fbits(ty) -> int:
    return 32 if ty == F32 else 64


#: LLVM cuts local names at 1024 characters when it reads IR back (two long names that agree
#: there would clash), so longer ones keep a prefix and a hash of the whole name
_MAX_LOCAL_NAME = 200


def _ident(name: str) -> str:
    text = identifier(name, keep=".", prefix="")
    if len(text) <= _MAX_LOCAL_NAME:
        return text
    import hashlib

    return f"{text[:_MAX_LOCAL_NAME - 17]}.{hashlib.sha256(text.encode()).hexdigest()[:16]}"

