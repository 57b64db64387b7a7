"""C-family source printing: names, types, literals and operators of C, on the shared printer of
:mod:`backends.source` (precedence, statements, blocks). A target subclasses :class:`CPrinter`
for what differs (thread indices, memory spaces, vector accesses, special constants)."""

from __future__ import annotations

import math

import numpy as np

from tensorir.dtypes import DType
from tensorir.errors import CodegenError
from tensorir.expr import LIBM2_FUNCS, LIBM_FUNCS, Binary, BinaryOp, Call, Cast, Const, Expr, Func, Select, Var, binary
from tensorir.passes.simplify import simplify_expr
from tensorir.stmt import Allocate, For, ForKind

from ..source import ADD, AND, ATOM, COND, EQ, MUL, OR, REL, UNARY, SourcePrinter
from .arith import Bounds, bounds, nonnegative, positive
from .ctyped import C_TYPES_NEW, cast_text, const_text, float_view, narrow_wraps

C_TYPES = {DType.BOOL: "bool", DType.INT32: "int", DType.INT64: "long long",
           DType.FLOAT32: "float", DType.FLOAT64: "double", **C_TYPES_NEW}

#: names the generated code must not declare: C++ keywords, CUDA built-ins, math functions
RESERVED = frozenset("""
    auto bool break case char const continue default do double else enum extern float for goto if
    inline int long register restrict return short signed sizeof static struct switch typedef union
    unsigned void volatile while class delete new namespace operator private public protected
    template this throw try catch typename virtual true false nullptr friend using asm
    threadIdx blockIdx blockDim gridDim warpSize main max min abs llabs exp expf log logf sqrt sqrtf
    tanh tanhf pow powf fabs fabsf fmod floor copysign float4 dim3 size_t
""".split()) | frozenset(
    name + suffix
    for name in ("sin cos tan asin acos atan sinh cosh asinh acosh atanh log2 log10 log1p exp2 exp10 expm1 "
                 "cbrt erf ceil rint trunc round floor fmod isnan isinf").split()
    for suffix in ("", "f"))

_INFIX = {
    BinaryOp.ADD: ("+", ADD), BinaryOp.SUB: ("-", ADD), BinaryOp.MUL: ("*", MUL),
    BinaryOp.DIV: ("/", MUL), BinaryOp.LT: ("<", REL), BinaryOp.LE: ("<=", REL),
    BinaryOp.GT: (">", REL), BinaryOp.GE: (">=", REL), BinaryOp.EQ: ("==", EQ),
    BinaryOp.NE: ("!=", EQ), BinaryOp.AND: ("&&", AND), BinaryOp.OR: ("||", OR),
}
_FLOAT_MATH = {Func.EXP: "exp", Func.LOG: "log", Func.SQRT: "sqrt", Func.TANH: "tanh", Func.ABS: "fabs"}


_WIDENING = frozenset({BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL})
_BITWISE = {BinaryOp.BIT_AND: "&", BinaryOp.BIT_OR: "|", BinaryOp.XOR: "^"}
_INT_HELPERS = {Func.TRUNCDIV: "nestor_truncdiv", Func.TRUNCMOD: "nestor_truncmod", Func.FMOD: "nestor_truncmod",
                Func.POPCOUNT: "nestor_popcount"}
_NEW_FLOAT_MATH = {Func.FMOD: "fmod", Func.FLOOR: "floor", Func.CEIL: "ceil", Func.ROUND: "rint", Func.ERF: "erf",
                   Func.TRUNC: "trunc", Func.LDEXP: "ldexp", **{func: func.value for func in LIBM_FUNCS | LIBM2_FUNCS}}


def _has_half_operand(e: Expr) -> bool:
    return isinstance(e, (Binary, Call)) and any(
        x.dtype is DType.FLOAT16 for x in ((e.a, e.b) if isinstance(e, Binary) else e.args))


def _overflows_int32(known: Bounds) -> bool:
    """Whether finite bounds leave the 32-bit range (unknown bounds are data, kept as typed)."""
    low, high = known
    finite = math.isfinite(low) and math.isfinite(high)
    return finite and (low < -2**31 or high > 2**31 - 1)


