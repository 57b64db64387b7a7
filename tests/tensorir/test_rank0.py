"""Rank-0 tensors in definitions: ``placeholder(())``, ``compute((), lambda: ...)``, reading one
as ``A()`` or ``A[()]``, and the string form's ``s[] = ...`` / ``s = ...``; with the errors for
indexing a scalar or reading a tensor without its indices."""

from __future__ import annotations

import pytest

import nestor as ns
from tensorir.expr import TensorLoad


@pytest.mark.parametrize("shape", [(), []])
def test_a_rank0_placeholder_has_an_empty_shape(shape):
    P = ns.placeholder(shape, name="P")
    assert P.shape == () and P.ndim == 0
    assert repr(P) == "Tensor(P, shape=[], dtype=float32)"


@pytest.mark.parametrize("read", [lambda P: P(), lambda P: P[()]])
def test_a_rank0_tensor_is_read_with_no_indices(read):
    P = ns.placeholder((), name="P")
    load = read(P)
    assert isinstance(load, TensorLoad) and load.indices == () and load.tensor is P


def test_call_form_reads_any_rank():
    A = ns.placeholder((4, 5), name="A")
    i = ns.reduce_axis(4, "i")
    j = ns.reduce_axis(5, "j")
    call, subscript = A(i, j), A[i, j]
    assert call.tensor is subscript.tensor and call.indices == subscript.indices


def test_a_rank0_compute_of_a_reduction():
    A = ns.placeholder((16,), name="A")
    k = ns.reduce_axis((0, 16), name="k")
    S = ns.compute((), lambda: ns.sum(A[k], axis=k), name="S")
    assert S.shape == () and S.op.axis == () and [iv.name for iv in S.op.reduce_axis] == ["k"]


def test_a_rank0_tensor_refuses_an_index():
    P = ns.placeholder((), name="P")
    with pytest.raises(ns.DefinitionError) as info:
        ns.compute((4,), lambda i: P[i], name="B")
    assert str(info.value) == (
        "access P[i]: P has rank 0 (shape []) but 1 indices were given; a rank-0 tensor takes no "
        "index: read it as P() (or P[] in the string form)")


def test_a_vector_refuses_the_scalar_read():
    A = ns.placeholder((4,), name="A")
    with pytest.raises(ns.DefinitionError, match=r"access A\[\]: A has rank 1 \(shape \[4\]\) but 0 "
                       r"indices were given; give one index per dimension"):
        ns.compute((), lambda: A(), name="B")


def test_a_rank0_compute_takes_no_index_variable():
    with pytest.raises(ns.DefinitionError, match="fcompute takes 1 index variables but the shape has 0"):
        ns.compute((), lambda i: i, name="B")


@pytest.mark.parametrize("text", ["s[] = sum(A[i])", "s = sum(A[i])"])
def test_the_string_form_defines_a_rank0_tensor(text):
    A = ns.placeholder((16,), name="A")
    S = ns.compute(text, A=A)
    assert S.name == "s" and S.shape == ()
    assert str(ns.lower(ns.create_schedule(S), [A, S], name="f")) == """\
func f(A: float32[16], s: float32[]) {
  s[] = 0.0
  for i in 0..16:
    s[] = s[] + A[i]
}"""


def test_the_string_form_reads_a_rank0_operand():
    A = ns.placeholder((16,), name="A")
    P = ns.placeholder((), name="P")
    B = ns.compute("B[i] = A[i] * P[]", A=A, P=P)
    assert B.shape == (16,)
    assert str(ns.lower(ns.create_schedule(B), [A, P, B], name="f")) == """\
func f(A: float32[16], P: float32[], B: float32[16]) {
  for i in 0..16:
    B[i] = A[i] * P[]
}"""


def test_the_string_form_needs_the_brackets_of_a_rank0_operand():
    A = ns.placeholder((16,), name="A")
    P = ns.placeholder((), name="P")
    with pytest.raises(ns.DefinitionError) as info:
        ns.compute("B[i] = A[i] * P", A=A, P=P)
    assert str(info.value) == """\
compute B: `P` is a tensor; index it, like P[]
    B[i] = A[i] * P
                  ^"""


def test_the_string_form_refuses_an_index_on_a_rank0_operand():
    P = ns.placeholder((), name="P")
    with pytest.raises(ns.DefinitionError) as info:
        ns.compute("B[i] = P[i]", P=P, ranges={"i": 4})
    assert str(info.value).startswith(
        "compute B: access P[i]: P has rank 0 (shape []) but 1 indices were given; a rank-0 tensor "
        "takes no index: read it as P() (or P[] in the string form)\n")


def test_the_string_form_rank0_output_keeps_other_indices_in_reducers():
    A = ns.placeholder((16,), name="A")
    with pytest.raises(ns.DefinitionError, match="index `i` is neither on the left side nor inside a reducer"):
        ns.compute("t = A[i]", A=A)


def test_the_string_form_left_side_without_equals():
    with pytest.raises(ns.DefinitionError) as info:
        ns.compute("t[] 3")
    assert str(info.value) == """\
compute: syntax error: expected `=` after the left side t[], found `3`
    t[] 3
        ^"""


def test_the_string_form_left_side_needs_brackets_or_equals():
    with pytest.raises(ns.DefinitionError) as info:
        ns.compute("t + 1 = 3")
    assert str(info.value) == """\
compute: syntax error: expected `[` or `=` after the output name t, found `+`
    t + 1 = 3
      ^"""
