"""Scalar and vector arithmetic on LLVM values: operators with the IR's semantics (floor
division, NaN-propagating max/min), math functions and type conversions."""

from __future__ import annotations

from llvmlite import ir

from tensorir.analysis import interval, safe_divisor
from tensorir.dtypes import DType
from tensorir.errors import CodegenError
from tensorir.expr import BITWISE, SHIFTS, BinaryOp, Expr, Func

from .typed import TypedArithmetic
from .types import F32, F64, VALUE, i64
from .vector_math import is_f32_vector, vector_sigmoid_f32

_ICMP = {BinaryOp.EQ: "==", BinaryOp.NE: "!=", BinaryOp.LT: "<", BinaryOp.LE: "<=", BinaryOp.GT: ">",
         BinaryOp.GE: ">="}
_FLOAT_INTRINSIC = {Func.EXP: "llvm.exp", Func.LOG: "llvm.log", Func.SQRT: "llvm.sqrt", Func.ABS: "llvm.fabs"}


class Arithmetic(TypedArithmetic):
    """Mixed into the code generator: needs ``self.b`` (the builder), ``self.state``,
    ``self.intrinsic`` and ``self.declare``."""

    def arith(self, op: BinaryOp, a, b, dtype: DType, ea: Expr | None = None, eb: Expr | None = None):
        """``a op b`` on values of IR type ``dtype`` (scalars or vectors)."""
        bld = self.b
        if dtype is DType.FLOAT16:
            return self.half_arith(op, a, b)
        if op in BITWISE or op in SHIFTS:
            return self.bit_arith(op, a, b, dtype)
        if dtype.is_unsigned and op not in (BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL):
            result = self.unsigned_arith(op, a, b)
            if result is not None:
                return result
        if dtype.is_float:
            match op:
                case BinaryOp.ADD: return bld.fadd(a, b, flags=("contract",))
                case BinaryOp.SUB: return bld.fsub(a, b, flags=("contract",))
                case BinaryOp.MUL: return bld.fmul(a, b, flags=("contract",))
                case BinaryOp.DIV: return bld.fdiv(a, b)
                case BinaryOp.FLOORDIV: return self.floor(bld.fdiv(a, b))
                case BinaryOp.FLOORMOD: return bld.fsub(a, bld.fmul(self.floor(bld.fdiv(a, b)), b))
                case BinaryOp.MAX: return bld.call(self.intrinsic("llvm.maximum", a.type), [a, b])
                case BinaryOp.MIN: return bld.call(self.intrinsic("llvm.minimum", a.type), [a, b])
                case BinaryOp.POW: return bld.call(self.intrinsic("llvm.pow", a.type), [a, b])
                case op if op in _ICMP: return bld.fcmp_ordered(_ICMP[op], a, b) if op is not BinaryOp.NE \
                    else bld.fcmp_unordered("!=", a, b)
        if dtype is DType.BOOL and op in (BinaryOp.AND, BinaryOp.OR, BinaryOp.EQ, BinaryOp.NE):
            return {BinaryOp.AND: bld.and_, BinaryOp.OR: bld.or_}.get(op, None)(a, b) \
                if op in (BinaryOp.AND, BinaryOp.OR) else bld.icmp_unsigned(_ICMP[op], a, b)
        match op:
            case BinaryOp.ADD | BinaryOp.SUB | BinaryOp.MUL:
                folded = fold_int(op, a, b)
                if folded is not None:
                    return folded
                return {BinaryOp.ADD: bld.add, BinaryOp.SUB: bld.sub, BinaryOp.MUL: bld.mul}[op](a, b)
            case BinaryOp.FLOORDIV | BinaryOp.FLOORMOD: return self.int_divmod(op, a, b, ea, eb)
            case BinaryOp.MAX: return bld.select(bld.icmp_signed(">", a, b), a, b)
            case BinaryOp.MIN: return bld.select(bld.icmp_signed("<", a, b), a, b)
            case BinaryOp.POW:
                fa, fb = bld.sitofp(a, F64), bld.sitofp(b, F64)
                power = bld.call(self.intrinsic("llvm.pow", F64), [fa, fb])
                return self.float_to_int(power, a.type, True, dtype)  # defined past the type's range
            case BinaryOp.DIV:
                return bld.fdiv(bld.sitofp(a, F32), bld.sitofp(b, F32))
            case op if op in _ICMP: return bld.icmp_signed(_ICMP[op], a, b)
        raise CodegenError(f"llvm: cannot compile operator {op.value} on {dtype}")

    def int_divmod(self, op: BinaryOp, a, b, ea: Expr | None, eb: Expr | None):
        """Floor division and modulo; plain ``sdiv``/``srem`` where both operands are known
        non-negative. A divisor not provably safe is guarded (numpy's results, see
        :mod:`tensorir.dtypes`): ``x // 0`` and ``x % 0`` are 0, ``INT_MIN // -1`` is ``INT_MIN``;
        the hardware would trap on both."""
        bld = self.b
        ranges = self.state.ranges  # type: ignore[union-attr]
        ra = interval(ea, ranges) if ea is not None else None
        if ra is not None and ra[0] >= 0 and eb is not None and positive(eb, ranges):
            return bld.sdiv(a, b) if op is BinaryOp.FLOORDIV else bld.srem(a, b)
        zero_divisor = None
        if eb is None or not safe_divisor(eb, ranges):
            b, zero_divisor = self.safe_divisor(a, b)
        q, r = bld.sdiv(a, b), bld.srem(a, b)
        zero = ir.Constant(a.type, 0)
        adjust = bld.and_(bld.icmp_signed("!=", r, zero),
                          bld.icmp_signed("!=", bld.icmp_signed("<", r, zero), bld.icmp_signed("<", b, zero)))
        if op is BinaryOp.FLOORMOD:
            return bld.select(adjust, bld.add(r, b), r)  # a divisor of 1 leaves 0, as 0 should
        result = bld.sub(q, bld.zext(adjust, a.type))
        return result if zero_divisor is None else bld.select(zero_divisor, zero, result)

    def safe_divisor(self, a, b):
        """``b`` with 0 and the overflowing ``-1`` (when ``a`` is ``INT_MIN``) replaced by 1,
        and whether it was 0: dividing by 1 gives ``INT_MIN // -1``'s wrapped result and a
        remainder of 0."""
        bld = self.b
        width = (a.type.element if isinstance(a.type, ir.VectorType) else a.type).width
        is_zero = bld.icmp_signed("==", b, ir.Constant(b.type, 0))
        overflow = bld.and_(bld.icmp_signed("==", b, ir.Constant(b.type, -1)),
                            bld.icmp_signed("==", a, ir.Constant(a.type, -(1 << (width - 1)))))
        return bld.select(bld.or_(is_zero, overflow), ir.Constant(b.type, 1), b), is_zero

    def floor(self, x):
        return self.b.call(self.intrinsic("llvm.floor", x.type), [x])

    def reinterpret(self, x, dtype: DType):
        """TVM's reinterpret: the same bits in a register of ``dtype`` (tensorir.reinterpret)."""
        target = VALUE[dtype]
        return self.b.bitcast(x, ir.VectorType(target, x.type.count) if isinstance(x.type, ir.VectorType) else target)

    def call(self, func: Func, args, dtype: DType):
        bld = self.b
        if dtype is DType.FLOAT16:
            return self.half_call(func, args)
        typed = self.float_call(func, args) if dtype.is_float else self.int_call(func, args, dtype)
        if typed is not None:
            return typed
        (x,) = args
        if func is Func.ABS and not dtype.is_float:
            return bld.select(bld.icmp_signed("<", x, ir.Constant(x.type, 0)), bld.neg(x), x)
        if func in _FLOAT_INTRINSIC:
            return bld.call(self.intrinsic(_FLOAT_INTRINSIC[func], x.type), [x])
        if func is Func.SIGMOID and is_f32_vector(x):  # no expf call per lane
            return vector_sigmoid_f32(bld, self.intrinsic, x)
        if func is Func.SIGMOID:
            one = splat(x.type, 1.0)
            e = bld.call(self.intrinsic("llvm.exp", x.type), [bld.fneg(x)])
            return bld.fdiv(one, bld.fadd(one, e))
        if func is Func.TANH:
            return self.tanh(x)
        raise CodegenError(f"llvm: cannot compile {func.value}(...)")

    def tanh(self, x):
        bld = self.b
        if isinstance(x.type, ir.VectorType):
            out = ir.Constant(x.type, ir.Undefined)
            for lane in range(x.type.count):
                out = bld.insert_element(out, self.tanh(bld.extract_element(x, i64(lane))), i64(lane))
            return out
        name = "tanhf" if x.type == F32 else "tanh"
        return bld.call(self.declare(name, x.type, [x.type]), [x])

    def convert(self, value, source: DType, target: DType):
        """``value`` of IR type ``source`` converted to ``target`` (scalars or vectors)."""
        bld = self.b
        to = VALUE[target]
        if isinstance(value.type, ir.VectorType):
            to = ir.VectorType(to, value.type.count)
        if target is DType.BOOL:
            zero = ir.Constant(value.type, 0.0 if source.is_float else 0)
            if isinstance(value.type, ir.VectorType):
                zero = ir.Constant(value.type, [zero.constant] * value.type.count)
            return bld.fcmp_unordered("!=", value, zero) if source.is_float else bld.icmp_unsigned("!=", value, zero)
        if source is DType.BOOL:
            return bld.uitofp(value, to) if target.is_float else bld.zext(value, to)
        typed = self.convert_typed(value, source, target)
        if typed is not None:
            return typed
        if source.is_float and target.is_float:
            return bld.fpext(value, to) if target.bits > source.bits else bld.fptrunc(value, to)
        if source.is_float:
            return bld.fptosi(value, to)
        if target.is_float:
            return bld.sitofp(value, to)
        width = value.type.element.width if isinstance(value.type, ir.VectorType) else value.type.width
        if width == target.bits:
            return value
        return bld.trunc(value, to) if width > target.bits else bld.sext(value, to)



