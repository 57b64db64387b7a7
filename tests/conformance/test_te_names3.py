"""A third set of TVM's ``tir`` names through :mod:`te_shim` (:mod:`tensorir.tvm_names3`):
``shift_left``/``shift_right``, ``q_multiply_shift`` against an exact rational reference,
``StringImm`` as a pragma value, and ``Stage.rolling_buffer``'s refusal; values on the
interpreter, LLVM and the CUDA source (run by the host emulation), and every error message."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from tests.backends.cuda import host_emulation

from .te_shim import te, tvm

#: CUDA's bit-counting intrinsics, which the host C++ lacks, by their documented results
_DEVICE_FUNCTIONS = r"""
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
static inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
"""


@pytest.fixture(autouse=True)
def _device_functions(monkeypatch):
    monkeypatch.setattr(host_emulation, "PRELUDE", host_emulation.PRELUDE + _DEVICE_FUNCTIONS)


def gpu_schedule(outs):
    s = te.create_schedule([out.op for out in outs])
    for out in outs:
        bx, tx = s[out].split(out.op.axis[0], factor=16)
        s[out].bind(bx, te.thread_axis("blockIdx.x"))
        s[out].bind(tx, te.thread_axis("threadIdx.x"))
    return s


def run_all(outs, inputs, arrays, dtype):
    """Every output of one kernel on the interpreter, LLVM and (where g++ is present) the CUDA
    host emulation: a list per backend."""
    results = []
    args = [*inputs, *outs]
    modules = [tvm.build(te.create_schedule([out.op for out in outs]), args, target=target)
               for target in ("interp", "llvm")]
    if host_emulation.available():
        modules += host_emulation.compile_host([tvm.build(gpu_schedule(outs), args, target="cuda")])
    for module in modules:
        result = [np.zeros(out.shape, dtype) for out in outs]
        module(*arrays, *result)
        results.append(result)
    return results


def run_everywhere(out, args, arrays, dtype):
    """The output on the interpreter, LLVM and (where g++ is present) the CUDA host emulation."""
    return [result for (result,) in run_all([out], args[:-1], arrays, dtype)]


def test_shifts_of_signed_and_unsigned_integers():
    A = te.placeholder((64,), name="A", dtype="int32")
    N = te.placeholder((64,), name="N", dtype="int32")
    C = te.compute((64,), lambda i: tvm.tir.shift_left(A[i], N[i] % 8) + tvm.tir.shift_right(A[i], N[i] % 31),
                   name="C")
    a = np.arange(-32, 32, dtype=np.int32) * 12345
    n = np.arange(64, dtype=np.int32) * 7
    want = (a << (n % 8)) + (a >> (n % 31))
    for got in run_everywhere(C, [A, N, C], [a, n], np.int32):
        np.testing.assert_array_equal(got, want)
    U = te.placeholder((64,), name="U", dtype="uint32")
    D = te.compute((64,), lambda i: tvm.tir.shift_right(U[i], 3), name="D")
    u = np.arange(64, dtype=np.uint32) * np.uint32(67_108_863)
    for got in run_everywhere(D, [U, D], [u], np.uint32):
        np.testing.assert_array_equal(got, u >> 3)


def q_reference(x: np.ndarray, y: int, q: int, s: int) -> np.ndarray:
    """round(x * y * 2**(s - q)), half up, exactly; the low 32 bits."""
    exact = [math.floor(int(v) * y * Fraction(2) ** (s - q) + Fraction(1, 2)) for v in x]
    return np.array([(e + 2**31) % 2**32 - 2**31 for e in exact], dtype=np.int64).astype(np.int32)


@pytest.mark.parametrize(("y", "q", "s"), [(1939887962, 31, -9), (1340867788, 31, -27), (1073741824, 31, 3),
                                           (12345, 15, 0)])
def test_q_multiply_shift_rounds_half_up(y, q, s, rng):
    A = te.placeholder((64,), name="A", dtype="int32")
    B = te.compute((64,), lambda i: tvm.tir.q_multiply_shift(A[i], y, q, s), name="B")
    a = rng.integers(-2**20, 2**20, 64).astype(np.int32)
    a[:4] = [0, 1, -1, 2**20]
    for got in run_everywhere(B, [A, B], [a], np.int32):
        np.testing.assert_array_equal(got, q_reference(a, y, q, s))


def test_q_multiply_shift_with_a_shift_read_from_data(rng):
    A = te.placeholder((32,), name="A", dtype="int32")
    S = te.placeholder((32,), name="S", dtype="int32")
    B = te.compute((32,), lambda i: tvm.tir.q_multiply_shift(A[i], 1518500250, 31, S[i]), name="B")
    a = rng.integers(-2**16, 2**16, 32).astype(np.int32)
    shifts = rng.integers(-12, 6, 32).astype(np.int32)
    want = np.array([q_reference(a[i:i + 1], 1518500250, 31, int(shifts[i]))[0] for i in range(32)], np.int32)
    for got in run_everywhere(B, [A, S, B], [a, shifts], np.int32):
        np.testing.assert_array_equal(got, want)


def test_q_multiply_shift_errors_name_the_operand():
    A = te.placeholder((4,), name="A", dtype="int32")
    F = te.placeholder((4,), name="F")
    with pytest.raises(te.DefinitionError) as info:
        tvm.tir.q_multiply_shift(F[0], 3, 31, 0)
    assert str(info.value) == ("q_multiply_shift(F[0], 3, 31, 0): x has type float32; q_multiply_shift takes int32 "
                               "operands, cast it first, e.g. x.astype('int32')")
    with pytest.raises(te.DefinitionError) as info:
        tvm.tir.q_multiply_shift(A[0], 3, 0, 0)
    assert str(info.value) == ("q_multiply_shift(A[0], 3, 0, 0): q (the fractional bits) is 0; give a constant "
                               "from 1 to 62, e.g. 31")
    with pytest.raises(te.DefinitionError) as info:
        tvm.tir.q_multiply_shift(A[0], 3, A[1], 0)
    assert str(info.value).startswith("q_multiply_shift(A[0], 3, A[1], 0): q (the fractional bits) is A[1]; ")


def test_string_imm_is_a_pragma_value_and_not_a_number():
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] + 1, name="B")
    s = te.create_schedule(B.op)
    s[B].pragma(B.op.axis[0], "import_c", tvm.tir.StringImm("kernel.c"))
    key, value = s[B].pragmas[B.op.axis[0]][0]
    assert (key.value, value.value, str(value)) == ("import_c", "kernel.c", "kernel.c")
    assert key == tvm.tir.StringImm("import_c")
    out = np.zeros(8, np.float32)
    tvm.build(s, [A, B], target="llvm")(np.arange(8, dtype=np.float32), out)
    np.testing.assert_array_equal(out, np.arange(8) + 1)
    with pytest.raises(te.DefinitionError) as info:
        te.compute((8,), lambda i: A[i] + tvm.tir.StringImm("x"), name="C")
    assert "cannot use StringImm(value='x') of type StringImm in an expression" in str(info.value)
    with pytest.raises(te.DefinitionError) as info:
        tvm.tir.StringImm(3)
    assert str(info.value) == "StringImm(3): the value is a int; give a str, or use tir.const for a number"


def test_rolling_buffer_is_refused_with_the_replacement():
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] + 1, name="B")
    C = te.compute((6,), lambda i: B[i] + B[i + 1] + B[i + 2], name="C")
    s = te.create_schedule(C.op)
    with pytest.raises(te.ScheduleError) as info:
        s[C].rolling_buffer()
    assert str(info.value) == (
        "s[C].rolling_buffer(): C is an output, and an output's buffer cannot roll (TVM refuses this too); apply "
        "it to a producer computed at a loop of its consumer")
    with pytest.raises(te.ScheduleError) as info:
        s[B].rolling_buffer()
    assert str(info.value) == (
        "s[B].rolling_buffer(): rolling buffers are not supported (Nestor has no storage folded modulo a window); "
        "drop the call: with s[B].compute_at(...) the kernel computes the same values, recomputing the rows "
        "windows share")


def test_reinterpret_keeps_the_bits_between_floats_and_integers():
    F = te.placeholder((64,), name="F")
    I = te.compute((64,), lambda i: tvm.tir.reinterpret("int32", F[i]), name="I")  # noqa: E741 - TVM's name
    f = np.linspace(-3, 3, 64).astype(np.float32)
    f[:3] = [np.inf, -0.0, np.float32(1e-40)]  # a subnormal keeps its bits too
    for got in run_everywhere(I, [F, I], [f], np.int32):
        np.testing.assert_array_equal(got, f.view(np.int32))
    G = te.compute((64,), lambda i: tvm.tir.reinterpret("float32", tvm.tir.reinterpret("uint32", F[i]) + 1),
                   name="G")
    finite = f.copy()
    finite[0] = 2.5  # inf's next bit pattern is a signalling NaN, whose payload Python's float quiets
    for got in run_everywhere(G, [F, G], [finite], np.float32):
        np.testing.assert_array_equal(got.view(np.uint32), finite.view(np.uint32) + 1)
    X = te.placeholder((8,), name="X", dtype="float64")
    E = te.compute((8,), lambda i: tvm.tir.reinterpret("int64", X[i]) >> 52, name="E")
    x = np.array([1.0, 2.0, -4.0, 1e300, 1e-300, 0.5, 3.0, -0.0])
    for got in run_everywhere(E, [X, E], [x], np.int64):
        np.testing.assert_array_equal(got, x.view(np.int64) >> 52)
    U = te.placeholder((8,), name="U", dtype="uint8")
    D = te.compute((8,), lambda i: tvm.tir.reinterpret("int8", U[i]), name="D")
    u = np.array([0, 1, 127, 128, 200, 255, 3, 4], np.uint8)
    for got in run_everywhere(D, [U, D], [u], np.int8):
        np.testing.assert_array_equal(got, u.view(np.int8))


def test_reinterpret_of_a_constant_is_printed_with_its_type():
    A = te.placeholder((4,), name="A")
    C = te.compute((4,), lambda i: A[i] + tvm.tir.reinterpret("float32", te.const(1065353216, "int32")), name="C")
    assert "C[i] = A[i] + reinterpret('float32', 1065353216)" in str(tvm.lower(te.create_schedule(C.op), [A, C]))
    for got in run_everywhere(C, [A, C], [np.arange(4, dtype=np.float32)], np.float32):
        np.testing.assert_array_equal(got, np.arange(4) + 1)


def test_reinterpret_errors_name_the_types():
    A = te.placeholder((4,), name="A")
    H = te.placeholder((4,), name="H", dtype="float16")
    with pytest.raises(te.DefinitionError) as info:
        tvm.tir.reinterpret("int64", A[0])
    assert str(info.value) == ("reinterpret(int64, A[0]): float32 has 32 bits, int64 64; reinterpret keeps the "
                               "bits, so pick a type of 32 bits (or convert with .astype('int64'))")
    with pytest.raises(te.DefinitionError) as info:
        tvm.tir.reinterpret("int16", H[0])
    assert str(info.value) == ("reinterpret(int16, H[0]): float16 is not supported; reinterpret between integer "
                               "types and float32/float64 of one width, e.g. reinterpret('int32', x) of a float32 x")
    assert tvm.tir.reinterpret("float32", A[1]) is not None


UNARY = {"exp2": np.exp2, "exp10": lambda x: 10.0 ** x, "log2": np.log2, "log10": np.log10, "log1p": np.log1p,
         "expm1": np.expm1, "erf": None, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "rsqrt": lambda x: 1 / np.sqrt(x),
         "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "asinh": np.arcsinh, "acosh": np.arccosh,
         "atanh": np.arctanh, "sinh": np.sinh, "cosh": np.cosh, "nearbyint": np.rint, "trunc": np.trunc,
         "round": np.rint}


def _scaled(function, A, low, high):
    return lambda i: function(low + (high - low) * A[i])


def test_float_functions_on_every_backend():
    """Each of TVM's one-operand float functions against numpy (math.erf for erf), in its domain."""
    import math

    names = sorted(UNARY)
    domains = {"acosh": (1.1, 4.0), "log2": (0.1, 4.0), "log10": (0.1, 4.0), "rsqrt": (0.1, 4.0),
               "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atanh": (-0.9, 0.9), "log1p": (-0.9, 2.5)}
    A = te.placeholder((64,), name="A", dtype="float64")
    t = np.linspace(0.0, 1.0, 64)
    outs = []
    for name in names:
        low, high = domains.get(name, (-2.5, 2.5))
        outs.append(te.compute((64,), _scaled(getattr(tvm.tir, name), A, low, high), name=name.upper()))
    for results in run_all(outs, [A], [t], np.float64):
        for name, got in zip(names, results):
            low, high = domains.get(name, (-2.5, 2.5))
            a = low + (high - low) * t
            want = np.vectorize(math.erf)(a) if name == "erf" else UNARY[name](a)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=name)


