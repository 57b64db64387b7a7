"""C-family source printing: names, types, literals, expressions with C precedence, loops,
guards and stores. A target subclasses :class:`CPrinter` for what differs (thread indices,
memory spaces, vector accesses, special constants)."""

from __future__ import annotations

import math
import re

import numpy as np

from tensorir.buffer import Buffer
from tensorir.dtypes import DType
from tensorir.errors import CodegenError
from tensorir.expr import (
    Binary,
    BinaryOp,
    BufferLoad,
    Call,
    Cast,
    Const,
    Expr,
    Func,
    Select,
    Unary,
    UnaryOp,
    Var,
    binary,
)
from tensorir.passes.simplify import simplify_expr
from tensorir.stmt import Allocate, Evaluate, For, ForKind, IfThenElse, Seq, Stmt, Store

from .arith import Bounds, bounds, nonnegative, positive

C_TYPES = {DType.BOOL: "bool", DType.INT32: "int", DType.INT64: "long long",
           DType.FLOAT32: "float", DType.FLOAT64: "double"}

#: names the generated code must not declare: C++ keywords, CUDA built-ins, math functions
RESERVED = frozenset("""
    auto bool break case char const continue default do double else enum extern float for goto if
    inline int long register restrict return short signed sizeof static struct switch typedef union
    unsigned void volatile while class delete new namespace operator private public protected
    template this throw try catch typename virtual true false nullptr friend using asm
    threadIdx blockIdx blockDim gridDim warpSize main max min abs llabs exp expf log logf sqrt sqrtf
    tanh tanhf pow powf fabs fabsf fmod floor copysign float4 dim3 size_t
""".split())

_ATOM, _UNARY, _MUL, _ADD, _REL, _EQ, _AND, _OR, _COND = 16, 14, 13, 12, 10, 9, 5, 4, 3
_INFIX = {
    BinaryOp.ADD: ("+", _ADD), BinaryOp.SUB: ("-", _ADD), BinaryOp.MUL: ("*", _MUL),
    BinaryOp.DIV: ("/", _MUL), BinaryOp.LT: ("<", _REL), BinaryOp.LE: ("<=", _REL),
    BinaryOp.GT: (">", _REL), BinaryOp.GE: (">=", _REL), BinaryOp.EQ: ("==", _EQ),
    BinaryOp.NE: ("!=", _EQ), BinaryOp.AND: ("&&", _AND), BinaryOp.OR: ("||", _OR),
}
_FLOAT_MATH = {Func.EXP: "exp", Func.LOG: "log", Func.SQRT: "sqrt", Func.TANH: "tanh", Func.ABS: "fabs"}


