"""The bounds check of compute definitions: every access is proved in bounds with isl, under
the affine conditions of the if_then_else branches around it."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nestor as ns
from nestor import DefinitionError
from tensorir.expr import Var
from tensorir.isl_bridge import IndexSpace, check_access_bounds, is_quasi_affine


def _pattern(*parts: str) -> str:
    return ".*".join(re.escape(p) for p in parts)


def _padded_conv_tensors():
    X = ns.placeholder((1, 3, 6, 5), name="X")
    W = ns.placeholder((4, 3, 3, 3), name="W")
    c, ry, rx = ns.reduce_axis(3, "c"), ns.reduce_axis(3, "ry"), ns.reduce_axis(3, "rx")
    return X, W, c, ry, rx


def test_unguarded_padded_conv_is_refused():
    X, W, c, ry, rx = _padded_conv_tensors()
    with pytest.raises(DefinitionError) as info:
        ns.compute((1, 4, 6, 5), lambda n, k, y, x: ns.sum(
            X[n, c, y + ry - 1, x + rx - 1] * W[k, c, ry, rx], axis=[c, ry, rx]), name="Y")
    assert re.match(_pattern(
        "compute Y: the access X[n, c, y + ry - 1, x + rx - 1] may go out of bounds",
        "its index 2, y + ry - 1, is -1 at y=0, ry=0",
        "dimension 2 of X (shape [1, 3, 6, 5]) has the range 0..6",
        "guard it with if_then_else(...) or shrink the ranges"), str(info.value))


def test_guarded_padded_conv_is_accepted_and_computes_the_padded_convolution(rng):
    X, W, c, ry, rx = _padded_conv_tensors()

    def body(n, k, y, x):
        inside = (y + ry >= 1) & (y + ry < 7) & (x + rx >= 1) & (x + rx < 6)
        return ns.sum(ns.if_then_else(inside, X[n, c, y + ry - 1, x + rx - 1], 0.0)
                      * W[k, c, ry, rx], axis=[c, ry, rx])

    Y = ns.compute((1, 4, 6, 5), body, name="Y")
    x = rng.uniform(-1, 1, size=(1, 3, 6, 5)).astype("float32")
    w = rng.uniform(-1, 1, size=(4, 3, 3, 3)).astype("float32")
    got = np.zeros((1, 4, 6, 5), dtype="float32")
    ns.build(ns.create_schedule(Y), [X, W, Y], target="interp")(x, w, got)
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = sum(np.einsum("nchw,kc->nkhw", padded[:, :, dr:dr + 6, ds:ds + 5], w[:, :, dr, ds])
               for dr in range(3) for ds in range(3))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_guarded_padded_conv_in_the_string_form():
    X, W, *_ = _padded_conv_tensors()
    text = ("Y[n, k, y, x] = sum(if_then_else(y + ry >= 1 & y + ry < height + 1 & x + rx >= 1 & "
            "x + rx < width + 1, X[n, c, y + ry - 1, x + rx - 1], 0) * W[k, c, ry, rx])")
    sizes = {"height": 6, "width": 5, "ranges": {"n": 1, "y": 6, "x": 5}}
    Y = ns.compute(text, X=X, W=W, **sizes)
    assert Y.shape == (1, 4, 6, 5)
    half_guarded = text.replace(" & x + rx < width + 1", "")
    with pytest.raises(DefinitionError, match=_pattern("index 3, x + rx - 1, is 5 at x=4, rx=2")):
        ns.compute(half_guarded, X=X, W=W, **sizes)


def test_false_branch_knows_the_condition_fails():
    A = ns.placeholder((4,), name="A")
    ns.compute((8,), lambda i: ns.if_then_else(i >= 4, 0.0, A[i]), name="ok")
    ns.compute((8,), lambda i: ns.if_then_else(~(i < 4), 0.0, A[i]), name="negated")
    with pytest.raises(DefinitionError, match=_pattern("compute bad: the access A[i]", "is 4 at i=4")):
        ns.compute((8,), lambda i: ns.if_then_else(i < 4, 0.0, A[i]), name="bad")


def test_false_branch_of_a_conjunction_knows_one_part_fails():
    A = ns.placeholder((8,), name="A")
    ns.compute((8,), lambda i: ns.if_then_else((i >= 0) & (i < 2), 0.0, A[i - 2]), name="ok")
    with pytest.raises(DefinitionError, match=_pattern("the access A[i - 2]", "is -2 at i=0")):
        ns.compute((8,), lambda i: ns.if_then_else((i >= 1) & (i < 2), 0.0, A[i - 2]), name="bad")
    ns.compute((8,), lambda i: ns.if_then_else((i < 2) | (i > 20), 0.0, A[i - 2]), name="either")


def test_nested_guards_accumulate():
    A = ns.placeholder((4,), name="A")
    ns.compute((10,), lambda i: ns.if_then_else(
        i >= 3, ns.if_then_else(i < 7, A[i - 3], 1.0), 2.0), name="nested")


def test_non_affine_condition_is_treated_as_may_be_either():
    A, B = ns.placeholder((8,), name="A"), ns.placeholder((8,), name="B")
    with pytest.raises(DefinitionError, match="A\\[i \\+ 1\\]"):
        ns.compute((8,), lambda i: ns.if_then_else(B[i] > 0, A[i + 1], 0.0), name="bad")
    # the affine part of a conjunction still counts on the true branch
    ns.compute((8,), lambda i: ns.if_then_else((i < 7) & (B[i] > 0), A[i + 1], 0.0), name="ok")
    # but the false branch of a non-affine conjunction knows nothing
    with pytest.raises(DefinitionError):
        ns.compute((8,), lambda i: ns.if_then_else((i >= 7) & (B[i] > 0), 0.0, A[i + 1]), name="no")


def test_non_affine_subscripts_are_skipped():
    A = ns.placeholder((16,), name="A")
    index = ns.placeholder((4,), "int32", name="index")
    ns.compute((4, 4), lambda i, j: A[i * j + 10], name="product")
    ns.compute((4,), lambda i: A[index[i] + 100], name="gather")
    with pytest.raises(DefinitionError, match=_pattern("the access index[i + 1]")):
        ns.compute((4,), lambda i: A[index[i + 1]], name="inner")


def test_floor_division_and_modulo_subscripts():
    X = ns.placeholder((5, 7), name="X")
    ns.compute((35,), lambda f: X[f // 7, f % 7], name="flat")
    expected = _pattern("X[f // 7, f % 7]", "its index 0, f // 7, is 5 at f=35")
    with pytest.raises(DefinitionError, match=expected):
        ns.compute((36,), lambda f: X[f // 7, f % 7], name="flat")


def test_reduce_axis_with_a_lower_bound():
    A = ns.placeholder((4,), name="A")
    k = ns.reduce_axis((1, 4), "k")
    ns.compute((1,), lambda i: ns.sum(A[k], axis=k), name="ok")
    B = ns.placeholder((3,), name="B")
    with pytest.raises(DefinitionError, match=_pattern("B[k]", "is 3 at k=3")):
        ns.compute((1,), lambda i: ns.sum(B[k], axis=k), name="bad")


def test_string_form_reports_the_bare_index_beside_a_shifted_access():
    A, B = ns.placeholder((5,), name="A"), ns.placeholder((5,), name="B")
    with pytest.raises(DefinitionError, match=_pattern("compute C: the access B[i + 1]", "is 5 at i=4",
                                                       "shrink the ranges")):
        ns.compute("C[i] = A[i] + B[i + 1]", A=A, B=B)
    assert ns.compute("C[i] = A[i] + B[i + 1]", A=A, B=B, ranges={"i": 4}).shape == (4,)


def test_check_access_bounds_of_a_built_op():
    A = ns.placeholder((6, 6), name="A")
    k = ns.reduce_axis(3, "k")
    C = ns.compute((4, 6), lambda i, j: ns.sum(A[i + k, j], axis=k), name="C")
    assert check_access_bounds(C.op) is None


def test_affine_forms():
    i, j = Var("i"), Var("j")
    space = IndexSpace({i: (0, 4), j: (0, 5)})
    assert str(space.aff(2 * i + j - 3)) == "{ [v0, v1] -> [(-3 + 2v0 + v1)] }"
    assert space.aff(i * j) is None
    assert space.aff(i // 0 + 1) is None
    assert space.aff((i + 0.5).astype("int32")) is None
    assert is_quasi_affine((i * 3 + j) % 4 - i // 2)
    assert not is_quasi_affine(i * j)
    assert space.condition(i < j) is not None and space.condition(i.astype("float32") < 1.0) is None


# checked by enumeration ------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(a=st.integers(-3, 3), b=st.integers(-3, 3), c=st.integers(-4, 8), size=st.integers(1, 12),
       extent_i=st.integers(1, 6), extent_r=st.integers(1, 4), guard=st.integers(-2, 12),
       guarded=st.booleans())
def test_bounds_check_agrees_with_enumeration(a, b, c, size, extent_i, extent_r, guard, guarded):
    A = ns.placeholder((size,), name="A")
    r = ns.reduce_axis(extent_r, "r")

    def body(i):
        load = A[a * i + b * r + c]
        if guarded:
            load = ns.if_then_else(i + r < guard, load, 0.0)
        return ns.sum(load, axis=r)

    i_values, r_values = np.meshgrid(np.arange(extent_i), np.arange(extent_r), indexing="ij")
    index = a * i_values + b * r_values + c
    evaluated = (i_values + r_values < guard) if guarded else np.ones_like(index, dtype=bool)
    out_of_bounds = bool(np.any(evaluated & ((index < 0) | (index >= size))))
    if out_of_bounds:
        with pytest.raises(DefinitionError, match="may go out of bounds"):
            ns.compute((extent_i,), body, name="B")
    else:
        ns.compute((extent_i,), body, name="B")
