"""``exp`` and ``sigmoid`` of float32 vectors in straight-line IR, without a C library call per lane.

LLVM lowers ``llvm.exp`` of a vector to one ``expf`` call per lane (there is no vector math
library behind it), so a vectorized loop of sigmoids ran at the speed of scalar calls: the LSTM
step's activations were most of its time. :func:`vector_exp_f32` is the classic Cephes
reduction ``exp(x) = 2^n exp(r)``, ``n = round(x / ln 2)``, ``|r| <= ln(2) / 2``, with a degree-6
polynomial for ``exp(r)`` and ``2^n`` built in the exponent bits (about 1 ulp of float32 over
the range). Outside ``[-87.34, 88.38]`` (where ``2^n`` stays a normal float) the result is 0
below (where the true value is subnormal) and ``inf`` above; NaN stays NaN.
"""

from __future__ import annotations

from llvmlite import ir

#: ln(2) split so that ``n * _LN2_HI`` is exact for the ``n`` of float32's range
_LN2_HI, _LN2_LO = 0.693359375, -2.12194440e-4
_LOG2E = 1.44269504088896341
_LOW, _HIGH = -87.33654475, 88.3762626647949
#: Cephes' expf polynomial, highest power first
_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)


def _splat(ty: ir.VectorType, value) -> ir.Constant:
    return ir.Constant(ty, [value] * ty.count)


def vector_exp_f32(bld: ir.IRBuilder, intrinsic, x):
    """``exp(x)`` of a ``<N x float>`` value; ``intrinsic(name, type)`` declares an LLVM intrinsic."""
    ty = x.type
    ints = ir.VectorType(ir.IntType(32), ty.count)
    clamped = bld.select(bld.fcmp_ordered(">", x, _splat(ty, _HIGH)), _splat(ty, _HIGH), x)
    clamped = bld.select(bld.fcmp_ordered("<", clamped, _splat(ty, _LOW)), _splat(ty, _LOW), clamped)
    n = bld.call(intrinsic("llvm.floor", ty), [bld.fadd(bld.fmul(clamped, _splat(ty, _LOG2E)), _splat(ty, 0.5))])
    r = bld.fsub(clamped, bld.fmul(n, _splat(ty, _LN2_HI)))
    r = bld.fsub(r, bld.fmul(n, _splat(ty, _LN2_LO)))
    p = _splat(ty, _POLY[0])
    for coefficient in _POLY[1:]:
        p = bld.fadd(bld.fmul(p, r), _splat(ty, coefficient))
    y = bld.fadd(bld.fadd(bld.fmul(bld.fmul(p, r), r), r), _splat(ty, 1.0))
    exponent = bld.shl(bld.add(bld.fptosi(n, ints), _splat(ints, 127)), _splat(ints, 23))
    result = bld.fmul(y, bld.bitcast(exponent, ty))
    result = bld.select(bld.fcmp_ordered(">", x, _splat(ty, _HIGH)), _splat(ty, float("inf")), result)
    result = bld.select(bld.fcmp_ordered("<", x, _splat(ty, _LOW)), _splat(ty, 0.0), result)
    return bld.select(bld.fcmp_unordered("uno", x, x), x, result)  # NaN in, NaN out


def vector_sigmoid_f32(bld: ir.IRBuilder, intrinsic, x):
    """``1 / (1 + exp(-x))`` of a ``<N x float>`` value."""
    one = _splat(x.type, 1.0)
    return bld.fdiv(one, bld.fadd(one, vector_exp_f32(bld, intrinsic, bld.fneg(x))))


def is_f32_vector(value) -> bool:
    """Whether ``value`` is a vector of float32 (the case these functions cover)."""
    return isinstance(value.type, ir.VectorType) and isinstance(value.type.element, ir.FloatType)