class CPrinter:
    """Prints statements and expressions of lowered IR as C, one instance per function."""

    indent = "  "

    def __init__(self) -> None:
        self.names: dict[object, str] = {}
        self.taken: set[str] = set()
        self.lines: list[str] = []
        self.ranges: dict[Var, Bounds] = {}
        #: text to print instead of a node (a vector lane, a variable's value in one lane)
        self.overrides: dict[object, str] = {}
        #: helper functions the printed code calls (see the target's preamble)
        self.helpers: set[str] = set()

    # -- names and lines -------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        base = re.sub(r"\W", "_", hint) or "v"
        if base[0].isdigit() or base.startswith("_") or base.startswith("nestor_"):
            base = f"v_{base}"
        name, n = base, 1
        while name in self.taken or name in RESERVED:
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

    # -- literals --------------------------------------------------------------------------
    def special_float(self, value: float, dtype: DType) -> str:
        if math.isnan(value):
            return "NAN"
        return "INFINITY" if value > 0 else "-INFINITY"

    def const(self, node: Const) -> str:
        value, dtype = node.value, node.dtype
        if dtype is DType.BOOL:
            return "true" if value else "false"
        if dtype.is_int:
            return f"{value}LL" if dtype is DType.INT64 else str(value)
        if not math.isfinite(value):
            return self.special_float(value, dtype)
        if dtype is DType.FLOAT32:
            return f"{float(str(np.float32(value)))!r}f"
        return repr(float(value))

    # -- expressions -----------------------------------------------------------------------
    def expr(self, e: Expr) -> str:
        return self._expr(e)[0]

    def _wrap(self, e: Expr, parens_below: int) -> str:
        text, precedence = self._expr(e)
        return f"({text})" if precedence < parens_below else text

    def _expr(self, e: Expr) -> tuple[str, int]:
        override = self.overrides.get(e)
        if override is not None:
            return override, _ATOM
        match e:
            case Var():
                return self.name(e), _ATOM
            case Const():
                text = self.const(e)
                return text, (_UNARY if text.startswith("-") else _ATOM)
            case Binary():
                return self.binary(e)
            case Unary(op=UnaryOp.NEG, a=a):
                text, precedence = self._expr(a)
                parens = precedence < _UNARY or text.startswith("-")
                return f"-({text})" if parens else f"-{text}", _UNARY
            case Unary(op=UnaryOp.NOT, a=a):
                return f"!{self._wrap(a, _UNARY)}", _UNARY
            case Cast(value=value, dtype=dtype):
                return f"({C_TYPES[dtype]}){self._wrap(value, _UNARY)}", _UNARY
            case Select(cond=c, true_value=t, false_value=f):
                return (f"{self._wrap(c, _COND + 1)} ? {self._wrap(t, _COND + 1)} : "
                        f"{self._wrap(f, _COND)}"), _COND
            case Call(func=func, args=args):
                return self.call(func, args, e.dtype), _ATOM
            case BufferLoad(buffer=buffer):
                return f"{self.name(buffer)}[{self.offset(e)}]", _ATOM
        raise CodegenError(f"cannot print expression {e} as C")

    def binary(self, e: Binary) -> tuple[str, int]:
        op, a, b = e.op, e.a, e.b
        integer = a.dtype.is_int
        if op in (BinaryOp.FLOORDIV, BinaryOp.FLOORMOD):
            if integer and nonnegative(a, self.ranges) and positive(b, self.ranges):
                symbol = "/" if op is BinaryOp.FLOORDIV else "%"
                return f"{self._wrap(a, _MUL)} {symbol} {self._wrap(b, _MUL + 1)}", _MUL
            helper = ("nestor_floordiv" if op is BinaryOp.FLOORDIV else "nestor_floormod") \
                + ("" if integer else "_float")
            return self.helper_call(helper, a, b), _ATOM
        if op in (BinaryOp.MAX, BinaryOp.MIN):
            if integer or a.dtype is DType.BOOL:
                return f"{op.value}({self.expr(a)}, {self.expr(b)})", _ATOM
            return self.helper_call(f"nestor_{op.value}", a, b), _ATOM
        if op is BinaryOp.POW:
            if integer:
                return self.helper_call("nestor_ipow", a, b), _ATOM
            name = "powf" if a.dtype is DType.FLOAT32 else "pow"
            return f"{name}({self.expr(a)}, {self.expr(b)})", _ATOM
        symbol, precedence = _INFIX[op]
        left_min = precedence + 1 if precedence in (_REL, _EQ) else precedence
        return f"{self._wrap(a, left_min)} {symbol} {self._wrap(b, precedence + 1)}", precedence

    def helper_call(self, helper: str, *args: Expr) -> str:
        self.helpers.add(helper)
        return f"{helper}({', '.join(self.expr(a) for a in args)})"

    def call(self, func: Func, args, dtype: DType) -> str:
        (arg,) = args
        if func is Func.SIGMOID:
            return self.helper_call("nestor_sigmoid", arg)
        if func is Func.ABS and not dtype.is_float:
            return f"{'llabs' if dtype is DType.INT64 else 'abs'}({self.expr(arg)})"
        if func not in _FLOAT_MATH:
            raise CodegenError(f"cannot print call {func.value} as C")
        suffix = "f" if dtype is DType.FLOAT32 else ""
        return f"{_FLOAT_MATH[func]}{suffix}({self.expr(arg)})"

    def offset(self, access: BufferLoad | Store) -> str:
        """The element offset of an access: its flat index (see ``flatten_buffers``)."""
        (flat,) = access.indices
        return self.expr(flat)

    # -- statements ------------------------------------------------------------------------
    def stmt(self, s: Stmt, depth: int) -> None:
        match s:
            case For():
                self.loop(s, depth)
            case Store(buffer=buffer, value=value):
                self.emit(f"{self.name(buffer)}[{self.offset(s)}] = {self.expr(value)};", depth)
            case Allocate():
                self.allocate(s, depth)
            case Seq(stmts=stmts):
                for item in stmts:
                    self.stmt(item, depth)
            case IfThenElse(cond=cond, then_body=then_body, else_body=else_body):
                self.emit(f"if ({self.expr(cond)}) {{", depth)
                self.stmt(then_body, depth + 1)
                if else_body is not None:
                    self.emit("} else {", depth)
                    self.stmt(else_body, depth + 1)
                self.emit("}", depth)
            case Evaluate(value=value):
                self.emit(f"{self.expr(value)};", depth)
            case _:
                raise CodegenError(f"cannot print statement {type(s).__name__} as C")

    def loop_range(self, s: For) -> Bounds:
        lo, hi = bounds(s.min, self.ranges), bounds(s.extent, self.ranges)[1]
        return lo[0], lo[1] + hi - 1

    def loop(self, s: For, depth: int) -> None:
        """A serial (or unrolled) ``for`` loop; targets override this for other kinds."""
        if s.kind is ForKind.UNROLLED or s.kind is ForKind.VECTORIZED:
            self.emit("#pragma unroll", depth)
        var = self.name(s.var)
        end = simplify_expr(binary(BinaryOp.ADD, s.min, s.extent))
        self.emit(f"for ({C_TYPES[s.var.dtype]} {var} = {self.expr(s.min)}; {var} < {self.expr(end)}; "
                  f"++{var}) {{", depth)
        self.ranges[s.var] = self.loop_range(s)
        self.stmt(s.body, depth + 1)
        self.emit("}", depth)

    def allocate(self, s: Allocate, depth: int) -> None:
        """A buffer local to the running code: a C array declared where it is allocated."""
        buffer = s.buffer
        self.emit(f"{C_TYPES[buffer.dtype]} {self.name(buffer)}[{max(buffer.size, 1)}];", depth)
        self.stmt(s.body, depth)