def positive(e: Expr, ranges) -> bool:
    r = interval(e, ranges)
    return r is not None and r[0] > 0


def fold_int(op: BinaryOp, a, b):
    """Integer arithmetic on constants done here, and ``x + 0``, ``x * 1``, ``x * 0`` dropped."""
    ca = a.constant if isinstance(a, ir.Constant) and isinstance(a.constant, int) else None
    cb = b.constant if isinstance(b, ir.Constant) and isinstance(b.constant, int) else None
    if ca is not None and cb is not None:
        value = ca + cb if op is BinaryOp.ADD else (ca - cb if op is BinaryOp.SUB else ca * cb)
        return ir.Constant(a.type, value)
    if op is BinaryOp.ADD:
        return b if ca == 0 else (a if cb == 0 else None)
    if op is BinaryOp.SUB:
        return a if cb == 0 else None
    if ca == 1 or cb == 1:
        return b if ca == 1 else a
    if ca == 0 or cb == 0:
        return ir.Constant(a.type, 0)
    return None


def add_i64(builder, a, b):
    """``a + b`` on 64-bit integers, folded where either is a constant zero or both are constants."""
    folded = fold_int(BinaryOp.ADD, a, b)
    return builder.add(a, b) if folded is None else folded


def splat(ty, value: float):
    if isinstance(ty, ir.VectorType):
        return ir.Constant(ty, [value] * ty.count)
    return ir.Constant(ty, value)
