"""Vectorized loops as explicit LLVM vector code: one iteration of the loop per lane.

Loads and stores whose address moves by one element per lane become vector loads and stores;
addresses that do not move become scalars (broadcast where needed); other addresses are
gathered or scattered lane by lane. A guard whose condition differs between lanes runs the
vector code when it holds on every lane, else the loop's iterations one by one (the tail). A
body this cannot express (nested loops, allocations, divisions of lane-dependent integers,
loads under a lane-dependent choice, run-time subscript checks) runs as an ordinary loop, and
so does one that uses the types and operators added after the first release (8- and 16-bit
and unsigned integers, float16, bitwise operators, shifts, the intrinsics of
:mod:`tensorir.intrinsics`): those are compiled lane by lane, correct but not vectorized.
"""

from __future__ import annotations

from functools import lru_cache

from llvmlite import ir

from tensorir.analysis import free_vars, linear_form, reads_memory
from tensorir.buffer import Scope
from tensorir.conditions import conjunction, conjuncts
from tensorir.dtypes import CLASSIC_TYPES, DType
from tensorir.expr import (
    BITWISE,
    SHIFTS,
    Binary,
    BinaryOp,
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
from tensorir.stmt import For, ForKind, IfThenElse, Seq, Stmt, Store
from tensorir.visitor import walk

from .arith import add_i64
from .fold import known_condition
from .types import F32, F64, I1, I32, I64, SIZE, STORAGE, VALUE, VOID, i64

MAX_LANES = 64
_VECTOR_FUNCS = frozenset({Func.EXP, Func.LOG, Func.SQRT, Func.TANH, Func.ABS, Func.SIGMOID,
                           Func.ASSUME_IN_BOUNDS})
_LANE_UNSAFE_INT = frozenset({BinaryOp.FLOORDIV, BinaryOp.FLOORMOD, BinaryOp.POW, BinaryOp.DIV})


def _depends(e: Expr | Stmt, v: Var) -> bool:
    return v in free_vars(e)


@lru_cache(maxsize=4096)
def _access_kind(offset: Expr, v: Var) -> str:
    """``uniform`` (same element on every lane), ``contiguous`` (next element per lane) or
    ``strided``, from the flat element offset of an access."""
    form = linear_form(offset)
    if form is None:
        return "strided"
    terms, _ = form
    if any(term is not v and _depends(term, v) for term in terms):
        return "strided"
    coefficient = terms.get(v, 0)
    return {0: "uniform", 1: "contiguous"}.get(coefficient, "strided")


@lru_cache(maxsize=1 << 14)
def _expr_ok(e: Expr, v: Var) -> bool:
    """Whether every lane of ``e`` can be computed at once (memoised per node: a subexpression
    shared in a graph is checked once)."""
    if not _depends(e, v):
        return True
    if not _classic(e):
        return False  # the newer types and operators run lane by lane (a scalar loop)
    match e:
        case Var() | Const() | BufferLoad():
            return True
        case Binary(op=op, a=a, b=b):
            if not a.dtype.is_float and op in _LANE_UNSAFE_INT:
                return False
            return _expr_ok(a, v) and _expr_ok(b, v)
        case Unary(a=a) | Cast(value=a):
            return _expr_ok(a, v)
        case Call(args=args):
            return all(_expr_ok(a, v) for a in args)
        case Select(cond=c, true_value=t, false_value=f):
            return all(_expr_ok(x, v) for x in (c, t, f))
    return False


def _classic(e: Expr) -> bool:
    """Whether ``e`` is of a type and operator the vector code handles (see the module docstring)."""
    if e.dtype not in CLASSIC_TYPES:
        return False
    match e:
        case Binary(op=op, a=a):
            return op not in BITWISE and op not in SHIFTS and a.dtype in CLASSIC_TYPES
        case Unary(op=UnaryOp.BIT_NOT):
            return False
        case Cast(value=a):
            return a.dtype in CLASSIC_TYPES
        case Call(func=func, args=args):
            return func in _VECTOR_FUNCS and all(a.dtype in CLASSIC_TYPES for a in args)
    return True


def _stmt_ok(s: Stmt, v: Var) -> bool:
    match s:
        case Store(buffer=buffer) if buffer.dtype not in CLASSIC_TYPES:
            return False
        case Store(indices=(offset,), value=value):
            kind = _access_kind(offset, v)
            if kind == "uniform" and _depends(value, v):
                return False  # every lane would write one element: a reduction across lanes
            return _expr_ok(value, v)
        case Seq(stmts=stmts):
            return all(_stmt_ok(x, v) for x in stmts)
        case IfThenElse(cond=cond, then_body=then_body, else_body=else_body):
            if else_body is not None and _depends(cond, v):
                return False
            return _expr_ok(cond, v) and _stmt_ok(then_body, v) and (
                else_body is None or _stmt_ok(else_body, v))
    return False


def _chunks(lanes: int, native: int) -> list[tuple[int, int]]:
    """(first lane, width) pieces: native-width vectors, then power-of-two pieces of the rest."""
    pieces, start = [], 0
    while start < lanes:
        width = native if lanes - start >= native else 1 << ((lanes - start).bit_length() - 1)
        pieces.append((start, width))
        start += width
    return pieces


#: native vectors per LLVM vector value: instruction selection splits a double-width vector into
#: two registers with the same instructions, and the IR (and every LLVM pass over it) halves
WIDE = 2


def _vector_plan(cg, loop: For) -> int:
    """The lanes per vector piece of ``loop``, 0 where it runs as an ordinary loop; memoised per
    loop node in ``cg`` (an unrolled outer loop emits the same vectorized loop many times)."""
    plans = cg.__dict__.setdefault("_vector_plans", {})
    key = id(loop)
    if key in plans and plans[key][0] is loop:
        return plans[key][1]
    lanes = loop.extent.value if isinstance(loop.extent, Const) else 0
    nodes = list(walk(loop.body))
    # a run-time subscript check branches per element: such a body runs lane by lane
    checked = any(isinstance(n, CheckedIndex) for n in nodes)
    if not 2 <= lanes <= MAX_LANES or checked or not _stmt_ok(loop.body, loop.var):
        native = 0
    else:
        widest = max((SIZE[n.buffer.dtype] for n in nodes if isinstance(n, (Store, BufferLoad))), default=4)
        native = max(2, cg.vector_bytes // widest) * WIDE
    plans[key] = (loop, native)
    return native


def emit_vectorized(cg, loop: For) -> None:
    native = _vector_plan(cg, loop)
    if not native:
        cg.loop(loop, lambda: cg.stmt(loop.body))
        return
    lanes = loop.extent.value
    base = cg.as_i64(cg.expr(loop.min))
    for first, width in _chunks(lanes, native):
        chunk_base = base if first == 0 else cg.b.add(base, i64(first))
        if width == 1:
            tail = For(loop.var, loop.min, Const(1, loop.extent.dtype), ForKind.SERIAL, loop.body)
            cg.loop(tail, lambda: cg.stmt(loop.body), start=chunk_base, stop=cg.b.add(chunk_base, i64(1)))
        else:
            _VectorBody(cg, loop, width, chunk_base).emit()


@lru_cache(maxsize=256)
def _splat_operands(element: ir.Type, lanes: int) -> tuple[ir.Constant, ir.Constant]:
    """The undefined vector and the all-zero shuffle mask of a broadcast, made once: llvmlite
    formats a constant's text once per object, and these appear in every broadcast."""
    return (ir.Constant(ir.VectorType(element, lanes), ir.Undefined),
            ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))


@lru_cache(maxsize=1024)
def _constant_splat(element: ir.Type, lanes: int, value, text: str) -> ir.Constant:
    """A constant broadcast as a vector constant (no instructions); ``text`` (the value's repr)
    keeps apart the values that compare equal, 0.0 and -0.0."""
    return ir.Constant(ir.VectorType(element, lanes), [value] * lanes)




class _VectorBody:
    def __init__(self, cg, loop: For, lanes: int, base: ir.Value):
        self.cg, self.loop, self.lanes, self.v = cg, loop, lanes, loop.var
        self.base = base
        #: lanes whose iteration runs, under a lane-dependent guard (None: all)
        self.mask: ir.Value | None = None
        #: vectors computed for the statement being written: (block, node, mask) -> value, so
        #: a node shared in one statement (IR is a graph) is emitted once
        self.values: dict = {}

    @property
    def b(self) -> ir.IRBuilder:
        return self.cg.b

    def emit(self) -> None:
        self.cg._bind(self.loop, self.base, lambda: self.stmt(self.loop.body))

    # -- values ----------------------------------------------------------------------------
    def splat(self, value: ir.Value) -> ir.Value:
        if isinstance(value.type, ir.VectorType):
            return value
        if isinstance(value, ir.Constant) and not isinstance(value.constant, (list, tuple)):
            return _constant_splat(value.type, self.lanes, value.constant, repr(value.constant))
        undef, mask = _splat_operands(value.type, self.lanes)
        one = self.b.insert_element(undef, value, i64(0))
        return self.b.shuffle_vector(one, undef, mask)

    def at_lane(self, lane: int, emit):
        """``emit()`` with the loop variable fixed to lane ``lane``."""
        value = add_i64(self.b, self.base, i64(lane))
        state = self.cg.state
        saved = state.vars[self.v]
        state.vars[self.v] = value
        try:
            return emit()
        finally:
            state.vars[self.v] = saved

    def expr(self, e: Expr) -> ir.Value:
        if not _depends(e, self.v):
            return self.cg.expr(e)
        key = (id(self.b.block), e, id(self.mask))
        value = self.values.get(key)
        if value is None:
            value = self.values[key] = self._vector(e)
        return value

    def _vector(self, e: Expr) -> ir.Value:
        cg = self.cg
        match e:
            case Var():
                step = ir.Constant(ir.VectorType(I64, self.lanes), list(range(self.lanes)))
                return self.b.add(self.splat(self.base), step)
            case BufferLoad():
                return self.load(e)
            case Binary(op=op, a=a, b=b):
                va, vb = self.expr(a), self.expr(b)
                va, vb = self.splat(va), self.splat(vb)
                va, vb = self.widen(va, vb)
                return cg.arith(op, va, vb, a.dtype, a, b)
            case Unary(op=UnaryOp.NEG, a=a):
                x = self.splat(self.expr(a))
                if a.dtype.is_float:
                    return self.b.fneg(x)
                return self.b.sub(ir.Constant(x.type, [0] * self.lanes), x)
            case Unary(op=UnaryOp.NOT, a=a):
                x = self.splat(self.expr(a))
                return self.b.xor(x, ir.Constant(x.type, [1] * self.lanes))
            case Call(func=func, args=args):
                return cg.call(func, [self.splat(self.expr(x)) for x in args], args[0].dtype)
            case Cast(value=value, dtype=dtype):
                return cg.convert(self.splat(self.expr(value)), value.dtype, dtype)
            case Select(cond=c, true_value=t, false_value=f):
                known = None if _depends(c, self.v) else known_condition(c, cg.state.vars)
                if known is not None:
                    return self.expr(t if known else f)
                cond = self.splat(self.expr(c))
                if not (reads_memory(t) or reads_memory(f)):
                    tv, fv = self.widen(self.splat(self.expr(t)), self.splat(self.expr(f)))
                    return self.b.select(cond, tv, fv)
                # each side reads memory only on the lanes that choose it
                ones = ir.Constant(cond.type, [1] * self.lanes)
                tv = self.under_mask(cond, lambda: self.splat(self.expr(t)))
                fv = self.under_mask(self.b.xor(cond, ones), lambda: self.splat(self.expr(f)))
                tv, fv = self.widen(tv, fv)
                return self.b.select(cond, tv, fv)
        raise AssertionError(f"vector: unchecked expression {e}")  # _expr_ok rules these out

    def under_mask(self, mask, emit):
        saved = self.mask
        self.mask = mask if saved is None else self.b.and_(mask, saved)
        try:
            return emit()
        finally:
            self.mask = saved

    def widen(self, a, b):
        ea, eb = a.type.element, b.type.element
        if isinstance(ea, ir.IntType) and ea != eb and ea != I1:
            wide = ir.VectorType(ea if ea.width > eb.width else eb, self.lanes)
            a = a if a.type == wide else self.b.sext(a, wide)
            b = b if b.type == wide else self.b.sext(b, wide)
        return a, b

    def vector_pointer(self, access: BufferLoad | Store) -> ir.Value:
        buffer = access.buffer
        offset = self.cg.offset(access)  # the loop variable is bound to lane 0
        pointer = self.cg.pointer(buffer, offset)
        known = self.cg.state.pointers  # type: ignore[union-attr]
        key = (id(self.b.block), pointer, self.lanes)
        found = known.get(key)
        if found is None:
            found = known[key] = self.b.bitcast(pointer, ir.VectorType(STORAGE[buffer.dtype], self.lanes).as_pointer())
        return found

    def masked(self, name: str, ret, args):
        vty = ret if ret is not None and ret != VOID else args[0].type
        suffix = f"v{self.lanes}{_scalar_suffix(vty.element)}.p0"
        fn = self.cg.declare(f"llvm.masked.{name}.{suffix}", ret or VOID, [a.type for a in args])
        return self.b.call(fn, args)

    def needs_mask(self, access: BufferLoad | Store) -> bool:
        """Whether masked-off lanes must not touch memory. A register tile (a ``local`` buffer
        whose innermost index is the vector loop itself, over its whole extent) holds every lane
        the loop can name; lanes outside the iteration domain only hold values nobody reads."""
        if self.mask is None:
            return False
        buffer, logical = access.buffer, access.logical
        last = logical[-1] if logical else None
        whole = isinstance(self.loop.extent, Const) and buffer.shape and isinstance(buffer.shape[-1], int) \
            and buffer.shape[-1] >= self.loop.extent.value
        return not (buffer.scope is Scope.LOCAL and last is self.v and whole)

    def load(self, access: BufferLoad) -> ir.Value:
        buffer, cg = access.buffer, self.cg
        kind = _access_kind(access.indices[0], self.v)
        if kind == "contiguous":
            pointer = self.vector_pointer(access)
            vty = ir.VectorType(STORAGE[buffer.dtype], self.lanes)
            if not self.needs_mask(access):
                value = self.b.load(pointer, align=SIZE[buffer.dtype])
            else:
                align = ir.Constant(I32, SIZE[buffer.dtype])
                value = self.masked("load", vty, [pointer, align, self.mask, ir.Constant(vty, ir.Undefined)])
            if buffer.dtype is DType.BOOL:
                value = self.b.trunc(value, ir.VectorType(I1, self.lanes))
            return value
        if kind == "uniform":
            if self.mask is None:
                return cg.load(buffer, cg.offset(access))
            return self.if_any_lane(lambda: cg.load(buffer, cg.offset(access)))
        out = None
        for lane in range(self.lanes):
            scalar = self.lane_op(lane, lambda: cg.load(buffer, cg.offset(access)), VALUE[buffer.dtype])
            if out is None:
                out = ir.Constant(ir.VectorType(scalar.type, self.lanes), ir.Undefined)
            out = self.b.insert_element(out, scalar, i64(lane))
        return out

    def if_any_lane(self, emit):
        """``emit()`` run only when some lane is active (undef otherwise)."""
        reduce_or = self.cg.declare(f"llvm.vector.reduce.or.v{self.lanes}i1", I1, [self.mask.type])
        before = self.b.block
        with self.b.if_then(self.b.call(reduce_or, [self.mask])):
            value = emit()
            inside = self.b.block
        phi = self.b.phi(value.type)
        phi.add_incoming(value, inside)
        phi.add_incoming(ir.Constant(value.type, ir.Undefined), before)
        return phi

    def lane_op(self, lane: int, emit, result_type=None):
        """``emit()`` for one lane, skipped (giving undef) where the lane is masked off."""
        if self.mask is None:
            return self.at_lane(lane, emit)
        active = self.b.extract_element(self.mask, i64(lane))
        before = self.b.block
        with self.b.if_then(active):
            value = self.at_lane(lane, emit)
            inside = self.b.block
        if result_type is None:
            return None
        phi = self.b.phi(value.type)
        phi.add_incoming(value, inside)
        phi.add_incoming(ir.Constant(value.type, ir.Undefined), before)
        return phi

    # -- statements ------------------------------------------------------------------------
    def stmt(self, s: Stmt) -> None:
        self.values.clear()  # a store before may have changed what they read
        self.cg.state.shared.clear()
        match s:
            case Store():
                self.store(s)
            case Seq(stmts=stmts):
                for item in stmts:
                    self.stmt(item)
            case IfThenElse(cond=cond, then_body=then_body, else_body=else_body):
                self.branch(s, cond, then_body, else_body)

    def store(self, access: Store) -> None:
        buffer, value, cg = access.buffer, access.value, self.cg
        kind = _access_kind(access.indices[0], self.v)
        if kind == "uniform":
            cg.store(buffer, cg.offset(access), cg.expr(value))
            return
        vector = self.expr(value)
        if kind == "contiguous":
            vector = self.fit(self.splat(vector), buffer.dtype)
            pointer = self.vector_pointer(access)
            if not self.needs_mask(access):
                self.b.store(vector, pointer, align=SIZE[buffer.dtype])
            else:
                self.masked("store", None, [vector, pointer, ir.Constant(I32, SIZE[buffer.dtype]), self.mask])
            return
        for lane in range(self.lanes):
            scalar = self.b.extract_element(vector, i64(lane)) if isinstance(vector.type, ir.VectorType) else vector
            self.lane_op(lane, lambda value=scalar: cg.store(buffer, cg.offset(access), value))

    def fit(self, vector, dtype: DType):
        target = STORAGE[dtype]
        element = vector.type.element
        if dtype is DType.BOOL:
            return self.b.zext(vector, ir.VectorType(target, self.lanes))
        if isinstance(target, ir.IntType) and element != target:
            vty = ir.VectorType(target, self.lanes)
            return self.b.trunc(vector, vty) if element.width > target.width else self.b.sext(vector, vty)
        return vector

    def branch(self, s: IfThenElse, cond: Expr, then_body: Stmt, else_body: Stmt | None) -> None:
        parts = conjuncts(cond)
        uniform = conjunction([p for p in parts if not _depends(p, self.v)])
        lane = conjunction([p for p in parts if _depends(p, self.v)])
        if lane is None:
            c = self.cg.expr(cond)
            if else_body is None:
                with self.b.if_then(c):
                    self.stmt(then_body)
            else:
                with self.b.if_else(c) as (then, otherwise):
                    with then:
                        self.stmt(then_body)
                    with otherwise:
                        self.stmt(else_body)
            return
        if uniform is not None:
            with self.b.if_then(self.cg.expr(uniform)):
                self.lane_guard(lane, then_body)
        else:
            self.lane_guard(lane, then_body)

    def lane_guard(self, lane_cond: Expr, body: Stmt) -> None:
        """``body`` with its memory accesses masked to the lanes where ``lane_cond`` holds
        (skipped when it holds on none, so lane-independent addresses stay valid)."""
        mask = self.splat(self.expr(lane_cond))
        if self.mask is not None:
            mask = self.b.and_(mask, self.mask)
        reduce_or = self.cg.declare(f"llvm.vector.reduce.or.v{self.lanes}i1", I1, [mask.type])
        with self.b.if_then(self.b.call(reduce_or, [mask])):
            saved, self.mask = self.mask, mask
            try:
                self.stmt(body)
            finally:
                self.mask = saved


def _scalar_suffix(element) -> str:
    if element == F32:
        return "f32"
    if element == F64:
        return "f64"
    return f"i{element.width}"
