"""Arithmetic on whole tensors in the style of TVM's tensor-overload tests: a tensor with a
scalar is an elementwise compute, with a tensor a broadcast one (numpy's rules), each checked
against numpy on LLVM; size variables listed anywhere in the build's arguments."""

import numpy as np
import pytest

import nestor as ns

from .helpers import close, empty, uniform
from .te_shim import te, tvm

OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b}


def test_what_each_combination_is_and_its_tag():
    k, n = 1, te.var("n")
    A, B = te.placeholder((), name="A"), te.placeholder((10, 5), name="B")
    element = B[0, 0]
    for result in [k + A, A + k, n + A, A + n, A + A, k + B, B + k, n + B, B + n, A + B, B + A, B + B,
                   element + A, A + element, element + B, B + element]:
        assert isinstance(result, te.tensor.Tensor), result
    for result in [k + n, n + n, k + element, element + k, n + element, element + element]:
        assert isinstance(result, tvm.tir.PrimExpr) and not isinstance(result, ns.Tensor), result
    assert [(k + B).op.tag, (B + k).op.tag, (n + B).op.tag, (B + n).op.tag] == ["elemwise"] * 4
    assert [(A + B).op.tag, (B + A).op.tag, (B + B).op.tag] == ["broadcast"] * 3
    assert (B + B).shape == (10, 5) and (A + B).shape == (10, 5)


def test_a_combination_with_a_variable_listed_first():
    x = te.var("x")
    A, B, C = (te.placeholder((5, 10), name=name) for name in "ABC")
    D = 3 + A - B * C + x
    s = te.create_schedule(D.op)
    foo = tvm.build(s, [x, A, B, C, D], "llvm")
    rng = np.random.default_rng(0)
    a, b, c = (uniform(rng, (5, 10)) for _ in range(3))
    d = empty((5, 10), "float32")
    foo(2, a, b, c, d)
    close(d, 3 + a.astype(np.float64) - b.astype(np.float64) * c + 2)


@pytest.mark.parametrize("shape,typ", [((1,), "add"), ((3, 5), "sub"), ((1, 3, 5), "mul"), ((2, 3, 1, 32), "div")])
def test_tensor_and_scalar_variable_of_symbolic_shape(shape, typ):
    sizes = [te.size_var(f"n{d}") for d in range(len(shape))]
    k = te.var("k")
    A = te.placeholder(sizes, name="A")
    B = OPS[typ](A, k)
    s = te.create_schedule(B.op)
    foo = tvm.build(s, [A, B, k] + sizes, "llvm", name="tensor_scalar_" + typ)
    a = uniform(np.random.default_rng(1), shape)
    b = empty(shape, "float32")
    foo(a, b, 2, *shape)
    close(b, OPS[typ](a.astype(np.float64), 2))


def test_a_size_variable_passed_with_a_value_its_shape_contradicts():
    n = te.size_var("n")
    A = te.placeholder((n,), name="A")
    B = A * 2.0
    foo = tvm.build(te.create_schedule(B.op), [A, B, n])
    with pytest.raises(ns.ArgumentError, match=r"main: the size variable n is passed as 4 but argument 0 has 3 in "
                       r"dimension 0; pass the arrays' own extents"):
        foo(np.ones(3, np.float32), np.zeros(3, np.float32), 4)


@pytest.mark.parametrize("lhs,rhs,typ", [
    ((2, 3), (), "add"), ((5, 2, 3), (1,), "add"), ((1, 32), (64, 32), "sub"), ((5, 64, 128), (2, 5, 64, 1), "mul"),
    ((2, 3, 1, 32), (64, 32), "div")])
@pytest.mark.parametrize("target", ["llvm", "interp"])
def test_broadcast_between_tensors(lhs, rhs, typ, target):
    if target == "interp" and np.prod(lhs) * np.prod(rhs) > 4096:
        pytest.skip("a small case suffices for the interpreter")
    A, B = te.placeholder(lhs, name="A"), te.placeholder(rhs, name="B")
    C = OPS[typ](A, B)
    foo = tvm.build(te.create_schedule(C.op), [A, B, C], target)
    rng = np.random.default_rng(2)
    a, b = uniform(rng, lhs), np.asarray(np.abs(uniform(rng, rhs)) + 0.001, np.float32)
    want = OPS[typ](a.astype(np.float64), b)
    c = empty(want.shape, "float32")
    foo(a, b, c)
    close(c, want, rtol=1e-5)


