"""The types beyond int32/int64/float32/float64: promotion (numpy's, but TVM's for signed beside
unsigned integers; weak Python scalars),
every arithmetic operator on every type, the intrinsics with their edge values and the
conversion matrix, each on the interpreter and LLVM against numpy. One kernel per type (or per
pair) computes many outputs, so the suite stays small."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from tensorir.dtypes import convert_value

TARGETS = ["interp", "llvm"]
INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FLOATS = ["float16", "float32", "float64"]
N = 16


def _samples(dtype: str, seed: int) -> np.ndarray:
    """Edge values first (0, the extremes, -1, nan/inf/-0.0), then random ones."""
    rng = np.random.default_rng(seed)
    if dtype in FLOATS:
        edge = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.5, -2.5, 0.5, 65504.0, 1e-4]
        rest = rng.standard_normal(N - len(edge)) * 8
        return np.array(edge + list(rest), dtype=dtype)
    info = np.iinfo(dtype)
    edge = [0, info.min, info.max, 1, info.max - 1, info.min + 1]
    if info.min < 0:
        edge += [-1, -2]
    rest = rng.integers(info.min, info.max, N - len(edge), endpoint=True, dtype=dtype)
    return np.concatenate([np.array(edge, dtype=dtype), rest])


def _build(outputs, inputs, target):
    s = ns.create_schedule(list(outputs))
    return ns.build(s, [*inputs, *outputs], target=target)


def _body(f, tensors):
    return lambda i: f(*(t[i] for t in tensors))


def _run(fns, dtypes, arrays, target):
    tensors = [ns.placeholder((N,), d, name=f"T{n}") for n, d in enumerate(dtypes)]
    outs = [ns.compute((N,), _body(f, tensors), name=f"out{n}") for n, f in enumerate(fns)]
    module = _build(outs, tensors, target)
    results = [np.zeros(N, o.dtype) for o in outs]
    module(*arrays, *results)
    return results


# promotion -----------------------------------------------------------------------------------
@pytest.mark.parametrize("a", INTS + FLOATS + ["bool"])
@pytest.mark.parametrize("b", INTS + FLOATS + ["bool"])
def test_promotion_of_two_tensors(a, b):
    A, B = ns.placeholder((2,), a, name="A"), ns.placeholder((2,), b, name="B")
    dtype = ns.compute((2,), lambda i: A[i] * B[i]).dtype
    if a == b == "bool":
        assert dtype == "int32"  # arithmetic on bools computes in int32
    elif (a in FLOATS) != (b in FLOATS):
        assert dtype == (a if a in FLOATS else b)  # the float wins, as in TVM
    elif a in INTS and b in INTS and a.startswith("u") != b.startswith("u"):
        # TVM's BinaryOpMatchTypes: the wider type, and of equal widths the unsigned one
        assert dtype == max((a, b), key=lambda t: (np.dtype(t).itemsize, t.startswith("u")))
    else:
        assert dtype == np.result_type(a, b).name


# TVM types a Python number through its FFI (an int is an int32 constant, int64 past 32 bits; a
# float is float32) and BinaryOpMatchTypes then promotes: src/tir/op/op.cc, include/tvm/ir/expr.h
_TVM_LITERAL_TYPES = {  # operand type: (type of x + 1, type of x * 1.5)
    "int8": ("int32", "float32"), "int16": ("int32", "float32"), "int32": ("int32", "float32"),
    "int64": ("int64", "float32"), "uint8": ("int32", "float32"), "uint16": ("int32", "float32"),
    "uint32": ("uint32", "float32"), "uint64": ("uint64", "float32"),
    "float16": ("float16", "float32"), "float32": ("float32", "float32"), "float64": ("float64", "float64"),
}


@pytest.mark.parametrize("dtype", INTS + FLOATS)
def test_python_literals_are_typed_as_tvm_types_them(dtype):
    A = ns.placeholder((2,), dtype, name="A")
    plus_int, times_float = _TVM_LITERAL_TYPES[dtype]
    assert (A[0] + 1).dtype == plus_int and (2 * A[0]).dtype == plus_int
    assert (A[0] * 1.5).dtype == times_float and (1.5 - A[0]).dtype == times_float
    assert (A[0] < 1).dtype == "bool"
    assert ns.if_then_else(A[0] > 0, A[0], 0).dtype == plus_int


@pytest.mark.parametrize("target", TARGETS)
def test_literals_compute_in_tvms_types(target):
    a8 = np.array([127, -128, 100, -3] * 4, np.int8)
    u8 = np.array([255, 0, 200, 7] * 4, np.uint8)
    h = np.array([65504.0, 1.0 / 3.0, -2.5, 1e-4] * 4, np.float16)
    d = np.array([1.0, 3.0, -7.0, 1e300] * 4, np.float64)
    out = _run([lambda x, u, y, z: x + 1, lambda x, u, y, z: u * 2 - 1, lambda x, u, y, z: y * 2.0,
                lambda x, u, y, z: z * 0.1, lambda x, u, y, z: x * ns.const(2, "int8")],
               ["int8", "uint8", "float16", "float64"], [a8, u8, h, d], target)
    np.testing.assert_array_equal(out[0], a8.astype(np.int32) + 1)  # int32: 127 + 1 is 128, no wrap
    np.testing.assert_array_equal(out[1], u8.astype(np.int32) * 2 - 1)  # int32: 0 * 2 - 1 is -1
    np.testing.assert_array_equal(out[2], h.astype(np.float32) * np.float32(2))  # float32: 2 * 65504 is finite
    np.testing.assert_array_equal(out[3], d * 0.1)  # the double 0.1, not float32's
    np.testing.assert_array_equal(out[4], a8 * np.int8(2))  # a typed constant keeps int8 (wraps)
    assert [o.dtype for o in out] == [np.int32, np.int32, np.float32, np.float64, np.int8]


@pytest.mark.parametrize("dtype", [d for d in INTS if d != "uint64"])
def test_bitwise_operators_keep_the_operand_type_beside_a_python_int(dtype):
    A = ns.placeholder((2,), dtype, name="A")  # TVM's bit operators make the int a constant of A's type
    for expr in (A[0] & 6, 6 | A[0], A[0] ^ 3, A[0] << 1, A[0] >> 1):
        assert expr.dtype == dtype


def test_a_literal_keeps_its_exact_value_in_the_promoted_type():
    D = ns.placeholder((2,), "float64", name="D")
    assert (D[0] * 0.1).b.value == 0.1  # never rounded to float32 on the way (0.10000000149...)
    A = ns.placeholder((2,), "int32", name="A")
    assert (A[0] + 2**40).dtype == "int64" and (A[0] + 2**40).b.value == 2**40


@pytest.mark.parametrize("dtype, value, want", [("int8", 300, "int32"), ("uint8", -1, "int32"),
                                                ("int16", -40000, "int32"), ("int8", -(2**40), "int64")])
def test_a_python_int_past_the_operand_type_widens_as_in_tvm(dtype, value, want):
    A = ns.placeholder((2,), dtype, name="A")
    assert (A[0] + value).dtype == want


@pytest.mark.parametrize("dtype, value", [("uint64", 2**64), ("int8", 2**63), ("int64", -(2**63) - 1)])
def test_a_python_int_no_literal_type_holds_is_refused(dtype, value):
    A = ns.placeholder((2,), dtype, name="A")
    with pytest.raises(ns.DefinitionError, match=f"the Python int {value} beside an operand of type {dtype} fits no"):
        A[0] + value


def test_a_python_int_that_does_not_fit_the_type_of_a_bitwise_operand_is_refused():
    A = ns.placeholder((2,), "uint8", name="A")
    with pytest.raises(ns.DefinitionError, match="the Python int 300 does not fit uint8"):
        A[0] & 300


def test_const_takes_a_dtype():
    A = ns.placeholder((2,), "int8", name="A")
    assert (A[0] + ns.const(300, "int64")).dtype == "int64"
    assert ns.const(300, "uint8").value == 44
    with pytest.raises(ns.DefinitionError, match="dtype 'int7' is not supported"):
        ns.const(1, "int7")


# every operator on every type ----------------------------------------------------------------
_OPS = {
    "add": (lambda a, b: a + b, np.add), "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply), "floordiv": (lambda a, b: a // b, np.floor_divide),
    "mod": (lambda a, b: a % b, np.remainder), "max": (ns.maximum, np.maximum),
    "min": (ns.minimum, np.minimum), "lt": (lambda a, b: a < b, np.less),
    "ge": (lambda a, b: a >= b, np.greater_equal), "eq": (lambda a, b: a == b, np.equal),
    "neg": (lambda a, b: -a, lambda a, b: np.negative(a)),
}
_INT_OPS = {
    "and": (lambda a, b: a & b, np.bitwise_and), "or": (lambda a, b: a | b, np.bitwise_or),
    "xor": (lambda a, b: a ^ b, np.bitwise_xor), "invert": (lambda a, b: ~a, lambda a, b: np.invert(a)),
    "truncdiv": (ns.truncdiv, lambda a, b: _trunc_div(a, b)),
    "truncmod": (ns.truncmod, lambda a, b: np.fmod(a, b)), "fmod": (ns.fmod, np.fmod),
    "popcount": (lambda a, b: ns.popcount(a), lambda a, b: _popcount(a)),
    "abs": (lambda a, b: ns.abs(a), lambda a, b: np.abs(a)),
}
_FLOAT_OPS = {
    "div": (lambda a, b: a / b, np.true_divide), "fmod": (ns.fmod, np.fmod),
    "floor": (lambda a, b: ns.floor(a), lambda a, b: np.floor(a)),
    "ceil": (lambda a, b: ns.ceil(a), lambda a, b: np.ceil(a)),
    "round": (lambda a, b: ns.round(a), lambda a, b: np.round(a)),
    "isnan": (lambda a, b: ns.isnan(a), lambda a, b: np.isnan(a)),
    "isinf": (lambda a, b: ns.isinf(a), lambda a, b: np.isinf(a)),
    "abs": (lambda a, b: ns.abs(a), lambda a, b: np.abs(a)),
    "sqrt": (lambda a, b: ns.sqrt(a), lambda a, b: np.sqrt(a)), "exp": (lambda a, b: ns.exp(a), lambda a, b: np.exp(a)),
}


def _trunc_div(a, b):
    """C's division, 0 for a zero divisor, wrapped into the type (Python ints as the oracle)."""
    bits = a.dtype.itemsize * 8
    out = []
    for x, y in zip(a.tolist(), b.tolist()):
        q = 0 if y == 0 else abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
        out.append(q % (1 << bits))
    return np.array(out, dtype=f"uint{bits}").view(a.dtype)


