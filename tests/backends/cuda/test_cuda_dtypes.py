"""CUDA source of the new types compiles with nvcc (one call for all kernels): float16 as
``__half`` through ``cuda_fp16.h`` with float arithmetic per operation, unsigned types as C's
unsigned types, narrow integers wrapped back into their type, shifts and intrinsics through
helpers defined for every operand."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import nestor as ns
from backends.cuda.nvcc import find_nvcc
from tests.backends.cuda import host_emulation

TYPES = ["int8", "int16", "uint8", "uint16", "uint32", "uint64", "float16"]


def _schedule(dtype: str):
    A = ns.placeholder((256,), dtype, name="A")
    B = ns.placeholder((256,), dtype, name="B")
    floats = dtype == "float16"
    bodies = [
        lambda i: A[i] + B[i] * 3, lambda i: A[i] // B[i], lambda i: A[i] % B[i],
        lambda i: ns.maximum(A[i], B[i]), lambda i: ns.if_then_else(A[i] < B[i], A[i], -B[i]),
        lambda i: ns.fmod(A[i], B[i]), lambda i: A[i].astype("float32"), lambda i: (A[i] * 1.5).astype(dtype),
    ]
    if floats:
        bodies += [lambda i: ns.exp(A[i]) / B[i], lambda i: ns.round(A[i]) + ns.floor(B[i]) - ns.ceil(A[i]),
                   lambda i: ns.isnan(A[i]) | ns.isinf(B[i]), lambda i: ns.erf(A[i]),
                   lambda i: A[i].astype("int8"), lambda i: A[i].astype("float64")]
    else:
        bodies += [lambda i: (A[i] << B[i]) ^ (A[i] >> B[i]) ^ (A[i] >> 2), lambda i: ~A[i] & B[i] | 1,
                   lambda i: ns.truncdiv(A[i], B[i]) + ns.truncmod(A[i], B[i]), lambda i: ns.popcount(A[i]),
                   lambda i: ns.abs(A[i]) - A[i] * B[i]]
    outs = [ns.compute((256,), body, name=f"out{n}") for n, body in enumerate(bodies)]
    s = ns.create_schedule(outs)
    for out in outs:
        bx, tx = s[out].split(out.op.axis[0], factor=64)
        s[out].bind(bx, "blockIdx.x")
        s[out].bind(tx, "threadIdx.x")
    return s, [A, B, *outs]


def _kernel(dtype: str) -> str:
    s, args = _schedule(dtype)
    return ns.build(s, args, target="cuda", name=f"k_{dtype}").source


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    return {dtype: _kernel(dtype) for dtype in TYPES}


def test_sources_compile_with_nvcc(sources):
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    with tempfile.TemporaryDirectory(prefix="nestor_dtypes_") as folder:
        path = Path(folder) / "dtypes.cu"
        path.write_text("\n".join(sources.values()))
        done = subprocess.run([nvcc, "-arch=sm_90", "-c", str(path), "-o", str(Path(folder) / "d.o")],
                              capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_float16_is_half_computed_in_float(sources):
    text = sources["float16"]
    assert "#include <cuda_fp16.h>" in text and "const __half* __restrict__ A" in text
    assert "__float2half_rn(__half2float(A[i]) + __half2float(B[i]) * 3.0f)" not in text  # rounded per op
    assert "__float2half_rn((float)(__half2float(" in text


def test_unsigned_and_narrow_integers_use_c_types(sources):
    assert "unsigned int* __restrict__ out0" in sources["uint32"]
    assert "nestor_ufloordiv(A[" in sources["uint64"] and "nestor_shr(" in sources["uint64"]
    assert "(signed char)(" in sources["int8"] and "(unsigned int)" in sources["uint16"]


#: what the host C++ lacks of the CUDA device functions the integer kernels call
_DEVICE_FUNCTIONS = r"""
#include <limits.h>
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline long long __double2ll_rz(double x) {
  if (x >= 9223372036854775807.0) return LLONG_MAX;
  if (x <= -9223372036854775808.0) return LLONG_MIN;
  return (long long)x;
}
static inline unsigned long long __double2ull_rz(double x) {
  if (x >= 18446744073709551615.0) return ULLONG_MAX;
  return x <= 0 ? 0ULL : (unsigned long long)x;
}
"""


def test_integer_kernels_compute_what_the_interpreter_does(monkeypatch):
    """The CUDA C of every integer type, run on the CPU, against the reference interpreter."""
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    monkeypatch.setattr(host_emulation, "PRELUDE", host_emulation.PRELUDE + _DEVICE_FUNCTIONS)
    integers = [d for d in TYPES if d != "float16"]
    built = {d: _schedule(d) for d in integers}
    modules = [ns.build(s, args, target="cuda", name=f"h_{d}") for d, (s, args) in built.items()]
    hosts = host_emulation.compile_host(modules)
    rng = np.random.default_rng(11)
    for (dtype, (s, args)), host in zip(built.items(), hosts):
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, 256, endpoint=True, dtype=dtype)
        b = rng.integers(info.min, info.max, 256, endpoint=True, dtype=dtype)
        a[:4] = [info.min, info.max, 0, info.min]
        b[:4] = [0, 1 if info.min == 0 else -1, 0, -1 if info.min < 0 else 3]
        b[4:12] = np.arange(8, dtype=dtype)  # small shift counts
        outs = [np.zeros(256, o.dtype) for o in args[2:]]
        expected = [np.zeros(256, o.dtype) for o in args[2:]]
        host(a, b, *outs)
        ns.build(s, args, target="interp")(a, b, *expected)
        for n, (got, want) in enumerate(zip(outs, expected)):
            np.testing.assert_array_equal(got, want, err_msg=f"{dtype} out{n}")


#: cuda_fp16.h for the host: g++'s _Float16 converts with one correct rounding, as __half does
_HOST_FP16 = """#pragma once
typedef _Float16 __half;
static inline float __half2float(__half h) { return (float)h; }
static inline __half __float2half_rn(float f) { return (__half)f; }
static inline __half __double2half(double d) { return (__half)d; }
"""


def test_float16_kernel_computes_what_the_interpreter_does(monkeypatch, tmp_path):
    """The float16 CUDA C, run on the CPU with _Float16 for __half, against the interpreter."""
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    monkeypatch.setattr(host_emulation, "PRELUDE", host_emulation.PRELUDE + _DEVICE_FUNCTIONS)
    (tmp_path / "cuda_fp16.h").write_text(_HOST_FP16)
    s, args = _schedule("float16")
    try:
        (host,) = host_emulation.compile_host([ns.build(s, args, target="cuda", name="h_float16")], str(tmp_path))
    except AssertionError as error:
        if "_Float16" in str(error):
            pytest.skip("this g++ has no _Float16")
        raise
    rng = np.random.default_rng(12)
    a = (rng.standard_normal(256) * 20).astype(np.float16)
    b = (rng.standard_normal(256) * 3).astype(np.float16)
    a[:6] = [np.inf, -np.inf, np.nan, -0.0, 65504, 2.5]
    b[:6] = [0, 1, 2, np.inf, -0.5, 0]
    outs = [np.zeros(256, o.dtype) for o in args[2:]]
    expected = [np.zeros(256, o.dtype) for o in args[2:]]
    host(a, b, *outs)
    ns.build(s, args, target="interp")(a, b, *expected)
    for n, (got, want) in enumerate(zip(outs, expected)):
        if args[2 + n].op.body is not None and "erf" in str(args[2 + n].op.body):
            np.testing.assert_allclose(got, want, rtol=1e-3)  # libm's erff and Python's erf
            continue
        np.testing.assert_array_equal(got, want, err_msg=f"float16 out{n}")
