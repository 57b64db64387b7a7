"""The string form's reducer keywords (``sum(A[i,k], where=..., init=...)``) and TVM's
``op.output(n)`` / ``T(i, j)`` calls on tensors: definitions, values on llvm and interp, and every
error message."""

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
def B():
    return ns.placeholder((4,), name="B")


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_where_and_init_in_the_string_form(A, B, target):
    C = ns.compute("C[i] = sum(A[i,k], where=A[i,k] > 0)", A=A)
    D = ns.compute("D[i] = max(A[i, k], init=B[i], where=k < 3)", A=A, B=B)
    assert str(C.op.body) == "sum(A[i, k], axis=[k], where=A[i, k] > 0.0)"
    assert str(D.op.body) == "max(A[i, k], axis=[k], where=k < 3, init=B[i])"
    s = ns.create_schedule([C, D])
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    c, d = np.full(4, np.nan, np.float32), np.full(4, np.nan, np.float32)
    ns.build(s, [A, B, C, D], target=target)(a, b, c, d)
    np.testing.assert_allclose(c, np.where(a > 0, a, 0).sum(1), rtol=1e-5)
    np.testing.assert_allclose(d, np.maximum(a[:, :3].max(1), b), rtol=1e-6)


@pytest.mark.parametrize(("text", "message"), [
    ("E[i] = exp(A[i,0], where=1)",
     "compute E: exp takes no keyword arguments; only the reducers sum, max and min take where= and init="),
    ("E[i] = sum(A[i,k], wher=A[i,k] > 0)",
     "compute E: sum has no argument wher=; a reducer takes where= (which points count) and init="),
    ("E[i] = sum(where=A[i,k] > 0, A[i,k])",
     "compute: syntax error: a positional argument follows a keyword argument in the call of sum"),
    ("E[i] = sum(A[i,k], where=A[i,k] > 0, where=A[i,k] < 1)",
     "compute: syntax error: where= is given twice in the call of sum"),
    ("E[i] = sum(A[i,k], where=A[i,k])",
     "compute E: sum(..., where=A[i, k]): the predicate has type float32, not bool; compare to make it one"),
    ("E[i] = sum(A[i,k], init=A[i,k])",
     "compute E: sum(..., init=A[i, k]): the initial value uses the reduce axis k; it may use only the "
     "compute's own indices"),
])
def test_string_keyword_errors(A, B, text, message):
    with pytest.raises(DefinitionError, match=_pattern(message)):
        ns.compute(text, A=A, B=B)


def test_op_output_and_schedule_by_output(A):
    B0, B1 = ns.compute((4, 5), lambda i, j: (A[i, j] + 1, A[i, j] * 2), name="B")
    assert B0.op.output(0) is B0 and B0.op.output(1) is B1 and A.op.output(0) is A
    s = ns.create_schedule(B0.op)
    assert s[B0.op.output(1)] is s[B0] is s[B0.op]
    s[B0.op.output(1)].split(B1.op.axis[1], factor=2)
    out = str(ns.lower(s, [A, B0, B1]))
    assert "for j.outer in 0..3:" in out and "B.v0[i, j.outer * 2 + j.inner] = A[" in out


def test_call_indexes_inside_a_definition(A):
    B0, B1 = ns.compute((4, 5), lambda i, j: (A[i, j] + 1, A[i, j] * 2), name="B")
    C = ns.compute((4, 5), lambda i, j: A(i, j) + B1(i, j), name="C")
    assert str(C.op.body) == "A[i, j] + B.v1[i, j]"
    s = ns.create_schedule(C)
    a = np.random.default_rng(1).random((4, 5), dtype=np.float32)
    c = np.full((4, 5), np.nan, np.float32)
    ns.build(s, [A, C], target="interp")(a, c)
    np.testing.assert_allclose(c, a + 2 * a, rtol=1e-6)


def test_output_call_errors(A):
    B0, B1 = ns.compute((4, 5), lambda i, j: (A[i, j] + 1, A[i, j] * 2), name="B")
    with pytest.raises(DefinitionError, match=_pattern(
            "B.output(2): B has 2 output(s), numbered 0..1; pick one of those")):
        B0.op.output(2)
    with pytest.raises(DefinitionError, match=_pattern(
            "B.v1(1): outside a compute definition a call picks an output, as TVM's op.output(1); call it on "
            "the operation: B.op.output(1), or index the tensor with B.v1[...] inside a compute")):
        B1(1)
    with pytest.raises(DefinitionError, match=_pattern("A.output(1): A has 1 output(s), numbered 0..0")):
        A.op.output(1)
