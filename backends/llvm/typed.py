"""LLVM arithmetic of the types beyond the first release's (see :mod:`tensorir.dtypes`):
float16 computed in float and rounded to ``half`` per operation, unsigned integers with
unsigned instructions (``udiv``, ``urem``, ``icmp ult``, ``lshr``, ``uitofp``), shifts and
bitwise operators, the intrinsics of :mod:`tensorir.intrinsics`, and float-to-integer
conversions that are defined for every input (``llvm.fpto[su]i.sat``, then wrap-around)."""

from __future__ import annotations

from llvmlite import ir

from tensorir.dtypes import DType
from tensorir.errors import CodegenError
from tensorir.expr import LIBM2_FUNCS, LIBM_FUNCS, BinaryOp, Func

from .types import F32, F64, I64, VALUE

_ICMP = {BinaryOp.EQ: "==", BinaryOp.NE: "!=", BinaryOp.LT: "<", BinaryOp.LE: "<=", BinaryOp.GT: ">",
         BinaryOp.GE: ">="}
_FLOAT_INTRINSIC = {Func.FLOOR: "llvm.floor", Func.CEIL: "llvm.ceil", Func.ROUND: "llvm.roundeven",
                    Func.TRUNC: "llvm.trunc"}


def _like(value, element):
    """``element`` as a vector when ``value`` is one."""
    if isinstance(value.type, ir.VectorType):
        return ir.VectorType(element, value.type.count)
    return element


def _is_half(value) -> bool:
    ty = value.type.element if isinstance(value.type, ir.VectorType) else value.type
    return isinstance(ty, ir.HalfType)


def _const(ty, value):
    if isinstance(ty, ir.VectorType):
        return ir.Constant(ty, [value] * ty.count)
    return ir.Constant(ty, value)


