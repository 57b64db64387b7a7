"""TVM's float scalar parameters (``te.var("alpha", "float32")`` in a compute body, listed among
the build's arguments, passed at the call as a Python number), through :mod:`te_shim`, on the
interpreter, on LLVM and as CUDA C (the host emulation and nvcc), against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cuda.nvcc import compile_cuda, find_nvcc
from tests.backends.cuda import host_emulation

from .helpers import close, empty, uniform
from .te_shim import te, tvm

CPU_TARGETS = ("interp", "llvm")


def axpy(dtype="float32"):
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.placeholder((n,), name="B")
    alpha = te.var("alpha", dtype)
    C = te.compute((n,), lambda i: alpha * A[i] + B[i], name="C")
    return A, B, alpha, C, te.create_schedule(C.op)


@pytest.mark.parametrize("target", CPU_TARGETS)
def test_a_float32_parameter_passed_as_a_python_float(target, rng):
    A, B, alpha, C, s = axpy()
    f = tvm.build(s, [A, B, alpha, C], target=target)
    a, b = uniform(rng, 13), uniform(rng, 13)
    for value in (2.5, -0.1, 3, np.float32(0.75), np.array(1.5, "float32")):
        c = empty((13,), "float32")
        f(a, b, value, c)
        close(c, np.float32(value) * a + b)


@pytest.mark.parametrize("target", CPU_TARGETS)
def test_a_float64_parameter_keeps_its_precision(target, rng):
    A, B, alpha, C, s = axpy("float64")
    assert C.dtype == "float64"  # float32 beside float64: float64, as in TVM
    f = tvm.build(s, [A, B, alpha, C], target=target)
    a, b = uniform(rng, 9), uniform(rng, 9)
    c = empty((9,), "float64")
    f(a, b, 1 / 3, c)
    np.testing.assert_allclose(c, a.astype(np.float64) / 3 + b, rtol=1e-15)


def test_the_parameter_is_an_argument_at_its_place_in_the_list():
    A, B, alpha, C, s = axpy()
    assert str(tvm.lower(s, [alpha, A, B, C], simple_mode=True)) == """\
func main(alpha: float32[], A: float32[n], B: float32[n], C: float32[n]) {
  for i in 0..n:
    C[i] = alpha[] * A[i] + B[i]
}"""
    a, b, c = np.ones(3, "float32"), np.ones(3, "float32"), empty((3,), "float32")
    tvm.build(s, [alpha, A, B, C])(4.0, a, b, c)
    close(c, np.full(3, 5.0))


@pytest.mark.parametrize("target", CPU_TARGETS)
def test_a_parameter_in_a_reduction_a_condition_and_a_parallel_loop(target, rng):
    A = te.placeholder((6, 8), name="A")
    scale, cut = te.var("scale", "float32"), te.var("cut", "float32")
    k = te.reduce_axis((0, 8), "k")
    R = te.compute((6,), lambda i: te.sum(te.if_then_else(A[i, k] > cut, A[i, k] * scale, 0.0), axis=k),
                   name="R")
    s = te.create_schedule(R.op)
    s[R].parallel(R.op.axis[0])
    a = uniform(rng, (6, 8))
    r = empty((6,), "float32")
    tvm.build(s, [A, scale, cut, R], target=target)(a, 2.0, 0.25, r)
    close(r, np.where(a > 0.25, 2.0 * a.astype(np.float64), 0.0).sum(axis=1))


def test_what_a_float_parameter_may_not_be():
    alpha = te.var("alpha", "float32")
    A = te.placeholder((4,), name="A")
    with pytest.raises(te.DefinitionError, match=r"^compute C: the dimension alpha\[\] must be an int or an integer "
                       r"expression of size variables \(ns\.var / ns\.size_var\)"):
        te.compute((alpha,), lambda i: 1.0, name="C")
    with pytest.raises(te.DefinitionError, match=r"^access A\[\.\.\.\]: index 0 is alpha\[\] of type float32; indices "
                       r"must be integer expressions \(use \.astype\('int32'\)\)$"):
        te.compute((4,), lambda i: A[alpha])


def test_a_float_parameter_is_passed_as_a_number():
    A, B, alpha, C, s = axpy()
    with pytest.raises(te.LoweringError, match=r"^lower main: alpha is an input \(placeholder\) of the schedule but "
                       r"not in the arguments \['A', 'B', 'C'\]; add it"):
        tvm.lower(s, [A, B, C])
    f = tvm.build(s, [A, B, alpha, C], target="llvm")
    a = np.ones(3, "float32")
    for wrong, shown in ((True, "bool True"), ("2", "str '2'"), (None, "NoneType None")):
        with pytest.raises(te.ArgumentError, match=rf"^main: argument 2 \(alpha\) is the float scalar parameter "
                           rf"alpha; pass a number, e.g. 0\.5, got {shown}$"):
            f(a, a, wrong, empty((3,), "float32"))


# CUDA -------------------------------------------------------------------------------------------
def gpu_scale():
    A = te.placeholder((300,), name="A")
    alpha = te.var("alpha", "float32")
    B = te.compute((300,), lambda i: A[i] * alpha, name="B")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=64)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    return s, [A, alpha, B]


def test_a_float_parameter_on_cuda(rng):
    s, args = gpu_scale()
    a = uniform(rng, 300)
    out = empty((300,), "float32")
    tvm.build(s, args, target="interp")(a, -1.25, out)
    close(out, -1.25 * a)
    module = tvm.build(s, args, target="cuda")
    assert "const float* __restrict__ alpha" in module.source
    checked, _ = module._bound((a, -1.25, out))  # what a launch copies to the GPU
    assert checked[1].shape == () and checked[1].dtype == np.float32 and checked[1] == -1.25
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    (host,) = host_emulation.compile_host([module])
    out = empty((300,), "float32")
    host(a, np.array(-1.25, "float32"), out)  # the module itself converts a number (on a GPU)
    close(out, -1.25 * a)


@pytest.mark.slow
def test_the_cuda_source_of_a_float_parameter_compiles_with_nvcc():
    if find_nvcc() is None:
        pytest.skip("nvcc is not installed")
    s, args = gpu_scale()
    compile_cuda(tvm.build(s, args, target="cuda").source, output="obj")
