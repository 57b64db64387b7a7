"""TVM's start values of reductions through :mod:`te_shim`: ``te.max``/``te.min`` of floats start
from ``min_value``/``max_value`` (the finite extremes, src/tir/op/op.cc), observable over an empty
range and over infinite inputs, on every schedule that splits a reduction (rfactor); a Python
literal given as ``init=`` is typed as TVM types literals (int32/float32, promoted) and must then
be the reduction's type. The frontend's numpy-exact max keeps ``-inf``."""

import numpy as np
import pytest

from .helpers import empty
from .te_shim import te, tvm

LOWEST, HIGHEST = float(np.finfo(np.float32).min), float(np.finfo(np.float32).max)


def _row_reduction(reducer, m=6):
    A = te.placeholder((4, m), name="A")
    k = te.reduce_axis((0, m), name="k")
    B = te.compute((4,), lambda i: reducer(A[i, k], axis=k), name="B")
    return A, B


@pytest.mark.parametrize("target", ["interp", "llvm"])
@pytest.mark.parametrize("reducer, infinite, start", [(te.max, -np.inf, LOWEST), (te.min, np.inf, HIGHEST)])
def test_a_reduction_over_infinite_inputs_gives_the_finite_start(target, reducer, infinite, start):
    A, B = _row_reduction(reducer)
    s = te.create_schedule(B.op)
    x = np.full((4, 6), infinite, np.float32)
    x[2:, 3] = 1.5
    out = empty((4,), "float32")
    tvm.build(s, [A, B], target=target)(x, out)
    np.testing.assert_array_equal(out, [start, start, 1.5, 1.5])


def test_the_start_joins_once_after_rfactor():
    A, B = _row_reduction(te.max, m=16)
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=4)
    BF = s.rfactor(B, ki)
    s[BF].parallel(BF.op.axis[0])
    x = np.full((4, 16), -np.inf, np.float32)
    x[3, 9] = -2.0
    out = empty((4,), "float32")
    tvm.build(s, [A, B], target="llvm")(x, out)
    np.testing.assert_array_equal(out, [LOWEST, LOWEST, LOWEST, -2.0])


def test_the_lowered_max_starts_from_min_value():
    A, B = _row_reduction(te.max)
    text = str(tvm.lower(te.create_schedule(B.op), [A, B], simple_mode=True))
    assert "B[i] = -3.4028235e+38\n" in text


def test_an_explicit_init_replaces_the_start():
    A = te.placeholder((3, 0 + 4), name="A")
    k = te.reduce_axis((0, 4), name="k")
    B = te.compute((3,), lambda i: te.max(A[i, k], axis=k, where=i > 0, init=-np.inf), name="B")
    out = empty((3,), "float32")
    x = np.random.default_rng(3).random((3, 4), dtype=np.float32)
    tvm.build(te.create_schedule(B.op), [A, B], target="llvm")(x, out)
    np.testing.assert_array_equal(out, [-np.inf, *x[1:].max(1)])


def test_an_integer_max_starts_from_the_least_integer():
    A = te.placeholder((2, 3), name="A", dtype="int16")
    k = te.reduce_axis((0, 3), name="k")
    B = te.compute((2,), lambda i: te.max(A[i, k], axis=k, where=i > 0), name="B")
    assert "init" not in str(B.op.body)
    out = np.zeros(2, np.int16)
    tvm.build(te.create_schedule(B.op), [A, B], target="llvm")(np.arange(6, dtype=np.int16).reshape(2, 3), out)
    np.testing.assert_array_equal(out, [-32768, 5])


def test_the_string_form_max_is_te_max():
    A = te.placeholder((4, 6), name="A")
    B = te.compute("B[i] = max(A[i, k])", A=A)
    assert str(B.op.body) == "max(A[i, k], axis=[k], init=-3.4028235e+38)"


# init= literals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, value, printed", [
    ("float32", 0, "0.0"), ("float32", 0.25, "0.25"), ("float64", 0.1, "0.1"), ("int32", 3, "3"),
    ("int64", 2**40, "1099511627776"), ("int64", 3, "3")])
def test_a_literal_init_of_the_reductions_type_is_taken(dtype, value, printed):
    A = te.placeholder((4, 5), name="A", dtype=dtype)
    k = te.reduce_axis((0, 5), name="k")
    B = te.compute((4,), lambda i: te.sum(A[i, k], axis=k, init=value), name="B")
    assert B.op.body[0].init.dtype == dtype
    assert str(B.op.body[0]) == f"sum(A[i, k], axis=[k], init={printed})"
    a = np.arange(20).reshape(4, 5).astype(dtype)
    out = np.zeros(4, dtype)
    tvm.build(te.create_schedule(B.op), [A, B], target="llvm")(a, out)
    np.testing.assert_array_equal(out, a.sum(1) + np.asarray(value, dtype))


@pytest.mark.parametrize("dtype, value, typed", [
    ("float16", 0.5, "float32"), ("int8", 1, "int32"), ("int32", 2**40, "int64"), ("uint8", 0, "int32"),
    ("int32", 1.0, "float32")])
def test_a_literal_init_of_another_type_is_refused(dtype, value, typed):
    A = te.placeholder((4, 5), name="A", dtype=dtype)
    k = te.reduce_axis((0, 5), name="k")
    with pytest.raises(te.DefinitionError) as info:
        te.compute((4,), lambda i: te.sum(A[i, k], axis=k, init=value), name="B")
    assert str(info.value) == (
        f"sum(..., init={value!r}): the Python literal is {typed} as TVM types it beside a value of type "
        f"{dtype}, but the reduction has type {dtype}; give the start value in that type, "
        f"init=ns.const({value!r}, '{dtype}')")


def test_a_typed_constant_init_of_a_narrow_type_is_taken():
    A = te.placeholder((2, 3), name="A", dtype="float16")
    k = te.reduce_axis((0, 3), name="k")
    B = te.compute((2,), lambda i: te.sum(A[i, k], axis=k, init=tvm.tir.const(0.5, "float16")), name="B")
    out = np.zeros(2, np.float16)
    a = np.ones((2, 3), np.float16)
    tvm.build(te.create_schedule(B.op), [A, B], target="interp")(a, out)
    np.testing.assert_array_equal(out, [3.5, 3.5])


def test_a_user_reducer_types_its_literal_init_too():
    prod = te.comm_reducer(lambda x, y: x * y, lambda t: tvm.tir.const(1, t), name="prod")
    A = te.placeholder((2, 3), name="A", dtype="int8")
    k = te.reduce_axis((0, 3), name="k")
    with pytest.raises(te.DefinitionError, match=r"prod\(..., init=2\): the Python literal is int32"):
        te.compute((2,), lambda i: prod(A[i, k], axis=k, init=2), name="B")


def test_the_frontends_max_keeps_numpys_infinity():
    from frontend import Tensor

    x = np.full((2, 3), -np.inf, np.float32)
    x[1, 1] = 2.0
    np.testing.assert_array_equal(Tensor(x).max(1).numpy(), [-np.inf, 2.0])