class TypedArithmetic:
    """Mixed into the code generator with :class:`~backends.llvm.arith.Arithmetic`."""

    # float16 ---------------------------------------------------------------------------------
    def widen_half(self, value):
        return self.b.fpext(value, _like(value, F32))

    def round_half(self, value):
        return self.b.fptrunc(value, _like(value, VALUE[DType.FLOAT16]))

    def half_arith(self, op: BinaryOp, a, b):
        """A float16 operation: computed in float32 and rounded once, as numpy does."""
        result = self.arith(op, self.widen_half(a), self.widen_half(b), DType.FLOAT32)
        return result if op in _ICMP else self.round_half(result)

    def half_call(self, func: Func, args):
        # ldexp's exponent is an integer: only half operands widen
        widened = [self.widen_half(x) if _is_half(x) else x for x in args]
        result = self.call(func, widened, DType.FLOAT32)
        return result if func in (Func.ISNAN, Func.ISINF) else self.round_half(result)

    # integers --------------------------------------------------------------------------------
    def unsigned_arith(self, op: BinaryOp, a, b):
        bld = self.b
        match op:
            case BinaryOp.FLOORDIV | BinaryOp.FLOORMOD:
                zero = _const(a.type, 0)
                is_zero = bld.icmp_unsigned("==", b, zero)
                safe = bld.select(is_zero, _const(b.type, 1), b)
                result = bld.udiv(a, safe) if op is BinaryOp.FLOORDIV else bld.urem(a, safe)
                return bld.select(is_zero, zero, result)
            case BinaryOp.MAX: return bld.select(bld.icmp_unsigned(">", a, b), a, b)
            case BinaryOp.MIN: return bld.select(bld.icmp_unsigned("<", a, b), a, b)
            case BinaryOp.DIV: return bld.fdiv(bld.uitofp(a, _like(a, F32)), bld.uitofp(b, _like(b, F32)))
            case BinaryOp.POW:
                fa, fb = bld.uitofp(a, _like(a, F64)), bld.uitofp(b, _like(b, F64))
                return self.float_to_int(bld.call(self.intrinsic("llvm.pow", fa.type), [fa, fb]), a.type, True)
            case op if op in _ICMP: return bld.icmp_unsigned(_ICMP[op], a, b)
        return None

    def bit_arith(self, op: BinaryOp, a, b, dtype: DType):
        """``&``, ``|``, ``^`` and the shifts, defined for every shift count (numpy's results)."""
        bld = self.b
        match op:
            case BinaryOp.BIT_AND: return bld.and_(a, b)
            case BinaryOp.BIT_OR: return bld.or_(a, b)
            case BinaryOp.XOR: return bld.xor(a, b)
        bits = dtype.bits
        in_range = bld.icmp_unsigned("<", b, _const(b.type, bits))
        count = bld.and_(b, _const(b.type, bits - 1))  # never poison, chosen only when in range
        if op is BinaryOp.SHL:
            return bld.select(in_range, bld.shl(a, count), _const(a.type, 0))
        if dtype.is_unsigned:
            return bld.select(in_range, bld.lshr(a, count), _const(a.type, 0))
        fill = bld.ashr(a, _const(a.type, bits - 1))  # -1 for a negative value, else 0
        return bld.select(in_range, bld.ashr(a, count), fill)

    def int_call(self, func: Func, args, dtype: DType):
        bld = self.b
        if func is Func.POPCOUNT:
            (x,) = args
            return bld.call(self.intrinsic("llvm.ctpop", x.type), [x])
        if func is Func.CLZ:  # llvm.ctlz with zero defined: the bit width
            (x,) = args
            vector = isinstance(x.type, ir.VectorType)
            width = (x.type.element if vector else x.type).width
            name = f"llvm.ctlz.v{x.type.count}i{width}" if vector else f"llvm.ctlz.i{width}"
            flag = ir.IntType(1)
            return bld.call(self.declare(name, x.type, [x.type, flag]), [x, ir.Constant(flag, 0)])
        if func in (Func.TRUNCDIV, Func.TRUNCMOD, Func.FMOD):
            a, b = self.widen(*args)  # an index (i64 in loops) beside an int32 operand
            if dtype.is_unsigned:
                op = BinaryOp.FLOORDIV if func is Func.TRUNCDIV else BinaryOp.FLOORMOD
                return self.unsigned_arith(op, a, b)
            safe, is_zero = self.safe_divisor(a, b)
            result = bld.sdiv(a, safe) if func is Func.TRUNCDIV else bld.srem(a, safe)
            return bld.select(is_zero, _const(a.type, 0), result)
        if func is Func.ABS and dtype.is_unsigned:
            return args[0]
        return None

    def float_call(self, func: Func, args):
        bld = self.b
        if func in _FLOAT_INTRINSIC:
            (x,) = args
            return bld.call(self.intrinsic(_FLOAT_INTRINSIC[func], x.type), [x])
        if func is Func.FMOD:
            return bld.frem(*args)
        if func is Func.ISNAN:
            return bld.fcmp_unordered("uno", args[0], args[0])
        if func is Func.ISINF:
            x = args[0]
            magnitude = bld.call(self.intrinsic("llvm.fabs", x.type), [x])
            return bld.fcmp_ordered("==", magnitude, _const(x.type, float("inf")))
        if func is Func.ERF or func in LIBM_FUNCS:
            return self.libm_lanes(func.value, args[0])
        if func in LIBM2_FUNCS or func is Func.LDEXP:
            return self.libm2_lanes(func.value, *args)
        return None

    def libm2_lanes(self, name: str, x, y):
        """``name(x, y)`` from the C library (``ldexp``'s ``y`` an i32), lane by lane for a vector."""
        bld = self.b
        if isinstance(x.type, ir.VectorType):
            out = ir.Constant(x.type, ir.Undefined)
            for lane in range(x.type.count):
                index = ir.Constant(I64, lane)
                value = self.libm2_lanes(name, bld.extract_element(x, index), bld.extract_element(y, index))
                out = bld.insert_element(out, value, index)
            return out
        symbol = f"{name}f" if x.type == F32 else name
        return bld.call(self.declare(symbol, x.type, [x.type, y.type]), [x, y])

    def libm_lanes(self, name: str, x):
        """``name(x)`` from the C library, lane by lane for a vector."""
        bld = self.b
        if isinstance(x.type, ir.VectorType):
            out = ir.Constant(x.type, ir.Undefined)
            for lane in range(x.type.count):
                index = ir.Constant(I64, lane)
                out = bld.insert_element(out, self.libm_lanes(name, bld.extract_element(x, index)), index)
            return out
        symbol = f"{name}f" if x.type == F32 else name
        return bld.call(self.declare(symbol, x.type, [x.type]), [x])

    # conversions -----------------------------------------------------------------------------
    def float_to_int(self, value, to, unsigned_wrap: bool, dtype: DType | None = None):
        """A float converted to integer type ``to`` (see :mod:`tensorir.dtypes`): NaN is 0;
        int32/int64 saturate, the other types wrap the value saturated to 64 bits."""
        bld = self.b
        if value.type == _like(value, VALUE[DType.FLOAT16]):
            value = self.widen_half(value)
        element = to.element if isinstance(to, ir.VectorType) else to
        if dtype in (DType.INT32, DType.INT64):
            return self.saturating("llvm.fptosi.sat", value, to)
        wide = self.saturating("llvm.fptosi.sat", value, _like(value, I64))
        if dtype is DType.UINT64:
            positive = self.saturating("llvm.fptoui.sat", value, _like(value, I64))
            negative = bld.fcmp_ordered("<", value, _const(value.type, 0.0))
            return bld.select(negative, wide, positive)
        return wide if element.width == 64 else bld.trunc(wide, to)

    def saturating(self, name: str, value, to):
        def suffix(ty):
            if isinstance(ty, ir.VectorType):
                return f"v{ty.count}{suffix(ty.element)}"
            return f"i{ty.width}" if isinstance(ty, ir.IntType) else ("f32" if ty == F32 else "f64")
        function = self.declare(f"{name}.{suffix(to)}.{suffix(value.type)}", to, [value.type])
        return self.b.call(function, [value])

    def convert_typed(self, value, source: DType, target: DType):
        """Conversions that involve a new type; None for the others. Conversions to and from
        half go through float (the CPU converts float and half itself; others need library
        routines that the JIT may not find)."""
        bld = self.b
        to = _like(value, VALUE[target])
        if target is DType.FLOAT16 and source is not DType.FLOAT32:
            return self.round_half(self.to_float_for_half(value, source))
        if source is DType.FLOAT16 and target is DType.FLOAT64:
            return bld.fpext(self.widen_half(value), to)
        if target.is_int and source.is_float:
            return self.float_to_int(value, to, True, target)
        if source.is_unsigned and target.is_float:
            return bld.uitofp(value, to)
        if source.is_unsigned and target.is_int:
            width = (to.element if isinstance(to, ir.VectorType) else to).width
            if width == source.bits:
                return value
            return bld.trunc(value, to) if width < source.bits else bld.zext(value, to)
        return None


    def to_float_for_half(self, value, source: DType):
        """``value`` as a float32 that rounds to the correct half: exact for integers (any one
        that float rounds is past half's range), rounded to odd from double, so that the
        second rounding cannot go wrong."""
        bld = self.b
        f32 = _like(value, F32)
        if source is DType.BOOL:
            return bld.uitofp(value, f32)
        if source.is_int:
            return bld.uitofp(value, f32) if source.is_unsigned else bld.sitofp(value, f32)
        narrow = bld.fptrunc(value, f32)
        inexact = bld.fcmp_ordered("!=", bld.fpext(narrow, value.type), value)
        magnitude = bld.call(self.intrinsic("llvm.fabs", f32), [narrow])
        finite = bld.fcmp_ordered("<", magnitude, _const(f32, float("inf")))
        bits = bld.bitcast(narrow, _like(value, ir.IntType(32)))
        odd = bld.bitcast(bld.or_(bits, _const(bits.type, 1)), f32)
        return bld.select(bld.and_(inexact, finite), odd, narrow)


def refuse(op, dtype: DType):
    raise CodegenError(f"llvm: cannot compile operator {op.value} on {dtype}")
