"""Lowered IR -> Python source: the executable semantics of the IR, one statement per IR node.

Buffers become flat Python lists indexed by the flat offsets of ``flatten_buffers`` (each
per-dimension index is checked unless provably inside its dimension); arithmetic runs on Python
numbers (double precision, unbounded ints) and values are rounded to the buffer type when the
results are copied back. Loops bound to ``threadIdx`` run with CUDA's semantics: every thread
of a block is a generator that yields at each barrier, and no thread passes a barrier before
all threads of its block have reached it.
"""

from __future__ import annotations

import keyword
import math

from tensorir.analysis import interval, safe_divisor
from tensorir.buffer import Buffer, Scope
from tensorir.dtypes import DType
from tensorir.errors import CodegenError
from tensorir.expr import Binary, BinaryOp, BufferLoad, Call, Cast, CheckedIndex, Const, Expr, Func, Select
from tensorir.passes.flatten_buffers import flatten_buffers
from tensorir.stmt import Allocate, Evaluate, For, ForKind, IfThenElse, PrimFunc, Seq, Stmt, Store
from tensorir.thread_reduce import ThreadAllReduce, ThreadCombine
from tensorir.visitor import walk

from ..loop_guard import guard_bound
from ..source import ADD, AND, ATOM, COND, MUL, NOT, OR, REL, UNARY, SourcePrinter
from .runtime import NAMESPACE, THREAD_AXES
from .typed import FUNCS, converter, needs_fit

#: Python's comparisons share one level and chain, so a comparison operand is always wrapped
_INFIX = {
    BinaryOp.ADD: ("+", ADD), BinaryOp.SUB: ("-", ADD), BinaryOp.MUL: ("*", MUL),
    BinaryOp.FLOORDIV: ("//", MUL), BinaryOp.FLOORMOD: ("%", MUL),
    BinaryOp.EQ: ("==", REL), BinaryOp.NE: ("!=", REL), BinaryOp.LT: ("<", REL),
    BinaryOp.LE: ("<=", REL), BinaryOp.GT: (">", REL), BinaryOp.GE: (">=", REL),
    BinaryOp.AND: ("and", AND), BinaryOp.OR: ("or", OR),
}
_HELPERS = {
    BinaryOp.DIV: "_div", BinaryOp.MAX: "_max", BinaryOp.MIN: "_min", BinaryOp.POW: "_pow",
}
_FUNCS = {Func.EXP: "_exp", Func.LOG: "_log", Func.SQRT: "_sqrt", Func.TANH: "_tanh",
          Func.ABS: "abs", Func.SIGMOID: "_sigmoid"}
_FUNCS.update(FUNCS)
_BITWISE = {BinaryOp.BIT_AND: "&", BinaryOp.BIT_OR: "|", BinaryOp.XOR: "^"}
_MAX_NESTING = 16  # CPython refuses more than 20 statically nested blocks in one function


def _plain_division(e: Binary, ranges) -> bool:
    """Whether Python's own ``//``/``%`` give the IR's result: the divisor is provably nonzero
    (and, for integers, not -1: ``INT_MIN // -1`` must wrap as it does in the IR's type)."""
    if e.dtype.is_int:
        return safe_divisor(e.b, ranges)
    return isinstance(e.b, Const) and e.b.value != 0


def _is_thread_loop(node: Stmt) -> bool:
    return isinstance(node, For) and node.kind is ForKind.THREAD_BINDING \
        and node.thread_tag.startswith("threadIdx")


def _has_thread_loop(node: Stmt) -> bool:
    return any(isinstance(n, Stmt) and _is_thread_loop(n) for n in walk(node))


def _has_block_loop(node: Stmt) -> bool:
    return any(isinstance(n, For) and n.kind is ForKind.THREAD_BINDING
               and n.thread_tag.startswith("blockIdx") for n in walk(node))


