"""Binary operations on mixed types as TVM types them (its ``BinaryOpMatchTypes`` and
test_binary_dtype_match) through :mod:`te_shim`: a signed beside an unsigned integer takes the
wider type, of equal widths the unsigned one (``uint32 + int32`` is ``uint32``, not numpy's
``int64``); narrower integers widen; an integer beside a float takes the float; two floats take
the wider. Each program's types are checked, and its values against numpy computed in those
types, on the interpreter, LLVM and the CUDA source run on the host."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.cuda import host_emulation

from .helpers import close, empty
from .te_shim import te, tvm

# TVM's test_binary_dtype_match, and the pairs where numpy would differ
RULES = [(("bool", "int32"), "int32"), (("int32", "float32"), "float32"), (("int32", "int64"), "int64"),
         (("uint32", "int8"), "uint32"), (("uint32", "int32"), "uint32"), (("int32", "uint32"), "uint32"),
         (("uint8", "int8"), "uint8"), (("uint8", "int16"), "int16"), (("uint16", "int8"), "uint16"),
         (("uint64", "int64"), "uint64"), (("int8", "int32"), "int32"), (("int16", "uint8"), "int16"),
         (("float16", "float32"), "float32"), (("float64", "float16"), "float64"), (("int64", "float16"), "float16")]


@pytest.mark.parametrize("pair, out", RULES)
def test_binary_operands_match_as_in_tvm(pair, out):
    lhs = te.placeholder((1,), name="L", dtype=pair[0])[0]
    rhs = te.placeholder((1,), name="R", dtype=pair[1])[0]
    for op in (lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b):
        expr = op(lhs, rhs)
        assert expr.dtype == out and expr.a.dtype == out and expr.b.dtype == out
    for op in (lambda a, b: a >= b, lambda a, b: a <= b):
        expr = op(lhs, rhs)
        assert expr.dtype == "bool" and expr.a.dtype == out and expr.b.dtype == out
    assert te.if_then_else(lhs == lhs, lhs, rhs).dtype == out


def test_constants_match_like_any_operand():
    assert (te.const(1, "uint8") + te.const(2, "int8")).dtype == "uint8"
    assert (te.const(1, "uint32") * te.const(3, "int64")).dtype == "int64"
    assert (te.var("x", "int32") + 1.5).dtype == "float32"
    assert (te.placeholder((1,), name="H", dtype="float16")[0] * te.const(2.0, "float32")).dtype == "float32"
    with pytest.raises(te.DefinitionError, match="if_then_else: the condition c has type int32; it must be a "
                       "comparison or another bool expression"):
        te.if_then_else(te.var("c", dtype="int32"), te.var("a", "uint32"), te.var("b", "int32"))


def mixed_program(half=True):
    n = 16
    U32 = te.placeholder((n,), name="U32", dtype="uint32")
    I32 = te.placeholder((n,), name="I32", dtype="int32")
    I8 = te.placeholder((n,), name="I8", dtype="int8")
    U8 = te.placeholder((n,), name="U8", dtype="uint8")
    F16 = te.placeholder((n,), name="F16", dtype="float16" if half else "float32")
    F32 = te.placeholder((n,), name="F32", dtype="float32")
    outs = [
        te.compute((n,), lambda i: U32[i] + I32[i], name="add_u32_i32"),
        te.compute((n,), lambda i: U32[i] * I8[i], name="mul_u32_i8"),
        te.compute((n,), lambda i: U8[i] - I8[i], name="sub_u8_i8"),
        te.compute((n,), lambda i: I8[i] + I32[i], name="add_i8_i32"),
        te.compute((n,), lambda i: te.if_then_else(U32[i] > I32[i], te.const(1, "int32"), te.const(0, "int32")),
                   name="gt_u32_i32"),
        te.compute((n,), lambda i: F16[i] * F32[i], name="mul_f16_f32"),
        te.compute((n,), lambda i: I32[i] + 1.5, name="add_i32_float"),
        te.compute((n,), lambda i: U8[i] + te.const(3, "int8"), name="add_u8_const_i8"),
    ]
    ins = [U32, I32, I8, U8, F16, F32]

    def reference(u32, i32, i8, u8, f16, f32):
        with np.errstate(over="ignore"):
            return [u32 + i32.astype(np.uint32), u32 * i8.astype(np.uint32), u8 - i8.astype(np.uint8),
                    i8.astype(np.int32) + i32, (u32 > i32.astype(np.uint32)).astype(np.int32),
                    f16.astype(np.float32) * f32, i32.astype(np.float32) + np.float32(1.5), u8 + np.uint8(3)]

    return outs, ins, reference


def _inputs(rng, half, n=16):
    return [rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32),
            rng.integers(-2**31, 2**31, n).astype(np.int32),
            rng.integers(-128, 128, n).astype(np.int8), rng.integers(0, 256, n).astype(np.uint8),
            rng.uniform(-4, 4, n).astype(np.float16 if half else np.float32), rng.uniform(-4, 4, n).astype(np.float32)]


def test_mixed_program_types():
    outs, _, _ = mixed_program()
    assert [str(t.dtype) for t in outs] == ["uint32", "uint32", "uint8", "int32", "int32", "float32", "float32",
                                            "uint8"]


def _check(run, outs, reference, rng, half=True):
    ins = _inputs(rng, half)
    got = [empty(t.shape, t.dtype) for t in outs]
    run(*ins, *got)
    for value, want in zip(got, reference(*ins)):
        close(value, want)


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_mixed_types_compute_tvms_values(target, rng):
    outs, ins, reference = mixed_program()
    s = te.create_schedule([t.op for t in outs])
    _check(tvm.build(s, ins + outs, target=target), outs, reference, rng)


def test_mixed_types_compute_tvms_values_in_cuda_source(rng):
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    outs, ins, reference = mixed_program(half=False)  # the host emulation has no cuda_fp16.h
    s = te.create_schedule([t.op for t in outs])
    for t in outs:
        bx, tx = s[t].split(t.op.axis[0], factor=8)
        s[t].bind(bx, te.thread_axis("blockIdx.x"))
        s[t].bind(tx, te.thread_axis("threadIdx.x"))
    (host,) = host_emulation.compile_host([tvm.build(s, ins + outs, target="cuda")])
    _check(host, outs, reference, rng, half=False)
