"""Generated CUDA of symbolic kernels: size variables are kernel arguments, a symbolic grid is set
at launch, and nvcc compiles the source (no GPU needed)."""

import pytest

import nestor as ns
from backends.cuda.nvcc import compile_cuda, find_nvcc


def _elementwise():
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] * 2, name="B")
    s = ns.create_schedule(B)
    bx, tx = s[B].split(B.op.axis[0], factor=64)
    s[B].bind(bx, "blockIdx.x")
    s[B].bind(tx, "threadIdx.x")
    return ns.build(s, [A, B], target="cuda")


def _row_sum():
    n, m = ns.var("n"), ns.size_var("m")
    A = ns.placeholder((n, m), name="A")
    k = ns.reduce_axis((0, m), name="k")
    B = ns.compute((n,), lambda i: ns.sum(A[i, k], axis=k), name="B")
    s = ns.create_schedule(B)
    bx, tx = s[B].split(B.op.axis[0], factor=32)
    s[B].bind(bx, "blockIdx.x")
    s[B].bind(tx, "threadIdx.x")
    return ns.build(s, [A, B], target="cuda")


def _matmul():
    m = ns.size_var("m")
    A = ns.placeholder((m, 64), name="A")
    W = ns.placeholder((64, 32), name="W")
    k = ns.reduce_axis((0, 64), name="k")
    C = ns.compute((m, 32), lambda i, j: ns.sum(A[i, k] * W[k, j], axis=k), name="C")
    s = ns.create_schedule(C)
    io, ii = s[C].split(C.op.axis[0], factor=8)
    s[C].bind(io, "blockIdx.x")
    s[C].bind(C.op.axis[1], "threadIdx.x")
    return ns.build(s, [A, W, C], target="cuda")


def test_size_variables_are_kernel_arguments():
    source = _elementwise().source
    assert "k_main(const float* __restrict__ A, float* __restrict__ B, int n)" in source
    assert "if (i_outer * 64 + i_inner < n)" in source
    assert "grid ((n - 1) // 64 + 1, 1, 1)" in source


def test_nvcc_compiles_symbolic_kernels():
    if find_nvcc() is None:
        pytest.skip("nvcc is not installed")
    sources = [build().source for build in (_elementwise, _row_sum, _matmul)]
    for n, text in enumerate(sources):  # one translation unit: kernels renamed apart
        sources[n] = text.replace("k_main", f"k_main{n}") if n else text
    compile_cuda("\n".join(sources), output="obj")
