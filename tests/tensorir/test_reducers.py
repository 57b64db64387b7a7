"""General reductions and computes with several outputs at definition time: where=, init=,
ns.comm_reducer (single and tuple reducers), the identity constants, the tensors of a compute
returning a tuple, and one test per error message."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from nestor import DefinitionError


def _pattern(*parts: str) -> str:
    return ".*".join(re.escape(p) for p in parts)


@pytest.fixture
def A():
    return ns.placeholder((4, 5), name="A")


@pytest.fixture
def k():
    return ns.reduce_axis(5, "k")


def argmax_reducer():
    def fcombine(x, y):
        keep = x[1] >= y[1]
        return ns.if_then_else(keep, x[0], y[0]), ns.if_then_else(keep, x[1], y[1])

    return ns.comm_reducer(fcombine, lambda t0, t1: (ns.const(-1, t0), ns.min_value(t1)), name="argmax")


# -- what the definitions are ------------------------------------------------------------------
def test_where_and_init_are_printed(A, k):
    B = ns.placeholder((4,), name="B")
    C = ns.compute((4,), lambda i: ns.sum(A[i, k], axis=k, where=A[i, k] > 0, init=B[i]), name="C")
    assert str(C.op.body) == "sum(A[i, k], axis=[k], where=A[i, k] > 0.0, init=B[i])"
    assert C.op.inputs == (A, B)


def test_init_constant_takes_the_reduction_type(A, k):
    C = ns.compute((4,), lambda i: ns.max(A[i, k], axis=k, init=0), name="C")
    assert str(C.op.body) == "max(A[i, k], axis=[k], init=0.0)"


def test_constants_of_each_type():
    assert (ns.const(1, "int64").value, ns.const(1, "int64").dtype) == (1, ns.DType.INT64)
    assert ns.const(2, "float64").value == 2.0 and ns.const(2, "float64").dtype is ns.DType.FLOAT64
    assert ns.min_value("int32").value == -(2 ** 31) and ns.max_value("int32").value == 2 ** 31 - 1
    assert ns.min_value("float32").value == float(np.finfo(np.float32).min)
    assert ns.max_value("float64").value == float(np.finfo(np.float64).max)
    assert ns.min_value("bool").value is False and ns.max_value("bool").value is True
    assert [ns.const(v).dtype for v in (1, 1.5, True)] == ["int32", "float32", "bool"]
    assert ns.const(3, dtype=np.float64).dtype == "float64"


def test_tuple_reducer_gives_one_tensor_per_value(A, k):
    Idx = ns.placeholder((4, 5), dtype="int32", name="I")
    T0, T1 = ns.compute((4,), lambda i: argmax_reducer()((Idx[i, k], A[i, k]), axis=k), name="T")
    assert (T0.name, T0.dtype, T1.name, T1.dtype) == ("T.v0", ns.DType.INT32, "T.v1", ns.DType.FLOAT32)
    assert T0.op is T1.op and T0.op.outputs == (T0, T1)
    assert str(T1.op.bodies[1]) == "argmax((I[i, k], A[i, k])[1], axis=[k])"


def test_lambda_returning_a_tuple_gives_several_outputs(A):
    P, Q = ns.compute((4, 5), lambda i, j: (A[i, j] + 1, (A[i, j] > 0).astype("int32")), name="PQ")
    assert [P.name, Q.name] == ["PQ.v0", "PQ.v1"] and [P.dtype, Q.dtype] == ["float32", "int32"]
    assert P.shape == Q.shape == (4, 5)


def test_one_element_tuple_is_one_tensor(A):
    P = ns.compute((4, 5), lambda i, j: (A[i, j] + 1,), name="P")
    assert isinstance(P, ns.Tensor) and P.name == "P"


def test_where_narrows_the_bounds_proof():
    A = ns.placeholder((8,), name="A")
    r = ns.reduce_axis(4, "r")
    # A[i + r] leaves A for i + r >= 8, which the predicate excludes
    C = ns.compute((8,), lambda i: ns.sum(A[i + r], axis=r, where=i + r < 8), name="C")
    assert str(C.op.body) == "sum(A[i + r], axis=[r], where=i + r < 8)"


# -- errors ----------------------------------------------------------------------------------
def test_where_must_be_bool(A, k):
    with pytest.raises(DefinitionError, match=_pattern(
            "sum(..., where=A[i, k])", "has type float32, not bool", "where=A[i, k] > 0")):
        ns.compute((4,), lambda i: ns.sum(A[i, k], axis=k, where=A[i, k]))


def test_where_must_be_an_expression(A, k):
    with pytest.raises(DefinitionError, match=_pattern("max(..., where=...)", "cannot use 'yes'")):
        ns.compute((4,), lambda i: ns.max(A[i, k], axis=k, where="yes"))


def test_init_type_must_match(A, k):
    B = ns.placeholder((4,), dtype="int32", name="B")
    with pytest.raises(DefinitionError, match=_pattern(
            "sum(..., init=B[i])", "type int32 but the reduction has type float32", ".astype('float32')")):
        ns.compute((4,), lambda i: ns.sum(A[i, k], axis=k, init=B[i]))


def test_init_may_not_use_the_reduce_axis(A, k):
    with pytest.raises(DefinitionError, match=_pattern(
            "min(..., init=A[i, k])", "uses the reduce axis k", "init=B[i]")):
        ns.compute((4,), lambda i: ns.min(A[i, k], axis=k, init=A[i, k]))


def test_init_count_must_match_the_values(A, k):
    Idx = ns.placeholder((4, 5), dtype="int32", name="I")
    with pytest.raises(DefinitionError, match=_pattern(
            "argmax(..., init=...)", "1 initial values for a reducer of 2 value(s)", "one per value")):
        ns.compute((4,), lambda i: argmax_reducer()((Idx[i, k], A[i, k]), axis=k, init=[0]))


def test_fcombine_arity_must_match(A, k):
    Idx = ns.placeholder((4, 5), dtype="int32", name="I")
    bad = ns.comm_reducer(lambda x, y: x[0] + y[0], lambda t0, t1: (ns.const(0, t0), ns.const(0, t1)),
                          name="bad")
    with pytest.raises(DefinitionError, match=_pattern(
            "bad: fcombine returned 1 value(s)", "combines 2 value(s)", "['int32', 'float32']",
            "return one per value")):
        ns.compute((4,), lambda i: bad((Idx[i, k], A[i, k]), axis=k))


def test_fcombine_of_one_value_returns_one(A, k):
    bad = ns.comm_reducer(lambda x, y: (x + y, x * y), lambda t: ns.const(0, t), name="two")
    with pytest.raises(DefinitionError, match=_pattern("two: fcombine returned 2 value(s)", "1 value(s)")):
        ns.compute((4,), lambda i: bad(A[i, k], axis=k))


def test_fcombine_result_type_must_match(A, k):
    bad = ns.comm_reducer(lambda x, y: (x > y), lambda t: ns.const(0, t), name="cmp")
    with pytest.raises(DefinitionError, match=_pattern(
            "cmp: fcombine value 0", "of type bool", "has type float32", "ns.const(v, 'float32')")):
        ns.compute((4,), lambda i: bad(A[i, k], axis=k))


def test_identity_types_must_match(A, k):
    Idx = ns.placeholder((4, 5), dtype="int32", name="I")
    bad = ns.comm_reducer(argmax_reducer().fcombine,
                          lambda t0, t1: (ns.const(-1, "float32"), ns.min_value(t1)), name="argmax")
    with pytest.raises(DefinitionError, match=_pattern(
            "argmax: fidentity value 0 is -1.0 of type float32", "value 0 of the reduction has type int32")):
        ns.compute((4,), lambda i: bad((Idx[i, k], A[i, k]), axis=k))


def test_identity_arity_must_match(A, k):
    Idx = ns.placeholder((4, 5), dtype="int32", name="I")
    bad = ns.comm_reducer(argmax_reducer().fcombine, lambda t0, t1: ns.const(-1, t0), name="argmax")
    with pytest.raises(DefinitionError, match=_pattern("argmax: fidentity returned 1 value(s)", "2 value(s)")):
        ns.compute((4,), lambda i: bad((Idx[i, k], A[i, k]), axis=k))


def test_identity_must_be_constant(A, k):
    bad = ns.comm_reducer(lambda x, y: x + y, lambda t: A[0, 0], name="add")
    with pytest.raises(DefinitionError, match=_pattern("add: fidentity's value A[0, 0] is not a constant",
                                                       "ns.min_value(t)")):
        ns.compute((4,), lambda i: bad(A[i, k], axis=k))


def test_fcombine_may_use_only_its_arguments(A, k):
    with pytest.raises(DefinitionError, match=_pattern(
            "scaled: fcombine's result", "uses i, which is not one of its arguments")):
        ns.compute((4,), lambda i: ns.comm_reducer(lambda x, y: x + y * i, lambda t: ns.const(0, t),
                                                   name="scaled")(A[i, k], axis=k))


def test_comm_reducer_needs_functions():
    with pytest.raises(DefinitionError, match=_pattern("comm_reducer(name='r')", "must be functions",
                                                       "int and function")):
        ns.comm_reducer(3, lambda t: ns.const(0, t), name="r")
    with pytest.raises(DefinitionError, match=_pattern("comm_reducer: name must be a non-empty string")):
        ns.comm_reducer(lambda x, y: x, lambda t: ns.const(0, t), name="")


def test_user_reducer_checks_its_axis(A, k):
    product = ns.comm_reducer(lambda x, y: x * y, lambda t: ns.const(1, t), name="product")
    with pytest.raises(DefinitionError, match=_pattern("product(..., axis=i)", "not a reduce axis")):
        ns.compute((4,), lambda i: product(A[i, k], axis=i))


def test_const_needs_a_number():
    with pytest.raises(DefinitionError, match=_pattern("const('x', float32)", "must be a Python number")):
        ns.const("x", "float32")
    with pytest.raises(DefinitionError, match=_pattern("min_value: dtype 'complex'", "not supported")):
        ns.min_value("complex")


def test_outputs_mixing_reductions_and_values(A, k):
    with pytest.raises(DefinitionError, match=_pattern(
            "compute M: output 0 is a reduction but output 1 is not a reduction", "separate computes")):
        ns.compute((4,), lambda i: (ns.sum(A[i, k], axis=k), A[i, 0]), name="M")


def test_outputs_reducing_over_different_axes(A, k):
    k2 = ns.reduce_axis(4, "k2")
    with pytest.raises(DefinitionError, match=_pattern(
            "compute M: output 0 reduces over ['k'] but output 1 over ['k2']", "same axes")):
        ns.compute((4,), lambda i: (ns.sum(A[i, k], axis=k), ns.max(A[k2, i], axis=k2)), name="M")


def test_tuple_reducer_values_must_all_be_outputs(A, k):
    Idx = ns.placeholder((4, 5), dtype="int32", name="I")
    with pytest.raises(DefinitionError, match=_pattern(
            "compute M: output 0 is not value 0 of the tuple reducer argmax (of 2 values)",
            "T0, T1 = ns.compute")):
        ns.compute((4,), lambda i: argmax_reducer()((Idx[i, k], A[i, k]), axis=k)[1], name="M")


def test_empty_tuple_of_outputs(A):
    with pytest.raises(DefinitionError, match=_pattern("compute M: fcompute returned an empty tuple")):
        ns.compute((4,), lambda i: (), name="M")


def test_output_that_is_not_an_expression(A):
    with pytest.raises(DefinitionError, match=_pattern("compute M: output 1 of fcompute is not an expression",
                                                       "index the tensor")):
        ns.compute((4, 5), lambda i, j: (A[i, j], A), name="M")


def test_structural_keys_of_user_reductions(A, k):
    from tensorir.structural import canonical

    def define(name):
        Idx = ns.placeholder((4, 5), dtype="int32", name="I")
        return ns.compute((4,), lambda i: argmax_reducer()((Idx[i, k], A[i, k]), axis=k), name=name)

    (a0, _), (b0, _) = define("T"), define("U")
    assert canonical(a0.op.body).key == canonical(b0.op.body).key
    other = ns.compute((4,), lambda i: argmax_reducer()((k, A[i, k]), axis=k, where=k > 0), name="V")
    assert canonical(other[0].op.body).key != canonical(a0.op.body).key


def test_user_reducer_must_be_the_whole_body(A, k):
    product = ns.comm_reducer(lambda x, y: x * y, lambda t: ns.const(1, t), name="product")
    with pytest.raises(DefinitionError, match=_pattern(
            "compute M: a reducer (product) must be the whole body", "compute the reduction as its own tensor")):
        ns.compute((4,), lambda i: product(A[i, k], axis=k) + 1.0, name="M")


def test_user_reducer_keeps_bool_values(A, k):
    any_of = ns.comm_reducer(lambda x, y: x | y, lambda t: ns.const(False, t), name="any")
    C = ns.compute((4,), lambda i: any_of(A[i, k] > 0.5, axis=k), name="C")
    assert C.dtype == "bool" and str(C.op.body) == "any(A[i, k] > 0.5, axis=[k])"


def test_tuple_combiner_applied_to_one_value(A, k):
    with pytest.raises(DefinitionError, match=_pattern(
            "argmax: fcombine failed (TypeError", "it was given x and y, each one value",
            "one applied to a tuple combines tuples")):
        ns.compute((4,), lambda i: argmax_reducer()(A[i, k], axis=k))


def test_identity_that_fails(A, k):
    bad = ns.comm_reducer(lambda x, y: x + y, lambda t0, t1: (ns.const(0, t0), ns.const(0, t1)), name="add")
    with pytest.raises(DefinitionError, match=_pattern(
            "add: fidentity failed (TypeError", "it was given the dtypes ['float32']")):
        ns.compute((4,), lambda i: bad(A[i, k], axis=k))


# -- TVM's two-value form of the built-in reducers ---------------------------------------------
@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_max_min_sum_of_two_values_combine_elementwise(target):
    X = ns.placeholder((6,), name="X")
    k = ns.reduce_axis(6, "k")
    relu = ns.compute((6,), lambda i: ns.max(X[i], ns.const(0.0, "float32")), name="relu")
    low = ns.compute((6,), lambda i: ns.min(X[i], 0.5), name="low")
    both = ns.compute((6,), lambda i: ns.sum(X[i], X[5 - i]), name="both")
    top = ns.compute((1,), lambda i: ns.max(X[k], k), name="top")
    s = ns.create_schedule([relu.op, low.op, both.op, top.op])
    f = ns.build(s, [X, relu, low, both, top], target=target)
    x = np.array([-1, 2, -3, 0.25, 4, -0.5], "float32")
    outs = [np.zeros(6, "float32") for _ in range(3)] + [np.zeros(1, "float32")]
    f(x, *outs)
    for got, want in zip(outs, [np.maximum(x, 0), np.minimum(x, 0.5), x + x[::-1], [x.max()]]):
        np.testing.assert_allclose(got, want)


def test_reducer_without_axis_or_with_axis_twice_is_refused(A, k):
    with pytest.raises(DefinitionError, match=_pattern("max(", "give the reduce axis", "axis=k")):
        ns.max(A[0, k])
    with pytest.raises(DefinitionError, match=_pattern("sum(...)", "axis given twice")):
        ns.sum(A[0, k], k, axis=k)