class CPrinter(SourcePrinter):
    """Prints statements and expressions of lowered IR as C, one instance per function."""

    language = "C"
    INFIX = _INFIX
    RESERVED = RESERVED
    terminator = ";"

    def __init__(self) -> None:
        super().__init__()
        self.ranges: dict[Var, Bounds] = {}
        #: helper functions the printed code calls (see the target's preamble)
        self.helpers: set[str] = set()

    NAME_PREFIX = "v_"
    RESERVED_PREFIXES = ("_", "nestor_")

    # -- literals --------------------------------------------------------------------------
    def special_float(self, value: float, dtype: DType) -> str:
        if math.isnan(value):
            return "NAN"
        return "INFINITY" if value > 0 else "-INFINITY"

    def const(self, node: Const) -> str:
        value, dtype = node.value, node.dtype
        typed = const_text(node, self.const)
        if typed is not None:
            if dtype is DType.FLOAT16:
                self.helpers.add("nestor_fp16")
            return typed
        if dtype is DType.BOOL:
            return "true" if value else "false"
        if dtype.is_int:
            return f"{value}LL" if dtype is DType.INT64 else str(value)
        if not math.isfinite(value):
            return self.special_float(value, dtype)
        if dtype is DType.FLOAT32:
            return f"{float(str(np.float32(value)))!r}f"
        return repr(float(value))

    def _expr(self, e: Expr) -> tuple[str, int]:
        if e not in self.overrides:
            if e.dtype is DType.FLOAT16 or (e.dtype is DType.BOOL and _has_half_operand(e)):
                self.helpers.add("nestor_fp16")
                view = float_view(e)
                if view is not None:
                    return super()._expr(view)
            if narrow_wraps(e):  # computed in unsigned int, which wraps, then narrowed
                if isinstance(e, Binary) and e.op is BinaryOp.MUL:  # 16-bit products overflow int
                    text = f"(unsigned int){self._wrap(e.a, UNARY)} * (unsigned int){self._wrap(e.b, UNARY)}"
                else:
                    text, _ = super()._expr(e)
                return f"({C_TYPES[e.dtype]})({text})", UNARY
        return super()._expr(e)

    def binary(self, e: Binary) -> tuple[str, int]:
        op, a, b = e.op, e.a, e.b
        integer = a.dtype.is_int
        if op in _BITWISE:
            return f"({self._wrap(e.a, UNARY)} {_BITWISE[op]} {self._wrap(e.b, UNARY)})", ATOM
        if op in (BinaryOp.SHL, BinaryOp.SHR):
            return self.helper_call("nestor_shl" if op is BinaryOp.SHL else "nestor_shr", a, b), ATOM
        if a.dtype.is_unsigned and op in (BinaryOp.FLOORDIV, BinaryOp.FLOORMOD):
            return self.helper_call("nestor_ufloordiv" if op is BinaryOp.FLOORDIV else "nestor_ufloormod", a, b), ATOM
        if op in (BinaryOp.FLOORDIV, BinaryOp.FLOORMOD):
            if integer and nonnegative(a, self.ranges) and positive(b, self.ranges):
                symbol = "/" if op is BinaryOp.FLOORDIV else "%"
                return f"{self._wrap(a, MUL)} {symbol} {self._wrap(b, MUL + 1)}", MUL
            helper = ("nestor_floordiv" if op is BinaryOp.FLOORDIV else "nestor_floormod") \
                + ("" if integer else "_float")
            return self.helper_call(helper, a, b), ATOM
        if op in (BinaryOp.MAX, BinaryOp.MIN):
            if integer or a.dtype is DType.BOOL:
                return f"{op.value}({self.expr(a)}, {self.expr(b)})", ATOM
            return self.helper_call(f"nestor_{op.value}", a, b), ATOM
        if op is BinaryOp.POW:
            if integer:
                return self.helper_call("nestor_ipow", a, b), ATOM
            name = "powf" if a.dtype is DType.FLOAT32 else "pow"
            return f"{name}({self.expr(a)}, {self.expr(b)})", ATOM
        return super().binary(e)

    def infix(self, e: Binary, symbol: str, precedence: int) -> tuple[str, int]:
        """C's operator; 32-bit index arithmetic whose bounds pass 32 bits (a fused extent over
        2**31, ``blockIdx.x * 256 + threadIdx.x`` past it) runs in ``long long``: C widens the
        rest of the expression with it."""
        if self.widened(e):
            left = self._wrap(e.a, precedence) if self.widened(e.a) else f"(long long){self._wrap(e.a, UNARY)}"
            return f"{left} {symbol} {self._wrap(e.b, precedence + 1)}", precedence
        return super().infix(e, symbol, precedence)

    def widened(self, e: Expr) -> bool:
        return isinstance(e, Binary) and e.op in _WIDENING and e.dtype is DType.INT32 \
            and _overflows_int32(bounds(e, self.ranges))

    def index_type(self, s: For) -> str:
        """The C type of a loop variable: ``long long`` where its range passes 32 bits."""
        if s.var.dtype is DType.INT32 and _overflows_int32(self.loop_range(s)):
            return C_TYPES[DType.INT64]
        return C_TYPES[s.var.dtype]

    def helper_call(self, helper: str, *args: Expr) -> str:
        self.helpers.add(helper)
        texts = [self.expr(a) for a in args]
        if any(self.widened(a) for a in args):  # the helpers take operands of one type
            texts = [text if self.widened(a) else f"(long long){self._wrap(a, UNARY)}" for a, text in zip(args, texts)]
        return f"{helper}({', '.join(texts)})"

    def call(self, func: Func, args, dtype: DType) -> str:
        if func is Func.REINTERPRET:  # the same bits read as the call's type
            self.helpers.add("nestor_reinterpret")
            return f"nestor_reinterpret<{C_TYPES[dtype]}>({self.expr(args[0])})"
        dtype = args[0].dtype if args else dtype
        if func in _INT_HELPERS and dtype.is_int:
            return self.helper_call(_INT_HELPERS[func], *args)
        if func is Func.ABS and dtype.is_unsigned:
            return self.expr(args[0])
        if func is Func.CLZ:  # CUDA's __clz/__clzll take the signed type of the width
            return f"__clz{'ll' if dtype.bits == 64 else ''}(({'long long' if dtype.bits == 64 else 'int'})" \
                   f"{self.expr(args[0])})"
        if func in _NEW_FLOAT_MATH:
            suffix = "f" if dtype is DType.FLOAT32 else ""
            return f"{_NEW_FLOAT_MATH[func]}{suffix}({', '.join(self.expr(a) for a in args)})"
        if func in (Func.ISNAN, Func.ISINF):
            return f"{func.value}({self.expr(args[0])})"
        (arg,) = args
        if func is Func.SIGMOID:
            return self.helper_call("nestor_sigmoid", arg)
        if func is Func.ABS and not dtype.is_float:
            return f"{'llabs' if dtype is DType.INT64 else 'abs'}({self.expr(arg)})"
        if func not in _FLOAT_MATH:
            raise CodegenError(f"cannot print call {func.value} as C")
        suffix = "f" if dtype is DType.FLOAT32 else ""
        return f"{_FLOAT_MATH[func]}{suffix}({self.expr(arg)})"

    def cast(self, e: Cast) -> tuple[str, int]:
        typed = cast_text(e.value.dtype, e.dtype, self.expr(e.value))
        if typed is not None:
            if "nestor_f2i" in typed:
                self.helpers.add("nestor_f2i")
            if DType.FLOAT16 in (e.dtype, e.value.dtype):
                self.helpers.add("nestor_fp16")
            return typed, ATOM
        return f"({C_TYPES[e.dtype]}){self._wrap(e.value, UNARY)}", UNARY

    def select(self, e: Select) -> tuple[str, int]:
        return (f"{self._wrap(e.cond, COND + 1)} ? {self._wrap(e.true_value, COND + 1)} : "
                f"{self._wrap(e.false_value, COND)}"), COND

    def temporary(self, name: str, text: str, node: Expr) -> str:
        """``auto``: the temporary keeps the type C gives the text (widened or not)."""
        return f"const auto {name} = {text};"

    # -- statements ------------------------------------------------------------------------
    def loop_range(self, s: For) -> Bounds:
        lo, hi = bounds(s.min, self.ranges), bounds(s.extent, self.ranges)[1]
        return lo[0], lo[1] + hi - 1

    def loop(self, s: For, depth: int) -> None:
        """A serial (or unrolled) ``for`` loop; targets override this for other kinds."""
        if s.kind is ForKind.UNROLLED or s.kind is ForKind.VECTORIZED:
            self.emit("#pragma unroll", depth)
        var = self.name(s.var)
        end = simplify_expr(binary(BinaryOp.ADD, s.min, s.extent))
        self.emit(f"for ({self.index_type(s)} {var} = {self.expr(s.min)}; {var} < {self.expr(end)}; "
                  f"++{var}) {{", depth)
        self.ranges[s.var] = self.loop_range(s)
        self.stmt(s.body, depth + 1)
        self.emit("}", depth)

    def allocate(self, s: Allocate, depth: int) -> None:
        """A buffer local to the running code: a C array declared where it is allocated."""
        buffer = s.buffer
        self.emit(f"{C_TYPES[buffer.dtype]} {self.name(buffer)}[{max(buffer.size, 1)}];", depth)
        self.stmt(s.body, depth)
