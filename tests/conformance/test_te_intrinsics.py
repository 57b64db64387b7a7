"""TVM's two-operand intrinsics (its test_binary_intrin: ``atan2``, ``nextafter``, ``copysign``,
``hypot``), ``ldexp`` and ``clz`` as TVM programs (through :mod:`te_shim`), on LLVM (scalar and
vectorized) and the interpreter against numpy, and their CUDA C through nvcc."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from backends.cuda.nvcc import find_nvcc

from .helpers import close, empty
from .te_shim import te, tvm

BINARY = {"atan2": np.arctan2, "nextafter": np.nextafter, "copysign": np.copysign, "hypot": np.hypot}


def binary_program(name, dtype, vectorized):
    m = te.var("m")
    A = te.placeholder((m,), name="A", dtype=dtype)
    B = te.placeholder((m,), name="B", dtype=dtype)
    intrinsic = getattr(tvm.tir, name)
    C = te.compute((m,), lambda *i: intrinsic(A(*i), B(*i)), name="C")
    s = te.create_schedule(C.op)
    if vectorized:
        _, inner = s[C].split(C.op.axis[0], factor=8)
        s[C].vectorize(inner)
    return s, [A, B, C]


@pytest.mark.parametrize("target, vectorized", [("llvm", False), ("llvm", True), ("interp", False)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_intrinsics(dtype, target, vectorized, rng):
    a = rng.uniform(-2, 2, 19).astype(dtype)
    b = rng.uniform(-2, 2, 19).astype(dtype)
    a[:3], b[:3] = [0.0, -0.0, 1.0], [-0.0, 1.0, np.inf]
    for name, reference in BINARY.items():
        s, args = binary_program(name, dtype, vectorized)
        c = empty((19,), dtype)
        tvm.build(s, args, target=target)(a, b, c)
        want = reference(a, b)
        if name in ("nextafter", "copysign"):  # exact: one step of the operands' own type
            np.testing.assert_array_equal(c, want, err_msg=name)
        else:
            np.testing.assert_allclose(c, want, rtol=4e-7 if dtype == "float32" else 1e-15, err_msg=name)


def test_binary_intrinsics_in_float16_and_integers(rng):
    A = te.placeholder((8,), name="A", dtype="float16")
    B = te.placeholder((8,), name="B", dtype="float16")
    I = te.placeholder((8,), name="I", dtype="int32")  # noqa: E741 - TVM's name
    H = te.compute((8,), lambda i: te.hypot(A[i], B[i]), name="H")
    T = te.compute((8,), lambda i: te.atan2(I[i], 3), name="T")
    assert (H.dtype, T.dtype) == ("float16", "float32")
    a, b = rng.uniform(-2, 2, 8).astype("float16"), rng.uniform(-2, 2, 8).astype("float16")
    ints = np.arange(-4, 4, dtype="int32")
    h, t = empty((8,), "float16"), empty((8,), "float32")
    tvm.build(te.create_schedule([H.op, T.op]), [A, B, I, H, T])(a, b, ints, h, t)
    close(h, np.hypot(a, b))
    close(t, np.arctan2(ints, 3).astype("float32"))
    with pytest.raises(te.DefinitionError, match=r"nextafter\(A\[0\], B\[0\]\): the operands have type float16, "
                       "whose steps this function does not take; cast them to float32 first"):
        te.nextafter(A[0], B[0])


@pytest.mark.parametrize("target", ["llvm", "interp"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ldexp(dtype, target, rng):
    m = te.var("m")
    X = te.placeholder((m,), name="X", dtype=dtype)
    N = te.placeholder((m,), name="N", dtype="int32")
    L = te.compute((m,), lambda i: te.ldexp(X[i], N[i]), name="L")
    x = rng.uniform(-2, 2, 7).astype(dtype)
    n = np.array([0, 3, -4, 200, -200, 2000, -2000], "int32")
    out = empty((7,), dtype)
    tvm.build(te.create_schedule(L.op), [X, N, L], target=target)(x, n, out)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(out, np.ldexp(x, n))
    with pytest.raises(te.DefinitionError, match=r"ldexp\(X\[0\], 2.0\): the exponent has type float32; it must "
                       "be an integer"):
        te.ldexp(X[0], 2.0)


@pytest.mark.parametrize("target", ["llvm", "interp"])
@pytest.mark.parametrize("dtype", ["int32", "int64", "uint32", "uint64"])
def test_clz(dtype, target):
    bits = np.dtype(dtype).itemsize * 8
    A = te.placeholder((6,), name="A", dtype=dtype)
    C = te.compute((6,), lambda i: te.clz(A[i]), name="C")
    top = -1 if dtype.startswith("int") else (1 << bits) - 1
    a = np.array([0, 1, 2, 255, 1 << (bits - 2), top], dtype=object).astype(dtype)
    c = empty((6,), dtype)
    tvm.build(te.create_schedule(C.op), [A, C], target=target)(a, c)
    close(c, [bits - (int(v) & ((1 << bits) - 1)).bit_length() for v in a])
    with pytest.raises(te.DefinitionError, match=r"clz\(B\[0\]\): the operand has type int16; clz counts the "
                       "leading zeros of a 32- or 64-bit integer"):
        te.clz(te.placeholder((1,), name="B", dtype="int16")[0])


@pytest.mark.slow  # one nvcc call: ~5 s
def test_cuda_source_of_the_intrinsics_compiles():
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    A, B = te.placeholder((64,), name="A"), te.placeholder((64,), name="B")
    N = te.placeholder((64,), name="N", dtype="int64")
    D = te.compute((64,), lambda i: te.atan2(A[i], B[i]) + te.hypot(A[i], B[i]) + te.copysign(A[i], B[i])
                   + te.nextafter(A[i], B[i]) + te.ldexp(A[i], N[i]) + te.clz(N[i]).astype("float32"), name="D")
    s = te.create_schedule(D.op)
    s[D].bind(D.op.axis[0], te.thread_axis("threadIdx.x"))
    source = tvm.build(s, [A, B, N, D], target="cuda").source
    for call in ("atan2f(", "hypotf(", "copysignf(", "nextafterf(", "ldexpf(", "__clzll("):
        assert call in source
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "intrinsics.cu"
        path.write_text(source)
        done = subprocess.run([nvcc, "-arch=sm_90", "-c", str(path), "-o", str(Path(folder) / "a.o")],
                              capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("target", ["llvm", "interp"])
def test_ldexp_with_a_wide_exponent(target):
    X = te.placeholder((4,), name="X")
    N = te.placeholder((4,), name="N", dtype="int64")
    L = te.compute((4,), lambda i: te.ldexp(X[i], N[i]), name="L")
    x = np.array([1.5, 1.5, -2.0, 3.0], "float32")
    n = np.array([2**33, 3, 0, -2**33], "int64")  # not wrapped to 32 bits
    out = empty((4,), "float32")
    tvm.build(te.create_schedule(L.op), [X, N, L], target=target)(x, n, out)
    close(out, [np.inf, 12.0, -2.0, 0.0])
