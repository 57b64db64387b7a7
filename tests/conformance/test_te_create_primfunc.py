"""TVM's ``te.create_prim_func`` as its tests and programs use it (through :mod:`te_shim`):
the function of a compute graph with its default schedule over the listed tensors, compiled with
``tvm.build(func, target=...)``; tuple computes, an intermediate tensor listed among the
parameters, a reduction, symbolic sizes; what it refuses. Values against numpy."""

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def test_a_matmul_function_builds_and_runs():
    A = te.placeholder((16, 12), name="A")
    B = te.placeholder((12, 8), name="B")
    k = te.reduce_axis((0, 12), name="k")
    C = te.compute((16, 8), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    func = te.create_prim_func([A, B, C])
    assert [p.name for p in func.params] == ["A", "B", "C"]
    assert tvm.lower(func) is func
    rng = np.random.default_rng(0)
    a, b = uniform(rng, (16, 12)), uniform(rng, (12, 8))
    for target in ("llvm", "interp"):
        out = empty((16, 8), "float32")
        tvm.build(func, target=target)(a, b, out)
        close(out, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


def test_a_tuple_compute_and_one_of_its_outputs_read_further():
    m, n = te.var("m"), te.var("n")
    A0 = te.placeholder((m, n), name="A0")
    A1 = te.placeholder((m, n), name="A1")
    T0, T1 = te.compute((m, n), lambda i, j: (A0[i, j] * 2, A1[i, j] * 3), name="T")
    rng = np.random.default_rng(1)
    a0, a1 = uniform(rng, (3, 5)), uniform(rng, (3, 5))
    t0 = empty((3, 5), "float32")
    tvm.build(te.create_prim_func([A0, A1, T0]), target="llvm")(a0, a1, t0)
    close(t0, 2 * a0)
    C = te.compute((m, n), lambda i, j: T0[i, j] + 4, name="C")
    out = empty((3, 5), "float32")
    tvm.build(te.create_prim_func([A0, A1, C]), target="llvm")(a0, a1, out)
    close(out, 2 * a0 + 4)


def test_an_intermediate_tensor_listed_is_stored_for_the_caller():
    A = te.placeholder((6,), name="A")
    B = te.compute((6,), lambda i: A[i] + 1, name="B")
    C = te.compute((6,), lambda i: B[i] * 3, name="C")
    func = te.create_prim_func([A, B, C])
    a = uniform(np.random.default_rng(2), (6,))
    b, c = empty((6,), "float32"), empty((6,), "float32")
    tvm.build(func, target="llvm")(a, b, c)
    close(b, a + 1)
    close(c, 3 * (a + 1))


def test_what_create_prim_func_refuses():
    A = te.placeholder((4,), name="A")
    with pytest.raises(te.LoweringError, match=r"create_prim_func: expected a non-empty list of tensors"):
        te.create_prim_func(A)
    with pytest.raises(te.LoweringError, match=r"create_prim_func: none of \['A'\] is computed; list the computed "
                       "tensors after the inputs"):
        te.create_prim_func([A])
    B = te.compute((4,), lambda i: A[i] * 2, name="B")
    with pytest.raises(te.LoweringError, match=r"create_prim_func: index_dtype_override='int8'; use None, "
                       "'int32' or 'int64'"):
        te.create_prim_func([A, B], index_dtype_override="int8")
    with pytest.raises(te.LoweringError, match=r"lower main: A is an input \(placeholder\) of the schedule but "
                       r"not in the arguments \['B'\]; add it"):
        te.create_prim_func([B])
    with pytest.raises(te.LoweringError, match=r"lower: pass the argument tensors, inputs then outputs"):
        tvm.lower(te.create_schedule(B.op))
    out = empty((4,), "float32")
    tvm.build(te.create_prim_func([A, B], index_dtype_override="int64"), target="llvm")(np.ones(4, "float32"), out)
    close(out, np.full(4, 2.0))
