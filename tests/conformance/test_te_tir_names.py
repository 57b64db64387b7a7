"""TVM's ``tir`` names that te programs use, through :mod:`te_shim`: ``tir.ceildiv``,
``tir.infinity``, ``tir.likely``, ``tir.Cast(dtype, value)`` and ``tir.SizeVar``, each against
numpy, and their errors."""

import numpy as np
import pytest

from .helpers import empty
from .te_shim import te, tvm


def test_ceildiv_of_integers_of_every_sign():
    A = te.placeholder((12,), name="A", dtype="int32")
    B = te.placeholder((12,), name="B", dtype="int32")
    C = te.compute((12,), lambda i: tvm.tir.ceildiv(A[i], B[i]), name="C")
    a = np.array([7, -7, 7, -7, 0, 1, 8, -8, 5, 2**30, -3, 9], np.int32)
    b = np.array([2, 2, -2, -2, 3, 1, 4, 4, 7, 3, 5, -4], np.int32)
    for target in ("interp", "llvm"):
        out = np.zeros(12, np.int32)
        tvm.build(te.create_schedule(C.op), [A, B, C], target=target)(a, b, out)
        np.testing.assert_array_equal(out, np.ceil(a / b).astype(np.int32))


def test_ceildiv_sizes_a_loop_over_a_symbolic_extent():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((tvm.tir.ceildiv(n, 4),), lambda i: A[i * 4], name="B")
    module = tvm.build(te.create_schedule(B.op), [A, B], target="llvm")
    a = np.arange(10, dtype=np.float32)
    out = empty((3,), "float32")
    module(a, out)
    np.testing.assert_array_equal(out, a[::4])


def test_ceildiv_of_floats_is_the_ceiling_of_the_quotient():
    A = te.placeholder((4,), name="A")
    B = te.compute((4,), lambda i: tvm.tir.ceildiv(A[i], 2.0), name="B")
    a = np.array([3.0, -3.0, 4.0, 0.5], np.float32)
    out = empty((4,), "float32")
    tvm.build(te.create_schedule(B.op), [A, B], target="llvm")(a, out)
    np.testing.assert_array_equal(out, np.ceil(a / 2))


def test_infinity_starts_a_max_at_minus_infinity():
    A = te.placeholder((3, 4), name="A")
    k = te.reduce_axis((0, 4), name="k")
    B = te.compute((3,), lambda i: te.max(A[i, k], axis=k, init=-tvm.tir.infinity("float32")), name="B")
    a = np.full((3, 4), -np.inf, np.float32)
    a[1, 2] = 5.0
    out = empty((3,), "float32")
    tvm.build(te.create_schedule(B.op), [A, B], target="llvm")(a, out)
    np.testing.assert_array_equal(out, [-np.inf, 5.0, -np.inf])
    assert tvm.tir.infinity("float16").dtype == "float16"


def test_infinity_of_an_integer_type_is_refused():
    with pytest.raises(te.DefinitionError) as info:
        tvm.tir.infinity("int32")
    assert str(info.value) == ("infinity(int32): int32 has no infinity; use ns.max_value('int32') for the greatest "
                               "value of an integer type")


def test_likely_is_the_condition():
    A = te.placeholder((6,), name="A")
    B = te.compute((6,), lambda i: te.if_then_else(tvm.tir.likely(i < 5), A[i], 0.0), name="B")
    a = np.arange(6, dtype=np.float32) + 1
    out = empty((6,), "float32")
    tvm.build(te.create_schedule(B.op), [A, B], target="llvm")(a, out)
    np.testing.assert_array_equal(out, [1, 2, 3, 4, 5, 0])
    with pytest.raises(te.DefinitionError) as info:
        tvm.tir.likely(A[0])
    assert str(info.value) == ("likely(A[0]): the condition has type float32, not bool; compare to make it one, "
                               "e.g. likely(A[0] > 0)")


def test_cast_takes_the_dtype_first():
    A = te.placeholder((4,), name="A")
    B = te.compute((4,), lambda i: tvm.tir.Cast("int32", A[i]) * 2, name="B")
    assert B.dtype == "int32"
    a = np.array([1.7, -1.7, 2.2, 0.0], np.float32)
    out = np.zeros(4, np.int32)
    tvm.build(te.create_schedule(B.op), [A, B], target="llvm")(a, out)
    np.testing.assert_array_equal(out, a.astype(np.int32) * 2)


def test_size_var_is_a_shape_of_at_least_zero():
    n = tvm.tir.SizeVar("n", "int32")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] + 1.0, name="B")
    module = tvm.build(te.create_schedule(B.op), [A, B], target="llvm")
    a = np.arange(5, dtype=np.float32)
    out = empty((5,), "float32")
    module(a, out)
    np.testing.assert_array_equal(out, a + 1)
    assert n.lower == 0