def test_scalar_on_the_left_floor_division_power_and_negation():
    A = te.placeholder((4, 6), name="A", dtype="int32")
    F = te.placeholder((4, 6), name="F")
    outs = [7 - A, 17 // (A * A + 1), A % 3, -A, F ** 2, 2.0 / (F + 3.0)]
    foo = tvm.build(te.create_schedule([t.op for t in outs]), [A, F, *outs])
    rng = np.random.default_rng(3)
    a, f = uniform(rng, (4, 6), "int32"), uniform(rng, (4, 6))
    got = [empty((4, 6), t.dtype) for t in outs]
    foo(a, f, *got)
    wide = f.astype(np.float64)
    for g, want in zip(got, [7 - a, 17 // (a * a + 1), a % 3, -a, wide**2, 2.0 / (wide + 3.0)]):
        close(g, want)


def test_ordering_comparisons_of_tensors_are_bool_tensors():
    A, B = te.placeholder((3, 4), name="A"), te.placeholder((4,), name="B")
    outs = [A < B, A <= 0.25, A > B, A >= B]
    assert all(t.dtype == "bool" for t in outs)
    foo = tvm.build(te.create_schedule([t.op for t in outs]), [A, B, *outs])
    rng = np.random.default_rng(4)
    a, b = uniform(rng, (3, 4)), uniform(rng, (4,))
    got = [empty((3, 4), "bool") for _ in outs]
    foo(a, b, *got)
    for g, want in zip(got, [a < b, a <= 0.25, a > b, a >= b]):
        np.testing.assert_array_equal(g, want)


def test_shapes_that_do_not_broadcast_are_refused():
    A, B = te.placeholder((3, 4), name="A"), te.placeholder((5,), name="B")
    with pytest.raises(ns.DefinitionError, match=r"add\(A, B\): shapes \[3, 4\] and \[5\] do not broadcast: "
                       r"dimension 1 \(counted in the result, shapes aligned on the right\) is 4 against 5; "
                       r"extents must be equal or one of them 1"):
        A + B


def test_a_whole_tensor_inside_a_compute_body_is_refused():
    A = te.placeholder((3, 4), name="A")
    with pytest.raises(ns.DefinitionError, match=r"cannot use Tensor\(A, shape=\[3, 4\], dtype=float32\) in an "
                       r"expression of the loop variables i, j \(A\[i, j\] \* 2.0\); index the tensor, "
                       r"e\.g\. A\[i, j\]"):
        te.compute((3, 4), lambda i, j: A[i, j] * 2.0 + A, name="C")


def test_an_unread_input_is_an_ignored_argument():
    A, B = te.placeholder((4,), name="A"), te.placeholder((4,), name="B")
    C = te.compute((4,), lambda i: A[i] + 1.0, name="C")
    foo = tvm.build(te.create_schedule(C.op), [A, B, C])
    c = empty((4,), "float32")
    foo(np.arange(4, dtype=np.float32), np.zeros(4, np.float32), c)
    close(c, np.arange(4) + 1.0)


def test_a_size_variable_that_a_shape_binds_must_still_be_an_int():
    n = te.size_var("n")
    A = te.placeholder((n,), name="A")
    B = A - 1.0
    foo = tvm.build(te.create_schedule(B.op), [A, B, n])
    with pytest.raises(ns.ArgumentError, match=r"main: the size variable n must be passed as an int, got str 'x'"):
        foo(np.ones(3, np.float32), np.zeros(3, np.float32), "x")
    with pytest.raises(ns.ArgumentError, match=r"main: expected 3 arguments in the order of the build's argument "
                       r"list, got 2"):
        foo(np.ones(3, np.float32), np.zeros(3, np.float32))
