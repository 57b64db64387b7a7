"""One test per error message of definitions (lambda form), schedules, lowering and module calls.

Each message must name the op or tensor, show the offending value and say how to fix it.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from nestor import ArgumentError, DefinitionError, LoweringError, ScheduleError


@pytest.fixture
def A():
    return ns.placeholder((4, 5), name="A")


@pytest.fixture
def k():
    return ns.reduce_axis(5, "k")


def _pattern(*parts: str) -> str:
    """A regex matching ``parts`` in order, each taken literally."""
    return ".*".join(re.escape(p) for p in parts)


def test_error_tree():
    for cls in (DefinitionError, ScheduleError, LoweringError, ArgumentError,
                ns.CodegenError, ns.BackendUnavailable):
        assert issubclass(cls, ns.NestorError)
    assert issubclass(ArgumentError, TypeError)


# compute definitions -------------------------------------------------------------------------
def test_fcompute_with_wrong_number_of_index_variables(A):
    with pytest.raises(DefinitionError, match=_pattern(
            "compute C", "fcompute takes 1 index variables", "shape has 2 dimensions",
            "one index variable per output dimension")):
        ns.compute((4, 5), lambda i: A[i, 0], name="C")


def test_access_with_wrong_rank(A):
    with pytest.raises(DefinitionError, match=_pattern(
            "access A[i]", "A has rank 2", "shape [4, 5]", "1 indices", "one index per dimension")):
        ns.compute((4,), lambda i: A[i], name="C")


def test_access_with_a_slice(A):
    with pytest.raises(DefinitionError, match=_pattern("access A", "index 1 is a slice",
                                                      "index every dimension")):
        ns.compute((4,), lambda i: A[i, :], name="C")


def test_reduce_axis_used_outside_a_reducer(A, k):
    with pytest.raises(DefinitionError, match=_pattern(
            "compute C", "`k` is used outside a reducer", "not an index of this compute (i)",
            "ns.sum/ns.max/ns.min(..., axis=k)")):
        ns.compute((4,), lambda i: A[i, k], name="C")


def test_reduce_axis_inside_a_reducer_over_another_axis(A, k):
    other = ns.reduce_axis(5, "r")
    with pytest.raises(DefinitionError, match=_pattern("compute C", "`r` is used outside a reducer",
                                                      "axis=r")):
        ns.compute((4,), lambda i: ns.sum(A[i, k] * A[i, other], axis=k), name="C")


def test_index_variable_of_another_compute(A):
    B = ns.compute((4, 5), lambda p, q: A[p, q], name="B")
    with pytest.raises(DefinitionError, match=_pattern(
            "compute C", "`q`", "not an index of this compute (i, j)", "own indices")):
        ns.compute((4, 5), lambda i, j: A[i, B.op.axis[1]], name="C")


def test_reducer_inside_a_larger_expression(A, k):
    with pytest.raises(DefinitionError, match=_pattern(
            "compute C", "reducer (sum) must be the whole body", "sum(A[i, k], axis=[k]) * 2.0",
            "own tensor")):
        ns.compute((4,), lambda i: ns.sum(A[i, k], axis=k) * 2.0, name="C")


def test_nested_reducers(A, k):
    with pytest.raises(DefinitionError, match=_pattern("compute C", "reducers are nested",
                                                      "inner reduction as its own tensor")):
        ns.compute((4,), lambda i: ns.sum(ns.max(A[i, k], axis=k), axis=k), name="C")


def test_reducer_over_an_output_axis(A):
    with pytest.raises(DefinitionError, match=_pattern(
            "sum(..., axis=i)", "`i` is an output axis", "not a reduce axis", "ns.reduce_axis(extent")):
        ns.compute((4,), lambda i: ns.sum(A[i, 0], axis=i), name="C")


def test_reducer_over_a_number(A):
    with pytest.raises(DefinitionError, match=_pattern(
            "max(..., axis=3)", "`3` is not a reduce axis", "ns.reduce_axis(extent, name)")):
        ns.compute((4,), lambda i: ns.max(A[i, 0], axis=3), name="C")


def test_reducer_over_no_axis(A):
    with pytest.raises(DefinitionError, match=_pattern("sum(...)", "axis is empty", "reduce_axis")):
        ns.compute((4,), lambda i: ns.sum(A[i, 0], axis=[]), name="C")


def test_reducer_axis_listed_twice(A, k):
    with pytest.raises(DefinitionError, match=_pattern("min(..., axis=[k, k])", "listed twice")):
        ns.compute((4,), lambda i: ns.min(A[i, k], axis=[k, k]), name="C")


@pytest.mark.parametrize("shape, shown, bad", [
    ((4, 0), "(4, 0)", "0"), ((-3,), "(-3,)", "-3"), ((4.0, 2), "(4.0, 2)", "4.0"),
    ((2, True), "(2, True)", "True"), ((2, "3"), "(2, '3')", "'3'"),
])
def test_placeholder_shape_with_a_bad_dimension(shape, shown, bad):
    with pytest.raises(DefinitionError, match=_pattern(
            "placeholder P", f"shape {shown}", f"dimension {bad}", "must be a positive int")):
        ns.placeholder(shape, name="P")


@pytest.mark.parametrize("shape", [None, "4"])  # () is a rank-0 tensor (tests/tensorir/test_rank0.py)
def test_placeholder_shape_that_is_not_a_tuple(shape):
    with pytest.raises(DefinitionError, match=_pattern("placeholder P", "shape must be a tuple of positive "
                                                      "ints (or () for a scalar)", f"got {shape!r}")):
        ns.placeholder(shape, name="P")


def test_compute_shape_with_a_bad_dimension(A):
    with pytest.raises(DefinitionError, match=_pattern("compute C", "shape (4, 0)", "dimension 0",
                                                      "positive int")):
        ns.compute((4, 0), lambda i, j: A[i, j], name="C")


@pytest.mark.parametrize("dtype", ["bfloat16", "complex64", "uint4", "nonsense", np.complex128])
def test_placeholder_with_an_unsupported_dtype(dtype):
    with pytest.raises(DefinitionError, match=_pattern(
            "placeholder P: dtype", repr(dtype), "not supported", "float32, float64")):
        ns.placeholder((4,), dtype, name="P")


def test_astype_to_an_unsupported_dtype(A):
    with pytest.raises(DefinitionError, match=_pattern("astype of A[i, j]", "'bfloat16'", "not supported",
                                                      "use one of")):
        ns.compute((4, 5), lambda i, j: A[i, j].astype("bfloat16"), name="C")


def test_expression_used_as_a_python_bool(A):
    def relu(i, j):
        if A[i, j] > 0:
            return A[i, j]
        return 0.0

    with pytest.raises(DefinitionError, match=_pattern(
            "A[i, j] > 0.0", "as a Python bool", "ns.if_then_else(cond, a, b)", "`&`, `|`, `~`")):
        ns.compute((4, 5), relu, name="C")


def test_python_and_between_expressions(A):
    with pytest.raises(DefinitionError, match=_pattern("A[i, j] > 0.0", "Python bool", "`&`")):
        ns.compute((4, 5), lambda i, j: ns.if_then_else((A[i, j] > 0) and (A[i, j] < 1), 1.0, 0.0),
                   name="C")


def test_logical_and_on_non_bool(A):
    with pytest.raises(DefinitionError, match=_pattern(
            "logical `and`", "got A[i, j] of type float32", "compare first")):
        ns.compute((4, 5), lambda i, j: (A[i, j] & (A[i, j] > 0)).astype("float32"), name="C")


def test_logical_not_on_non_bool(A):
    with pytest.raises(DefinitionError, match=_pattern("logical `not`", "A[i, j] of type float32",
                                                      "compare first")):
        ns.compute((4, 5), lambda i, j: ~A[i, j], name="C")


def test_if_then_else_with_a_non_bool_condition(A):
    with pytest.raises(DefinitionError, match=_pattern(
            "if_then_else", "condition A[i, j] has type float32", "comparison")):
        ns.compute((4, 5), lambda i, j: ns.if_then_else(A[i, j], 1.0, 0.0), name="C")


def test_float_index(A):
    with pytest.raises(DefinitionError, match=_pattern(
            "access A", "index 1 is A[i, j] of type float32", "integer expressions", ".astype('int32')")):
        ns.compute((4, 5), lambda i, j: A[i, A[i, j]], name="C")


def test_float_constant_index(A):
    with pytest.raises(DefinitionError, match=_pattern("access A", "index 1 is 1.5", "float32",
                                                      "integer")):
        ns.compute((4,), lambda i: A[i, 1.5], name="C")


def test_bool_index(A):
    with pytest.raises(DefinitionError, match=_pattern("access A", "index 1 is j > 0 of type bool",
                                                      "integer")):
        ns.compute((4, 5), lambda i, j: A[i, j > 0], name="C")


def test_fcompute_that_is_not_callable():
    with pytest.raises(DefinitionError, match=_pattern("compute C", "fcompute must be a function")):
        ns.compute((4,), 3.0, name="C")


def test_fcompute_returning_none(A):
    with pytest.raises(DefinitionError, match=_pattern(
            "compute C", "must return an expression", "None of type NoneType")):
        ns.compute((4,), lambda i: None, name="C")


def test_fcompute_returning_a_tensor(A):
    with pytest.raises(DefinitionError, match=_pattern("compute C", "type Tensor", "index the tensor",
                                                      "A[i, j]")):
        ns.compute((4, 5), lambda i, j: A, name="C")


def test_tensor_inside_an_expression(A):
    with pytest.raises(DefinitionError, match=_pattern("Tensor(A", "in an expression", "A[i, j]")):
        ns.compute((4, 5), lambda i, j: A[i, j] + A, name="C")


def test_iterating_over_a_tensor():
    B = ns.placeholder((3,), name="B")
    with pytest.raises(DefinitionError, match=_pattern("tensor B cannot be iterated", "B[i]", "list")):
        list(B)


def test_tensor_keywords_in_the_lambda_form(A):
    with pytest.raises(DefinitionError, match=_pattern("compute", "unexpected keyword arguments ['A']",
                                                      "string form")):
        ns.compute((4, 5), lambda i, j: A[i, j], A=A)


@pytest.mark.parametrize("dom, shown", [((3, 3), "3..3"), ((5, 2), "5..2"), (0, "0..0")])
def test_reduce_axis_with_an_empty_range(dom, shown):
    with pytest.raises(DefinitionError, match=_pattern("reduce_axis r", f"range {shown} is empty",
                                                      "hi > lo")):
        ns.reduce_axis(dom, "r")


@pytest.mark.parametrize("dom", [3.0, (0, 2.5), "4"])
def test_reduce_axis_with_a_non_int_range(dom):
    with pytest.raises(DefinitionError, match=_pattern("reduce_axis r", f"range {dom!r}",
                                                      "int extent or a (lo, hi) pair of ints")):
        ns.reduce_axis(dom, "r")


# schedules -----------------------------------------------------------------------------------
def test_create_schedule_of_a_placeholder(A):
    with pytest.raises(ScheduleError, match=_pattern("create_schedule", "A is a placeholder",
                                                    "pass the compute tensors")):
        ns.create_schedule(A)


def test_create_schedule_of_nothing():
    with pytest.raises(ScheduleError, match=_pattern("create_schedule", "at least one output tensor")):
        ns.create_schedule([])


def test_create_schedule_of_a_non_tensor():
    with pytest.raises(ScheduleError, match=_pattern("create_schedule", "3 is not a tensor")):
        ns.create_schedule([3])


def test_stage_of_a_tensor_not_in_the_schedule(A):
    C = ns.compute((4, 5), lambda i, j: A[i, j] * 2.0, name="C")
    D = ns.compute((4, 5), lambda i, j: A[i, j] * 3.0, name="D")
    s = ns.create_schedule(C)
    with pytest.raises(ScheduleError, match=_pattern("s[D]", "D is not computed by this schedule",
                                                    "outputs are ['C']")):
        s[D]


# lowering ------------------------------------------------------------------------------------
@pytest.fixture
def scheduled(A):
    C = ns.compute((4, 5), lambda i, j: A[i, j] * 2.0, name="C")
    return A, C, ns.create_schedule(C)


def test_lower_of_something_that_is_not_a_schedule(scheduled):
    A, C, _ = scheduled
    with pytest.raises(LoweringError, match=_pattern("lower", "ns.create_schedule", "got Tensor")):
        ns.lower(C, [A, C])


def test_lower_without_an_input(scheduled):
    _, C, s = scheduled
    with pytest.raises(LoweringError, match=_pattern(
            "lower f", "A is an input (placeholder)", "not in the arguments ['C']", "add it")):
        ns.lower(s, [C], name="f")


def test_lower_without_an_output_computes_it_into_a_temporary(scheduled):
    """TVM's meaning (its ``test_schedule_scan`` lowers with the output unlisted): not an error;
    a call passing the output anyway is refused by its count."""
    A, _, s = scheduled
    assert str(ns.lower(s, [A], name="f")) == """func f(A: float32[4, 5]) {
  allocate C: float32[4, 5] in global
  for i in 0..4:
    for j in 0..5:
      C[i, j] = A[i, j] * 2.0
}"""
    with pytest.raises(ArgumentError, match=re.escape("f: expected 1 arrays (A), got 2")):
        ns.build(s, [A], name="f")(np.zeros((4, 5), "float32"), np.zeros((4, 5), "float32"))


def test_lower_with_a_tensor_listed_twice(scheduled):
    A, C, s = scheduled
    with pytest.raises(LoweringError, match=_pattern("lower f", "A is listed twice", "['A', 'A', 'C']",
                                                    "list each tensor once")):
        ns.lower(s, [A, A, C], name="f")


def test_lower_with_a_foreign_tensor(scheduled):
    A, C, s = scheduled
    D = ns.compute((3,), lambda i: A[i, 0] * 2.0, name="D")  # a placeholder is an unread parameter, as in TVM
    with pytest.raises(LoweringError, match=_pattern(
            "lower f", "argument D is not used by this schedule's outputs ['C']", "remove it")):
        ns.lower(s, [A, D, C], name="f")


def test_lower_with_a_non_tensor_argument(scheduled):
    A, C, s = scheduled
    with pytest.raises(LoweringError, match=_pattern("lower f", "argument 3 is not a tensor")):
        ns.lower(s, [A, C, 3], name="f")


def test_lower_with_a_bare_tensor_for_the_arguments(scheduled):
    _, C, s = scheduled
    with pytest.raises(LoweringError, match=_pattern("lower f", "list of tensors", "[A, B, C]",
                                                    "got Tensor")):
        ns.lower(s, C, name="f")


def test_build_without_arguments(scheduled):
    _, _, s = scheduled
    with pytest.raises(LoweringError, match=_pattern("build", "pass the argument tensors",
                                                    "build(s, [A, B, C])")):
        ns.build(s)


def test_build_for_an_unknown_target(scheduled):
    A, C, s = scheduled
    with pytest.raises(LoweringError, match=_pattern("build", "unknown target 'fpga'", "available targets",
                                                    "interp")):
        ns.build(s, [A, C], target="fpga")


# module calls --------------------------------------------------------------------------------
@pytest.fixture
def module(scheduled):
    A, C, s = scheduled
    return ns.build(s, [A, C], target="interp", name="double")


def _arrays():
    return np.zeros((4, 5), np.float32), np.zeros((4, 5), np.float32)


def test_call_with_the_wrong_number_of_arrays(module):
    a, _ = _arrays()
    with pytest.raises(ArgumentError, match=_pattern("double", "expected 2 arrays (A, C)", "got 1")):
        module(a)


def test_call_with_the_wrong_shape(module):
    a, _ = _arrays()
    with pytest.raises(ArgumentError, match=_pattern("double", "argument 1 (C)", "shape [4, 5]",
                                                    "got [5, 4]")):
        module(a, np.zeros((5, 4), np.float32))


def test_call_with_the_wrong_dtype(module):
    a, _ = _arrays()
    with pytest.raises(ArgumentError, match=_pattern("double", "argument 1 (C)", "dtype float32",
                                                    "got float64", ".astype(np.float32)")):
        module(a, np.zeros((4, 5), np.float64))


def test_call_with_a_non_contiguous_array(module):
    _, c = _arrays()
    with pytest.raises(ArgumentError, match=_pattern("double", "argument 0 (A)", "C-contiguous",
                                                    "np.ascontiguousarray")):
        module(np.zeros((5, 4), np.float32).T, c)


@pytest.mark.parametrize("value, type_name", [([[0.0] * 5] * 4, "list"), (1.0, "float"),
                                              (np.float32(1), "float32")])
def test_call_with_something_that_is_not_an_array(module, value, type_name):
    _, c = _arrays()
    with pytest.raises(ArgumentError, match=_pattern("double", "argument 0 (A)", "numpy array float32[4, 5]",
                                                    f"got {type_name}")):
        module(value, c)


def test_call_with_a_read_only_output(module):
    a, c = _arrays()
    c.flags.writeable = False
    with pytest.raises(ArgumentError, match=_pattern("double", "argument 1 (C)", "written by the kernel",
                                                    "read-only", ".copy()")):
        module(a, c)


def test_read_only_input_is_accepted(module):
    a, c = _arrays()
    a[...] = 1.5
    a.flags.writeable = False
    module(a, c)
    np.testing.assert_array_equal(c, np.full((4, 5), 3.0, np.float32))


def test_two_axes_with_one_name():
    A = ns.placeholder((4, 5), name="A")
    k = ns.reduce_axis(5, "i")
    with pytest.raises(ns.DefinitionError, match=r"compute C: the output axis and the reduce axis are both named 'i'; "
                                                 r"give them different names"):
        ns.compute((4,), lambda i: ns.sum(A[i, k], axis=k), name="C")