def test_integer_and_predicate_names_on_every_backend():
    """bitwise ops, popcount, clz, floordiv/floormod/truncdiv/truncmod/indexdiv/indexmod,
    fmod, if_then_else/Select, all/any and isnan/isinf/isfinite against numpy."""
    A = te.placeholder((64,), name="A", dtype="int32")
    B = te.placeholder((64,), name="B", dtype="int32")
    tir = tvm.tir
    parts = [lambda i: tir.bitwise_and(A[i], B[i]) + tir.bitwise_or(A[i], B[i]) * 3,
             lambda i: tir.bitwise_xor(A[i], B[i]) - tir.bitwise_not(A[i]),
             lambda i: tir.popcount(A[i]) + tir.clz(A[i]) * 100,
             lambda i: tir.floordiv(A[i], B[i]) * 1000 + tir.floormod(A[i], B[i]),
             lambda i: tir.truncdiv(A[i], B[i]) * 1000 + tir.truncmod(A[i], B[i]),
             lambda i: tir.indexdiv(A[i], 7) * 1000 + tir.indexmod(A[i], 7),
             lambda i: tir.if_then_else(tir.all(A[i] > 0, B[i] > 0), 1, tir.Select(tir.any(A[i] < -50, B[i] < -3), 2,
                                                                                   3))]
    a = np.arange(-32, 32, dtype=np.int32) * 3 + 1
    b = np.array([v if v else 5 for v in np.arange(64, dtype=np.int32) % 11 - 5], np.int32)
    clz = np.array([32 - int(v).bit_length() if v >= 0 else 0 for v in a])
    trunc = np.trunc(a / b).astype(np.int64)
    popcount = np.array([bin(int(v) & 0xFFFFFFFF).count("1") for v in a])
    wants = [(a & b) + (a | b) * 3, (a ^ b) - ~a, popcount + clz * 100,
             (a // b) * 1000 + a % b, trunc * 1000 + (a - trunc * b), (a // 7) * 1000 + a % 7,
             np.where((a > 0) & (b > 0), 1, np.where((a < -50) | (b < -3), 2, 3))]
    outs = [te.compute((64,), part, name=f"C{n}") for n, part in enumerate(parts)]
    for results in run_all(outs, [A, B], [a, b], np.int32):
        for got, want in zip(results, wants):
            np.testing.assert_array_equal(got, want.astype(np.int32))
    X = te.placeholder((8,), name="X")
    P = te.compute((8,), lambda i: tir.isnan(X[i]).astype("int32") + tir.isinf(X[i]).astype("int32") * 2
                   + tir.isfinite(X[i]).astype("int32") * 4 + (tir.fmod(X[i], 1.5) * 10).astype("int32") * 8, name="P")
    x = np.array([np.nan, np.inf, -np.inf, 1.0, -2.75, 0.0, 3.5, 7.0], np.float32)
    with np.errstate(invalid="ignore"):
        fmod = np.nan_to_num(np.fmod(x, 1.5) * 10, posinf=0, neginf=0).astype(np.int32)
    want = np.isnan(x) + np.isinf(x) * 2 + np.isfinite(x) * 4 + fmod * 8
    for got in run_everywhere(P, [X, P], [x], np.int32):
        np.testing.assert_array_equal(got, want)


@pytest.mark.slow  # one nvcc call: ~5 s
def test_cuda_source_of_reinterpret_and_q_multiply_shift_compiles():
    import subprocess
    import tempfile
    from pathlib import Path

    from backends.cuda.nvcc import find_nvcc

    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    F = te.placeholder((64,), name="F")
    S = te.placeholder((64,), name="S", dtype="int32")
    I = te.compute((64,), lambda i: tvm.tir.q_multiply_shift(tvm.tir.reinterpret("int32", F[i]), 5, 31, S[i])  # noqa: E741
                   + tvm.tir.shift_left(S[i], 2), name="I")
    source = tvm.build(gpu_schedule([I]), [F, S, I], target="cuda").source
    assert "nestor_reinterpret<int>(F[" in source
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "names3.cu"
        path.write_text(source)
        done = subprocess.run([nvcc, "-arch=sm_90", "-c", str(path), "-o", str(Path(folder) / "a.o")],
                              capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