class PySource(SourcePrinter):
    """Writes the Python function for one PrimFunc."""

    language = "Python"
    indent = "    "
    INFIX = _INFIX
    NON_ASSOCIATIVE = frozenset({REL})
    RESERVED = frozenset(keyword.kwlist) | frozenset(NAMESPACE) | {"range", "abs", "float", "bool"}
    NOT_ = ("not ", NOT)
    else_line, block_end = "else:", ""
    forever = "while True:"

    def loop_exit(self, cond: str) -> str:
        return f"if not ({cond}): break"

    def __init__(self, func: PrimFunc):
        super().__init__()
        self.func = func
        self.in_threads = False
        self.counter = 0
        self.dims = [1, 1, 1]
        self.in_block_loop = False
        self.ranges: dict = {}
        #: the block-level exchange of each cross-thread reduction
        self.exchanges: dict = {}
        #: the indentation depth where the body of the function being written starts
        self.base = 1

    def cannot(self, what: str) -> str:
        return f"interp: cannot execute {what}"

    NAME_PREFIX = "v"

    def if_header(self, cond: str) -> str:
        return f"if {cond}:"

    # expressions -------------------------------------------------------------------------
    def const(self, node: Const) -> str:
        value = node.value
        if isinstance(value, float) and not math.isfinite(value):
            return "_nan" if math.isnan(value) else ("_inf" if value > 0 else "(-_inf)")
        return repr(value)

    def infix(self, e: Binary, symbol: str, precedence: int) -> tuple[str, int]:
        if e.op in (BinaryOp.FLOORDIV, BinaryOp.FLOORMOD) and not _plain_division(e, self.ranges):
            helper = "_floordiv" if e.op is BinaryOp.FLOORDIV else "_floormod"
            if e.dtype.is_unsigned:  # no overflow to wrap, only the zero divisor
                return f"_u{helper[1:]}({self.expr(e.a)}, {self.expr(e.b)})", ATOM
            bits = e.dtype.bits if e.dtype.is_int else 0
            return f"{helper}({self.expr(e.a)}, {self.expr(e.b)}, {bits})", ATOM
        return super().infix(e, symbol, precedence)

    def temporary(self, name: str, text: str, node) -> str:
        return f"{name} = {text}"

    def checked_index(self, e: CheckedIndex) -> str:
        extent = self.expr(e.extent) if isinstance(e.extent, Expr) else e.extent  # symbolic: n
        return f"_chk({self.expr(e.value)}, {extent}, {e.site!r})"

    def _expr(self, e: Expr) -> tuple[str, int]:
        text, precedence = super()._expr(e)
        if e not in self.overrides and needs_fit(e, self.ranges):
            return f"{converter(e.dtype)}({text})", ATOM
        return text, precedence

    def binary(self, e: Binary) -> tuple[str, int]:
        if e.op in _BITWISE:
            return f"({self._wrap(e.a, UNARY)} {_BITWISE[e.op]} {self._wrap(e.b, UNARY)})", ATOM
        if e.op in (BinaryOp.SHL, BinaryOp.SHR):
            helper = "_shl" if e.op is BinaryOp.SHL else "_shr"
            return f"{helper}({self.expr(e.a)}, {self.expr(e.b)}, {e.dtype.bits})", ATOM
        return f"{_HELPERS[e.op]}({self.expr(e.a)}, {self.expr(e.b)})", ATOM

    def cast(self, e: Cast) -> tuple[str, int]:
        source, target = e.value.dtype, e.dtype
        if target.is_int and source.is_int:
            known = interval(e.value, self.ranges)
            if known is not None and target.min <= known[0] and known[1] <= target.max:
                return self._expr(e.value)  # the value is the same in the new type
        if target is DType.FLOAT32 and (source.is_int and source.bits > 24 or source is DType.FLOAT64):
            return f"_f32({self.expr(e.value)})", ATOM  # the value float32 holds, not double's
        if target in (DType.FLOAT32, DType.FLOAT64):
            return f"float({self.expr(e.value)})", ATOM
        if source is DType.FLOAT32:
            # float32 arithmetic runs in double here: round to float32 before an integer or half
            # conversion, whose result would otherwise see the extra precision
            return f"{converter(target)}(_f32({self.expr(e.value)}))", ATOM
        return f"{converter(target)}({self.expr(e.value)})", ATOM

    def select(self, e: Select) -> tuple[str, int]:
        return (f"{self._wrap(e.true_value, COND + 1)} if {self._wrap(e.cond, COND + 1)} "
                f"else {self._wrap(e.false_value, COND)}"), COND

    def call(self, func, args, dtype) -> str:
        if func is Func.REINTERPRET:
            return f"_reinterpret({self.expr(args[0])}, {args[0].dtype.value!r}, {dtype.value!r})"
        if func is Func.POPCOUNT:
            return f"_popcount({self.expr(args[0])}, {args[0].dtype.bits})"
        if func is Func.CLZ:
            return f"_clz({self.expr(args[0])}, {args[0].dtype.bits})"
        if func is Func.NEXTAFTER and dtype is DType.FLOAT32:
            return f"_nextafter32({self.expr(args[0])}, {self.expr(args[1])})"
        return f"{_FUNCS[func]}({', '.join(self.expr(a) for a in args)})"

    def offset(self, access: BufferLoad | Store) -> str:
        """The flat offset of an access; an index not provably inside its dimension (from the
        loop ranges) is checked when it runs, so an access out of bounds fails loudly instead
        of reading a neighbouring element."""
        (flat,) = access.indices
        text, buffer = self.expr(flat), access.buffer
        checks = []
        for dim, (index, extent) in enumerate(zip(access.logical or (), buffer.shape)):
            bounds = interval(index, self.ranges)
            if not isinstance(extent, int):  # a symbolic dimension: checked against its value
                checks.append(f"{self.expr(index)}, {self.expr(extent)}, {dim}")
            elif bounds is None or bounds[0] < 0 or bounds[1] >= extent:
                checks.append(f"{self.expr(index)}, {extent}, {dim}")
        return f"_ck({text}, {buffer.name!r}, {', '.join(checks)})" if checks else text

    # statements --------------------------------------------------------------------------
    def nested(self, s: Stmt, depth: int) -> None:
        """``s`` in a function of its own, called in place: a deep nest would otherwise pass the
        number of blocks CPython nests in one function."""
        self.counter += 1
        fn = f"_nest{self.counter}"
        self.emit(f"def {fn}():", depth)
        base, self.base = self.base, depth + 1
        self.stmt(s, depth + 1)
        if self.in_threads:
            self.emit("if False:", depth + 1)
            self.emit("yield", depth + 2)
        self.base = base
        # a barrier inside yields through the caller, which is the thread's generator
        self.emit(f"yield from {fn}()" if self.in_threads else f"{fn}()", depth)

    def stmt(self, s: Stmt, depth: int) -> None:
        if isinstance(s, For) and isinstance(s.min, Const) and isinstance(s.extent, Const):
            self.ranges[s.var] = (s.min.value, s.min.value + s.extent.value - 1)
        # a thread block is the body of the innermost blockIdx loop or, outside any, one root nest:
        # separate root nests are separate kernel launches
        if not self.in_threads and _has_thread_loop(s) and not _has_block_loop(s) \
                and (self.in_block_loop or not isinstance(s, (Seq, Allocate))):
            self.thread_block(s, depth)
            return
        if depth - self.base >= _MAX_NESTING and isinstance(s, (For, IfThenElse)):
            self.nested(s, depth)
            return
        match s:
            case Seq(stmts=()):
                self.emit("pass", depth)
            case Evaluate(value=Call(func=Func.BARRIER)):
                self.emit("yield" if self.in_threads else "pass", depth)
            case Evaluate(value=Call(func=Func.PREFETCH)):
                self.emit("pass", depth)  # a hint to the memory system: nothing to compute
            case Store(value=ThreadAllReduce()):
                self.thread_allreduce(s, depth)
            case _:
                super().stmt(s, depth)

    def loop(self, s: For, depth: int) -> None:
        var, lo, extent, body = s.var, s.min, s.extent, s.body
        if _is_thread_loop(s):
            if not self.in_threads:  # it encloses a blockIdx loop (as the CUDA backend refuses too)
                inner = next((n for n in walk(s.body) if isinstance(n, For) and n.kind is ForKind.THREAD_BINDING
                              and n.thread_tag.startswith("blockIdx")), s)
                raise CodegenError(f"interp: loop {inner.var.name} bound to {inner.thread_tag} sits inside loop "
                                   f"{var.name} bound to {s.thread_tag}; blockIdx loops must enclose the "
                                   "threadIdx loops: reorder them")
            axis = THREAD_AXES[s.thread_tag]
            self.emit(f"{self.name(var)} = _t{axis} + {self.expr(lo)}", depth)
            if isinstance(extent, Const) and extent.value == self.dims[axis]:
                self.stmt(body, depth)
            else:
                self.emit(f"if _t{axis} < {self.expr(extent)}:", depth)
                self.stmt(body, depth + 1)
            return
        start = self.expr(lo)
        end = f"{start} + {self.expr(extent)}"
        bound = None if isinstance(extent, Const) else guard_bound(s)
        if bound is not None:  # stop where the guard of an imperfect split fails for good
            end = f"min({end}, {self.expr(bound[0])} - ({self.expr(bound[1])}))"
        self.emit(f"for {self.name(var)} in range({start}, {end}):", depth)
        saved = self.in_block_loop
        self.in_block_loop = saved or s.kind is ForKind.THREAD_BINDING
        self.stmt(body, depth + 1)
        self.in_block_loop = saved

    def allocate(self, s: Allocate, depth: int) -> None:
        self.declare(s.buffer, depth)
        self.stmt(s.body, depth)

    def declare(self, buffer: Buffer, depth: int) -> None:
        # Fresh memory reads as NaN (or a sentinel int), so reading what was never written shows.
        fill = "_nan" if buffer.dtype.is_float else ("False" if buffer.dtype.name == "BOOL" else "-7")
        size = buffer.size if isinstance(buffer.size, int) else self.expr(buffer.size)
        self.emit(f"{self.name(buffer)} = [{fill}] * {size}", depth)

    def thread_block(self, s: Stmt, depth: int) -> None:
        """Run ``s`` once per thread of a block, all threads in lock step between barriers."""
        dims = [1, 1, 1]
        for node in walk(s):
            if isinstance(node, Stmt) and _is_thread_loop(node):
                if not isinstance(node.extent, Const):
                    raise CodegenError(f"interp: thread loop {node.var.name} needs a constant extent")
                axis = THREAD_AXES[node.thread_tag]
                dims[axis] = max(dims[axis], node.extent.value)
        for node in walk(s):
            if isinstance(node, Allocate) and node.buffer.scope is not Scope.LOCAL:
                self.declare(node.buffer, depth)
            elif isinstance(node, ThreadAllReduce):
                self.exchanges[node] = self.fresh("_exchange")
                self.emit(f"{self.exchanges[node]} = {{}}", depth)
        self.counter += 1
        fn = f"_threads{self.counter}"
        self.emit(f"def {fn}(_t0, _t1, _t2):", depth)
        self.in_threads, self.dims = True, dims
        base, self.base = self.base, depth + 1
        self.stmt(_strip_block_allocations(s), depth + 1)
        self.in_threads, self.base = False, base
        self.emit("if False:", depth + 1)
        self.emit("yield", depth + 2)
        self.emit(f"_run_block({fn}, {tuple(dims)}, {self.func.name!r})", depth)

    def thread_allreduce(self, s: Store, depth: int) -> None:
        """Each thread leaves its value in the block's exchange; after a barrier step every
        thread reads the reduction of its group's values, and a second step keeps a later
        exchange from overwriting values not yet read."""
        node: ThreadAllReduce = s.value  # type: ignore[assignment]
        if not self.in_threads:
            raise CodegenError(self.cannot(f"{node} outside the threads of a block"))
        if isinstance(node, ThreadCombine):
            self.thread_combine(s, node, depth)
            return
        exchange = self.exchanges[node]
        bound = self.temporaries((node.value, *s.indices), depth)
        self.emit(f"{exchange}[(_t0, _t1, _t2)] = {self.expr(node.value)}", depth)
        self.emit("yield", depth)
        self.emit(f"{self.name(s.buffer)}[{self.offset(s)}] = _allreduce({node.op.value!r}, {exchange}, "
                  f"_t1, _t2, {node.threads})", depth)
        self.emit("yield", depth)
        self.release(bound)

    def thread_combine(self, s: Store, node: ThreadCombine, depth: int) -> None:
        """As :meth:`thread_allreduce`, with the tuple of values and the user's reducer as a
        local function of the accumulated and the new tuple."""
        exchange, combiner = self.exchanges[node], node.combiner
        combine = self.fresh("_combine")
        params = [self.fresh(v.name) for v in (*combiner.lhs, *combiner.rhs)]
        self.overrides.update(zip((*combiner.lhs, *combiner.rhs), params))
        results = ", ".join(self.expr(result) for result in combiner.results)
        for var in (*combiner.lhs, *combiner.rhs):
            del self.overrides[var]
        self.emit(f"def {combine}({', '.join(params)}):", depth)
        self.emit(f"return ({results},)", depth + 1)
        bound = self.temporaries((*node.values, *s.indices), depth)
        self.emit(f"{exchange}[(_t0, _t1, _t2)] = ({', '.join(self.expr(v) for v in node.values)},)", depth)
        self.emit("yield", depth)
        self.emit(f"{self.name(s.buffer)}[{self.offset(s)}] = _allreduce_with({combine}, {exchange}, "
                  f"_t1, _t2, {node.threads})[{node.index}]", depth)
        self.emit("yield", depth)
        self.release(bound)

    def source(self) -> str:
        params = [self.name(p) for p in (*self.func.params, *self.func.scalars)]
        self.emit(f"def kernel({', '.join(params)}):", 0)
        self.stmt(self.func.body, 1)
        self.emit("return None", 1)
        return "\n".join(self.lines) + "\n"


def _strip_block_allocations(s: Stmt) -> Stmt:
    from tensorir.visitor import Mutator

    class Strip(Mutator):
        def rewrite(self, node):
            if isinstance(node, Allocate) and node.buffer.scope is not Scope.LOCAL:
                return self.visit(node.body)
            return None

    return Strip()(s)


def python_source(func: PrimFunc) -> str:
    """The Python text of ``func`` as a function ``kernel`` over flat lists."""
    return PySource(flatten_buffers(func)).source()

