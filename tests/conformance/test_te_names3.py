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


def gpu_schedule(out):
    s = te.create_schedule(out.op)
    bx, tx = s[out].split(out.op.axis[0], factor=16)
    s[out].bind(bx, te.thread_axis("blockIdx.x"))
    s[out].bind(tx, te.thread_axis("threadIdx.x"))
    return s


def run_everywhere(out, args, arrays, dtype):
    """The output on the interpreter, LLVM and (where g++ is present) the CUDA host emulation."""
    results = []
    for target in ("interp", "llvm"):
        result = np.zeros(out.shape, dtype)
        tvm.build(te.create_schedule(out.op), args, target=target)(*arrays, result)
        results.append(result)
    if host_emulation.available():
        (host,) = host_emulation.compile_host([tvm.build(gpu_schedule(out), args, target="cuda")])
        result = np.zeros(out.shape, dtype)
        host(*arrays, result)
        results.append(result)
    return results


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