def _popcount(a):
    unsigned = a.view(np.dtype(f"uint{a.dtype.itemsize * 8}"))
    return np.bitwise_count(unsigned).astype(a.dtype)


def _reference(op, a, b):
    with np.errstate(all="ignore"):
        result = op(a, b)
    if a.dtype.kind in "iu" and op in (np.floor_divide, np.remainder, np.fmod):
        result = np.where(b == 0, 0, result).astype(a.dtype)  # numpy's result, without its warning
    return result


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", INTS + FLOATS)
def test_every_operator_on_every_type(dtype, target):
    ops = {**_OPS, **(_FLOAT_OPS if dtype in FLOATS else _INT_OPS)}
    if dtype in ("uint8", "uint16", "uint32", "uint64"):
        ops.pop("neg")
        ops["neg"] = (lambda a, b: -a, lambda a, b: (0 - a.astype(object)).astype(object) % (1 << (a.itemsize * 8)))
    a, b = _samples(dtype, 1), _samples(dtype, 2)
    b[0] = 0
    if dtype in INTS and np.iinfo(dtype).min < 0:
        a[3], b[3] = np.iinfo(dtype).min, -1  # INT_MIN // -1 wraps
    results = _run([f for f, _ in ops.values()], [dtype, dtype], [a, b], target)
    for (name, (_, ref)), got in zip(ops.items(), results):
        expected = np.asarray(_reference(ref, a, b))
        if dtype in INTS and name in ("neg",) and dtype.startswith("u"):
            expected = expected.astype(dtype)
        if dtype == "float16" and name in ("exp", "sqrt"):  # numpy's own float16 exp/sqrt round the float32 result
            with np.errstate(all="ignore"):
                expected = ref(a.astype(np.float32), b).astype(np.float16)
        if name == "exp" and dtype != "float16":  # libm and numpy's exp differ in the last place
            np.testing.assert_allclose(got, expected, rtol=4 * np.finfo(dtype).eps, err_msg=f"{dtype} exp")
            continue
        np.testing.assert_array_equal(got, expected.astype(got.dtype), err_msg=f"{dtype} {name} on {target}")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", INTS)
