"""CUDA's share of run-time safety: data subscripts are checked by ``nestor_checked`` (reporting
to a status parameter the module reads), integer ``//``/``%`` by zero give numpy's results, and
index arithmetic whose bounds pass 2**31 runs in ``long long``. Checked on the generated source
(golden fragments), with nvcc, and run on the host by the emulation in a child process."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

import nestor as ns
from backends.cuda.codegen import generate
from backends.cuda.nvcc import find_nvcc
from tests.backends.subprocess_run import run_python

BUILDERS = '''
import nestor as ns

def bind(s, T, factor):
    fused = s[T].fuse(*T.op.axis) if len(T.op.axis) > 1 else T.op.axis[0]
    outer, inner = s[T].split(fused, factor=factor)
    s[T].bind(outer, "blockIdx.x")
    s[T].bind(inner, "threadIdx.x")
    return s

def gather():
    A = ns.placeholder((10,), name="A")
    I = ns.placeholder((64,), dtype="int32", name="I")  # noqa: E741
    C = ns.compute((64,), lambda i: A[I[i]] * 2.0, name="C")
    return bind(ns.create_schedule(C), C, 32), [A, I, C]

def division(dtype="int32"):
    a = ns.placeholder((8,), dtype=dtype, name="a")
    b = ns.placeholder((8,), dtype=dtype, name="b")
    q = ns.compute((8,), lambda i: a[i] // b[i] + a[i] % b[i] * 3, name="q")
    return bind(ns.create_schedule(q), q, 8), [a, b, q]

def scale(n):
    A = ns.placeholder((n, n), name="A")
    B = ns.compute((n, n), lambda i, j: A[i, j] * 2.0, name="B")
    return bind(ns.create_schedule(B), B, 256), [A, B]
'''


def _builders() -> dict:
    namespace: dict = {}
    exec(BUILDERS, namespace)
    return namespace


def _source(builder: str, *args) -> str:
    s, tensors = _builders()[builder](*args)
    return generate(ns.lower(s, tensors)).source


def test_data_subscript_is_checked_through_the_status_parameter():
    s, tensors = _builders()["gather"]()
    generated = generate(ns.lower(s, tensors))
    assert "float* __restrict__ C, long long* __restrict__ nestor_status) {" in generated.source
    assert "A[nestor_checked(I[i_outer * 32 + i_inner], 10LL, 1, nestor_status)]" in generated.source
    assert generated.launches[0].args == ("A", "I", "C", "nestor_status")
    unchecked = _source("scale", 64)
    assert "nestor_status" not in unchecked and "nestor_checked" not in unchecked


def test_index_arithmetic_past_32_bits_runs_in_long_long():
    big = _source("scale", 50000)  # 2.5e9 elements: blockIdx.x * 256 passes 2**31
    assert "((long long)i_j_fused_outer * 256 + i_j_fused_inner) / 50000" in big
    assert "((long long)i_j_fused_outer * 256 + i_j_fused_inner) % 50000" in big
    assert " i_j_fused_outer * 256" not in big.replace("(long long)i_j_fused_outer * 256", "")
    small = _source("scale", 1000)  # fits in 32 bits: no widening, no cost
    assert "long long" not in small


def test_serial_loop_past_32_bits_counts_in_long_long():
    A = ns.placeholder((2, 3 * 10**9), name="A")
    k = ns.reduce_axis(3 * 10**9, "k")
    C = ns.compute((2,), lambda i: ns.sum(A[i, k], axis=k), name="C")
    s = ns.create_schedule(C)
    s[C].bind(C.op.axis[0], "threadIdx.x")
    assert "for (long long k = 0; k < 3000000000LL; ++k) {" in generate(ns.lower(s, [A, C])).source


def test_sources_compile_with_nvcc():
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    sources = [_source("gather"), _source("division"), _source("division", "int64"), _source("scale", 50000)]
    with tempfile.TemporaryDirectory(prefix="nestor_nvcc_safety_") as folder:
        for n, text in enumerate(sources):
            (Path(folder) / f"k{n}.cu").write_text(text)
        done = subprocess.run([nvcc, "-arch=sm_90", "-c", *(f"k{n}.cu" for n in range(len(sources)))],
                              cwd=folder, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-4000:]


HOST_PROGRAM = BUILDERS + '''
import numpy as np
from backends.cuda import CudaModule
from backends.cuda.codegen import generate
from tests.backends.cuda import host_emulation

def module(builder, *args):
    s, tensors = builder(*args)
    func = ns.lower(s, tensors, name=f"{builder.__name__}_{len(args)}")
    return CudaModule(func, generate(func))

gather_host, div32, div64 = host_emulation.compile_host(
    [module(gather), module(division), module(division, "int64")])
a = np.arange(10, dtype="float32")
idx = np.arange(64, dtype="int32") % 10
out = np.zeros(64, "float32")
gather_host(a, idx, out)
print("GATHER", bool((out == a[idx] * 2).all()))
idx[40] = 10**9
try:
    gather_host(a, idx, out)
except ns.OutOfBoundsError as error:
    print("RAISED", error)
for host, dtype in ((div32, "int32"), (div64, "int64")):
    low = np.iinfo(dtype).min
    x = np.array([7, -7, 0, low, low, 5, -9, 12], dtype=dtype)
    y = np.array([0, 0, 0, -1, 0, -2, 4, -1], dtype=dtype)
    got = np.zeros(8, dtype)
    host(x, y, got)
    with np.errstate(all="ignore"):
        want = np.floor_divide(x, y) + np.remainder(x, y) * 3
    print("DIVISION", dtype, bool((got == want).all()), got.tolist())
print("ALIVE")
'''


def test_host_emulation_checks_subscripts_and_divides_like_numpy():
    from tests.backends.cuda import host_emulation

    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    done = run_python(HOST_PROGRAM, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "GATHER True" in done.stdout
    assert ("RAISED cuda: compute C: the access A[I[i]] reads dimension 0 of A (shape [10]) at index "
            "I[i] = 1000000000, outside 0..9") in done.stdout
    assert "DIVISION int32 True" in done.stdout and "DIVISION int64 True" in done.stdout, done.stdout
    assert "ALIVE" in done.stdout