def test_shifts_follow_numpy_for_every_count(dtype, target):
    bits = np.iinfo(dtype).bits
    a = _samples(dtype, 3)
    counts = np.array([0, 1, bits - 1, bits, bits + 1, 3, 7, 2, 1, 0, bits - 2, 5, 4, 6, 1, 2], dtype=dtype)
    shl, shr = _run([lambda x, c: x << c, lambda x, c: x >> c], [dtype, dtype], [a, counts], target)
    np.testing.assert_array_equal(shl, np.left_shift(a, counts))
    np.testing.assert_array_equal(shr, np.right_shift(a, counts))


@pytest.mark.parametrize("target", TARGETS)
def test_bools_stay_logical_and_erf_matches(target):
    x = _samples("float32", 4)
    bools = np.array([True, False] * (N // 2))
    out = _run([lambda a, p: (a > 0) & p, lambda a, p: (a > 0) | p, lambda a, p: (a > 0) ^ p,
                lambda a, p: ~p, lambda a, p: ns.erf(a)], ["float32", "bool"], [x, bools], target)
    with np.errstate(invalid="ignore"):
        pos = x > 0
    np.testing.assert_array_equal(out[0], pos & bools)
    np.testing.assert_array_equal(out[1], pos | bools)
    np.testing.assert_array_equal(out[2], pos ^ bools)
    np.testing.assert_array_equal(out[3], ~bools)
    import math

    expected = np.array([math.erf(v) if not np.isnan(v) else np.nan for v in x.astype(np.float64)], np.float32)
    np.testing.assert_allclose(out[4], expected, rtol=1e-6, atol=1e-7)


# conversions ---------------------------------------------------------------------------------
_DEFINED = INTS + FLOATS + ["bool"]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("source", _DEFINED)
def test_conversion_matrix(source, target):
    a = _samples(source, 5) if source != "bool" else np.array([True, False] * (N // 2))
    results = _run([lambda x, t=t: x.astype(t) for t in _DEFINED], [source], [a], target)
    for dtype, got in zip(_DEFINED, results):
        expected = np.array([convert_value(v, ns.DType(dtype)) for v in a.tolist()], dtype=dtype)
        np.testing.assert_array_equal(got, expected, err_msg=f"{source} -> {dtype} on {target}")
        in_range = np.ones(N, bool)
        if source in FLOATS and dtype not in FLOATS and dtype != "bool":
            whole = np.trunc(a.astype(np.float64))
            with np.errstate(invalid="ignore"):
                in_range = np.isfinite(whole) & (whole >= np.iinfo(dtype).min) & (whole <= np.iinfo(dtype).max)
        with np.errstate(all="ignore"):
            numpy = a.astype(dtype)
        np.testing.assert_array_equal(got[in_range], numpy[in_range], err_msg=f"{source} -> {dtype} vs numpy")


def test_out_of_range_conversions_are_defined():
    assert convert_value(float("nan"), ns.DType.INT32) == 0
    assert convert_value(float("inf"), ns.DType.INT32) == 2**31 - 1
    assert convert_value(-1.0, ns.DType.UINT8) == 255
    assert convert_value(300.0, ns.DType.UINT8) == 44
    assert convert_value(-1.0, ns.DType.UINT64) == 2**64 - 1
    assert convert_value(1e30, ns.DType.UINT64) == 2**64 - 1


# float16 end to end --------------------------------------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
def test_float16_chain_rounds_every_operation_like_numpy(target):
    rng = np.random.default_rng(6)
    a, b, c = (rng.standard_normal(N).astype(np.float16) * 30 for _ in range(3))
    tenth = ns.const(0.1, "float16")  # a bare 0.1 is TVM's float32 literal: the chain would be float32
    (out,) = _run([lambda x, y, z: (x * y + z) / (y - tenth) - ns.sqrt(ns.abs(x))],
                  ["float16"] * 3, [a, b, c], target)
    expected = (a * b + c) / (b - np.float16(0.1)) - np.sqrt(np.abs(a))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("target", TARGETS)
def test_float16_reduction(target):
    A = ns.placeholder((4, 32), "float16", name="A")
    k = ns.reduce_axis(32, "k")
    S = ns.compute((4,), lambda i: ns.sum(A[i, k], axis=k), name="S")
    module = ns.build(ns.create_schedule(S), [A, S], target=target)
    a = np.random.default_rng(7).standard_normal((4, 32)).astype(np.float16)
    s = np.zeros(4, np.float16)
    module(a, s)
    expected = np.zeros(4, np.float16)
    for j in range(32):
        expected = expected + a[:, j]  # one rounding per addition
    np.testing.assert_array_equal(s, expected)


# narrow and unsigned subscripts --------------------------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("index_type", ["int8", "uint8", "uint16", "uint32", "uint64"])
def test_subscripts_of_narrow_and_unsigned_types(index_type, target):
    A = ns.placeholder((300,), "float32", name="A")
    Idx = ns.placeholder((8,), index_type, name="Idx")
    C = ns.compute((8,), lambda i: A[Idx[i]] + A[(Idx[i] + 1) % 8], name="C")
    module = ns.build(ns.create_schedule(C), [A, Idx, C], target=target)
    a = np.arange(300, dtype=np.float32)
    idx = np.array([0, 3, 7, 100, 5, 1, 2, 6], dtype=index_type)
    c = np.zeros(8, np.float32)
    module(a, idx, c)
    np.testing.assert_array_equal(c, a[idx] + a[(idx + 1) % 8])
    if index_type != "int8":
        idx[2] = np.iinfo(index_type).max if index_type != "uint8" else 0
        if index_type != "uint8":
            with pytest.raises(ns.OutOfBoundsError, match="reads dimension 0 of A"):
                module(a, idx, c)


def test_errors_name_the_operand_and_the_fix():
    F = ns.placeholder((2,), "float32", name="F")
    Idx = ns.placeholder((2,), "int32", name="Idx")
    with pytest.raises(ns.DefinitionError, match=r"`\^` needs integer or bool operands.*x.astype"):
        F[0] ^ 1
    with pytest.raises(ns.DefinitionError, match=r"`<<` needs integer or bool operands"):
        Idx[0] << F[0]
    with pytest.raises(ns.DefinitionError, match=r"logical `not` needs bool operands.*compare first"):
        ~F[0]
    with pytest.raises(ns.DefinitionError, match=r"truncdiv\(F\[0\], 2.0\).*float32.*ns.fmod"):
        ns.truncdiv(F[0], 2)
    with pytest.raises(ns.DefinitionError, match=r"popcount\(F\[0\]\).*float32"):
        ns.popcount(F[0])
    with pytest.raises(ns.DefinitionError, match="logical `and` needs bool operands"):
        F[0] & 1.5
    index = Idx[0]
    assert ns.floor(index) is index and ns.isnan(index).value is False


@pytest.mark.parametrize("dtype", ["int8", "uint16", "uint64", "float16"])
def test_vectorized_loops_of_new_types_run_lane_by_lane(dtype):
    A = ns.placeholder((64,), dtype, name="A")
    three, two = ns.const(3, dtype), ns.const(2, dtype)  # bare ints would widen int8/uint16 to int32
    C = ns.compute((64,), lambda i: (A[i] * three + A[63 - i]) // two if dtype != "float16" else A[i] * 3 + 1,
                   name="C")
    s = ns.create_schedule(C)
    outer, inner = s[C].split(C.op.axis[0], factor=16)
    s[C].vectorize(inner)
    module = ns.build(s, [A, C], target="llvm")
    a = _samples(dtype, 8).repeat(4)
    c = np.zeros(64, dtype)
    module(a, c)
    with np.errstate(all="ignore"):
        expected = (a * 3 + a[::-1]) // 2 if dtype != "float16" else a * np.float16(3) + np.float16(1)
    np.testing.assert_array_equal(c, expected)


def test_llvm_uses_unsigned_instructions_for_unsigned_types():
    A = ns.placeholder((8,), "uint32", name="A")
    B = ns.placeholder((8,), "uint32", name="B")
    outs = [ns.compute((8,), body, name=f"out{n}") for n, body in enumerate([
        lambda i: A[i] // B[i], lambda i: A[i] % B[i], lambda i: A[i] < B[i], lambda i: A[i] >> B[i],
        lambda i: A[i].astype("float32"), lambda i: A[i].astype("uint64")])]
    source = _build(outs, [A, B], "llvm").source
    for instruction in ("udiv i32", "urem i32", "icmp ult i32", "lshr i32", "uitofp i32", "zext i32"):
        assert instruction in source, instruction
    for signed in ("sdiv i32", "srem i32", "icmp slt i32", "ashr i32", "sitofp i32", "sext i32"):
        assert signed not in source, signed


def test_interpreter_wraps_int32_overflow_like_llvm():
    A = ns.placeholder((4,), "int32", name="A")
    C = ns.compute((4,), lambda i: A[i] * A[i] + 7, name="C")
    a = np.array([2**20, 3, -(2**20), 46341], dtype=np.int32)
    for target in TARGETS:
        c = np.zeros(4, np.int32)
        ns.build(ns.create_schedule(C), [A, C], target=target)(a, c)
        np.testing.assert_array_equal(c, a * a + 7)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint32", "float16"])
def test_max_and_min_reductions_start_from_the_types_extremes(dtype, target):
    A = ns.placeholder((3, 8), dtype, name="A")
    k = ns.reduce_axis(8, "k")
    hi = ns.compute((3,), lambda i: ns.max(A[i, k], axis=k), name="hi")
    lo = ns.compute((3,), lambda i: ns.min(A[i, k], axis=k), name="lo")
    module = _build([hi, lo], [A], target)
    a = np.concatenate([_samples(dtype, 9), _samples(dtype, 10)])[:24].reshape(3, 8) if dtype != "float16" else \
        np.random.default_rng(9).standard_normal((3, 8)).astype(dtype)
    h, m = np.zeros(3, dtype), np.zeros(3, dtype)
    module(a, h, m)
    np.testing.assert_array_equal(h, a.max(1))
    np.testing.assert_array_equal(m, a.min(1))


@pytest.mark.parametrize("target", TARGETS)
def test_narrow_integer_power_wraps(target):
    a = np.array([10, 3, -2, 7] * 4, dtype=np.int8)
    (out,) = _run([lambda x: x ** ns.const(3, "int8")], ["int8"], [a], target)
    np.testing.assert_array_equal(out, a ** 3)


def test_string_form_knows_the_intrinsics_and_bitwise_operators():
    A = ns.placeholder((N,), "int16", name="A")
    F = ns.placeholder((N,), "float32", name="F")
    C = ns.compute("C[i] = truncdiv(A[i], 3) + popcount(A[i]) + (A[i] & 6)", A=A)  # int32: TVM's literal 3
    R = ns.compute("R[i] = round(F[i]) + fmod(F[i], 2.0)", F=F)
    a, f = _samples("int16", 13), _samples("float32", 14)
    c, r = np.zeros(N, np.int32), np.zeros(N, np.float32)
    assert C.dtype == "int32"
    module = _build([C, R], [A, F], "llvm")
    module(a, f, c, r)
    with np.errstate(all="ignore"):
        expected = (_trunc_div(a, np.full(N, 3, np.int16)).astype(np.int32) + _popcount(a).astype(np.int32)
                    + (a & 6).astype(np.int32))
        np.testing.assert_array_equal(c, expected)
        np.testing.assert_array_equal(r, np.round(f) + np.fmod(f, np.float32(2)))
