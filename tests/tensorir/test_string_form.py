"""The string form of compute: the same definitions as the lambda form (printed nests and
numbers), range inference, and one test per error message."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nestor as ns
from nestor import DefinitionError
from tensorir.expr import IterKind


def _nest(outputs, args, name="main") -> str:
    return str(ns.lower(ns.create_schedule(outputs), args, name=name))


def _run(outputs, args, inputs):
    module = ns.build(ns.create_schedule(outputs), args, target="interp")
    results = [np.zeros(t.shape, dtype=t.dtype.numpy) for t in args[len(inputs):]]
    module(*inputs, *results)
    return results


def _pattern(*parts: str) -> str:
    """A regex matching ``parts`` in order, each taken literally."""
    return ".*".join(re.escape(p) for p in parts)


def _caret_column(message: str) -> int:
    """The column of the caret under the echoed text, relative to that text."""
    caret_line = message.splitlines()[-1]
    assert caret_line.strip() == "^"
    return caret_line.index("^") - 4  # the echoed text is indented by four spaces


def _error(text: str, **kwargs) -> str:
    with pytest.raises(DefinitionError) as info:
        ns.compute(text, **kwargs)
    return str(info.value)


# string form == lambda form ------------------------------------------------------------------
def _uniform(rng, *shapes):
    return [rng.uniform(-1, 1, size=s).astype("float32") for s in shapes]


def _conv_reference(x, w, stride=1):
    n, _, h, wd = x.shape
    f, _, r, s = w.shape
    oh, ow = (h - r) // stride + 1, (wd - s) // stride + 1
    out = np.zeros((n, f, oh, ow))
    for dr in range(r):
        for ds in range(s):
            patch = x[:, :, dr:dr + stride * oh:stride, ds:ds + stride * ow:stride]
            out += np.einsum("nchw,fc->nfhw", patch, w[:, :, dr, ds])
    return out


def case_matmul():
    A, B = ns.placeholder((64, 32), name="A"), ns.placeholder((48, 32), name="B")
    C = ns.compute("C[i,j] = sum(A[i,k] * B[j,k])", A=A, B=B)
    k = ns.reduce_axis(32, "k")
    L = ns.compute((64, 48), lambda i, j: ns.sum(A[i, k] * B[j, k], axis=k), name="C")
    return [A, B], C, L, lambda a, b: a @ b.T


def case_batch_matmul():
    A, B = ns.placeholder((3, 5, 7), name="A"), ns.placeholder((3, 7, 6), name="B")
    C = ns.compute("C[b, i, j] = sum(A[b, i, k] * B[b, k, j])", A=A, B=B)
    k = ns.reduce_axis(7, "k")
    L = ns.compute((3, 5, 6), lambda b, i, j: ns.sum(A[b, i, k] * B[b, k, j], axis=k), name="C")
    return [A, B], C, L, np.matmul


def case_conv2d():
    X, W = ns.placeholder((2, 3, 7, 8), name="X"), ns.placeholder((4, 3, 3, 2), name="W")
    Y = ns.compute("Y[n, k, y, x] = sum(X[n, c, y + ry, x + rx] * W[k, c, ry, rx])", X=X, W=W)
    c, ry, rx = ns.reduce_axis(3, "c"), ns.reduce_axis(3, "ry"), ns.reduce_axis(2, "rx")
    L = ns.compute((2, 4, 5, 7), lambda n, k, y, x: ns.sum(
        X[n, c, y + ry, x + rx] * W[k, c, ry, rx], axis=[c, ry, rx]), name="Y")
    return [X, W], Y, L, _conv_reference


def case_conv2d_stride2():
    X, W = ns.placeholder((1, 2, 9, 10), name="X"), ns.placeholder((3, 2, 3, 3), name="W")
    Y = ns.compute("Y[n, k, y, x] = sum(X[n, c, 2*y + ry, 2*x + rx] * W[k, c, ry, rx])", X=X, W=W)
    c, ry, rx = ns.reduce_axis(2, "c"), ns.reduce_axis(3, "ry"), ns.reduce_axis(3, "rx")
    L = ns.compute((1, 3, 4, 4), lambda n, k, y, x: ns.sum(
        X[n, c, 2 * y + ry, 2 * x + rx] * W[k, c, ry, rx], axis=[c, ry, rx]), name="Y")
    return [X, W], Y, L, lambda x, w: _conv_reference(x, w, stride=2)


def case_depthwise_conv2d():
    X, W = ns.placeholder((1, 4, 7, 6), name="X"), ns.placeholder((4, 3, 3), name="W")
    Y = ns.compute("Y[n, c, y, x] = sum(X[n, c, y + ry, x + rx] * W[c, ry, rx])", X=X, W=W)
    ry, rx = ns.reduce_axis(3, "ry"), ns.reduce_axis(3, "rx")
    L = ns.compute((1, 4, 5, 4), lambda n, c, y, x: ns.sum(
        X[n, c, y + ry, x + rx] * W[c, ry, rx], axis=[ry, rx]), name="Y")

    def reference(x, w):
        return sum(x[:, :, dr:dr + 5, ds:ds + 4] * w[None, :, dr, ds, None, None]
                   for dr in range(3) for ds in range(3))

    return [X, W], Y, L, reference


def case_max_pool2d():
    X = ns.placeholder((2, 3, 9, 8), name="X")
    Y = ns.compute("Y[n, c, y, x] = max(X[n, c, 2*y + ry, 2*x + rx])", X=X,
                   ranges={"ry": 2, "rx": 2})
    ry, rx = ns.reduce_axis(2, "ry"), ns.reduce_axis(2, "rx")
    L = ns.compute((2, 3, 4, 4), lambda n, c, y, x: ns.max(
        X[n, c, 2 * y + ry, 2 * x + rx], axis=[ry, rx]), name="Y")
    return [X], Y, L, lambda x: x[:, :, :8, :8].reshape(2, 3, 4, 2, 4, 2).max(axis=(3, 5))


def case_softmax():
    X = ns.placeholder((5, 13), name="X")
    M = ns.compute("rowmax[i] = max(X[i, k])", X=X)
    S = ns.compute("expsum[i] = sum(exp(X[i, k] - M[i]))", X=X, M=M)
    Y = ns.compute("Y[i, j] = exp(X[i, j] - M[i]) / S[i]", X=X, M=M, S=S)
    k1, k2 = ns.reduce_axis(13, "k"), ns.reduce_axis(13, "k")
    LM = ns.compute((5,), lambda i: ns.max(X[i, k1], axis=k1), name="rowmax")
    LS = ns.compute((5,), lambda i: ns.sum(ns.exp(X[i, k2] - LM[i]), axis=k2), name="expsum")
    L = ns.compute((5, 13), lambda i, j: ns.exp(X[i, j] - LM[i]) / LS[i], name="Y")

    def reference(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return [X], Y, L, reference


def case_window_sum():
    n = 13
    A = ns.placeholder((n + 4,), name="A")
    B = ns.compute("B[i] = sum(A[i + r])", A=A, ranges={"r": 5})
    r = ns.reduce_axis(5, "r")
    L = ns.compute((n,), lambda i: ns.sum(A[i + r], axis=r), name="B")
    return [A], B, L, lambda a: sum(a[d:d + n] for d in range(5))


def case_contraction3():
    A, B, C = (ns.placeholder(s, name=n) for s, n in (((5, 6), "A"), ((6, 7), "B"), ((7, 3), "C")))
    D = ns.compute("D[i, j] = sum(A[i, k] * B[k, l] * C[l, j])", A=A, B=B, C=C)
    k, l = ns.reduce_axis(6, "k"), ns.reduce_axis(7, "l")  # noqa: E741
    L = ns.compute((5, 3), lambda i, j: ns.sum(A[i, k] * B[k, l] * C[l, j], axis=[k, l]), name="D")
    return [A, B, C], D, L, lambda a, b, c: np.einsum("ik,kl,lj->ij", a, b, c)


def case_elementwise():
    A, B = ns.placeholder((7, 13), name="A"), ns.placeholder((7, 13), name="B")
    Y = ns.compute("Y[i, j] = exp(A[i, j]) * maximum(B[i, j], 0) - 1.5", A=A, B=B)
    L = ns.compute((7, 13), lambda i, j: ns.exp(A[i, j]) * ns.maximum(B[i, j], 0) - 1.5, name="Y")
    return [A, B], Y, L, lambda a, b: np.exp(a) * np.maximum(b, 0) - 1.5


def case_named_constant():
    X, V = ns.placeholder((4, 6), name="X"), ns.placeholder((4,), name="V")
    Y = ns.compute("Y[i, j] = -X[i, j] / sqrt(V[i] + eps) + 2 * (j % 3)", X=X, V=V, eps=1e-5)
    L = ns.compute((4, 6), lambda i, j: -X[i, j] / ns.sqrt(V[i] + 1e-5) + 2 * (j % 3), name="Y")
    return [X, V], Y, L, lambda x, v: -x / np.sqrt(v[:, None] + 1e-5) + 2 * (np.arange(6) % 3)


CASES = [case_matmul, case_batch_matmul, case_conv2d, case_conv2d_stride2, case_depthwise_conv2d,
         case_max_pool2d, case_softmax, case_window_sum, case_contraction3, case_elementwise,
         case_named_constant]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__[5:])
def test_string_and_lambda_forms_print_the_same_nest(case):
    inputs, from_string, from_lambda, _ = case()
    assert from_string.shape == from_lambda.shape
    expected = _nest(from_lambda, [*inputs, from_lambda], "op")
    assert _nest(from_string, [*inputs, from_string], "op") == expected


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__[5:])
def test_string_form_matches_numpy(case, rng):
    inputs, from_string, _, reference = case()
    if any(t.shape == (4,) for t in inputs):  # a variance must be positive under sqrt
        arrays = [rng.uniform(0.5, 1.5, size=t.shape).astype("float32") for t in inputs]
    else:
        arrays = _uniform(rng, *(t.shape for t in inputs))
    (got,) = _run(from_string, [*inputs, from_string], arrays)
    want = reference(*[a.astype(np.float64) for a in arrays])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_matmul_nest_golden_text():
    A, B = ns.placeholder((64, 32), name="A"), ns.placeholder((48, 32), name="B")
    C = ns.compute("C[i,j] = sum(A[i,k] * B[j,k])", A=A, B=B)
    assert _nest(C, [A, B, C], "matmul") == """\
func matmul(A: float32[64, 32], B: float32[48, 32], C: float32[64, 48]) {
  for i in 0..64:
    for j in 0..48:
      C[i, j] = 0.0
      for k in 0..32:
        C[i, j] = C[i, j] + A[i, k] * B[j, k]
}"""


def test_definition_objects():
    X, W = ns.placeholder((2, 3, 7, 7), name="X"), ns.placeholder((4, 3, 3, 3), name="W")
    Y = ns.compute("Y[n, k, y, x] = sum(X[n, c, y + ry, x + rx] * W[k, c, ry, rx])", X=X, W=W)
    assert Y.name == "Y" and Y.shape == (2, 4, 5, 5)
    assert [(iv.name, iv.min, iv.extent, iv.kind) for iv in Y.op.axis] == [
        (name, 0, extent, IterKind.DATA_PAR) for name, extent in zip("nkyx", (2, 4, 5, 5))]
    assert [(iv.name, iv.extent, iv.kind) for iv in Y.op.reduce_axis] == [
        ("c", 3, IterKind.REDUCE), ("ry", 3, IterKind.REDUCE), ("rx", 3, IterKind.REDUCE)]
    assert Y.op.inputs == (X, W)


def test_name_keyword_overrides_the_left_side():
    A = ns.placeholder((4, 5), name="A")
    assert ns.compute("C[i, j] = A[i, j] * 2", name="doubled", A=A).name == "doubled"


def test_affine_floor_division_and_modulo_infer_ranges():
    X = ns.placeholder((1, 8, 3, 5), name="X")
    Y = ns.compute("Y[n, c, h, w] = X[n, c*4 + h % 2 * 2 + w % 2, h // 2, w // 2]", X=X)
    assert Y.shape == (1, 2, 6, 10)


def test_pinned_range_smaller_than_inferred():
    X, W = ns.placeholder((1, 1, 56, 56), name="X"), ns.placeholder((1, 1, 3, 3), name="W")
    Y = ns.compute("Y[n, k, y, x] = sum(X[n, c, y + ry, x + rx] * W[k, c, ry, rx])", X=X, W=W,
                   ranges={"y": 50})
    assert Y.shape == (1, 1, 50, 54)


def test_comparisons_and_logic_bind_looser_than_arithmetic(rng):
    A = ns.placeholder((9,), name="A")
    Y = ns.compute("Y[i] = if_then_else(i >= 2 & i < 6 | i == 8, A[i], -A[i])", A=A,
                   ranges={"i": 9})
    a = _uniform(rng, (9,))[0]
    (got,) = _run(Y, [A, Y], [a])
    index = np.arange(9)
    np.testing.assert_allclose(got, np.where(((index >= 2) & (index < 6)) | (index == 8), a, -a))


def test_multi_line_text():
    A = ns.placeholder((4, 5), name="A")
    Y = ns.compute("""
        Y[i, j] =
            A[i, j] * 2
    """, A=A)
    assert Y.shape == (4, 5)


# errors --------------------------------------------------------------------------------------
@pytest.fixture
def A():
    return ns.placeholder((4, 5), name="A")


@pytest.fixture
def B():
    return ns.placeholder((6, 5), name="B")


def test_error_missing_closing_bracket(A, B):
    text = "C[i, j] = sum(A[i, k] * B[j, k)"
    message = _error(text, A=A, B=B)
    assert re.match(_pattern("compute: syntax error: expected `,` or `]` in the access to B, "
                             "found `)`"), message)
    assert message.splitlines()[-2].strip() == text
    assert _caret_column(message) == text.index(")")


def test_error_missing_equals(A):
    text = "C[i, j] A[i, j] + 1"
    message = _error(text, A=A)
    assert "expected `=` after the left side C[i, j], found `A`" in message
    assert _caret_column(message) == text.index("A")


def test_error_trailing_garbage(A):
    text = "C[i, j] = A[i, j] + 1 )"
    message = _error(text, A=A)
    assert "unexpected `)` after the end of the expression" in message
    assert _caret_column(message) == len(text) - 1


def test_error_unknown_character(A):
    text = "C[i, j] = A[i, j] $ 2"
    message = _error(text, A=A)
    assert "unexpected character '$'" in message
    assert _caret_column(message) == text.index("$")


def test_error_caret_on_the_offending_line_of_multi_line_text(A):
    text = "C[i, j] =\n  A[i, j] +\n  A[i, j] ]"
    message = _error(text, A=A)
    assert message.splitlines()[-2].strip() == "A[i, j] ]"
    assert _caret_column(message) == len("  A[i, j] ")


def test_error_expression_ends_too_early(A):
    message = _error("C[i, j] = A[i, j] +", A=A)
    assert "expected a number, a name or `(`, found the end of the text" in message


def test_error_left_side_index_not_a_bare_name(A):
    text = "C[i + 1, j] = A[i, j]"
    message = _error(text, A=A)
    assert "the left side indexes C with bare index names, like C[i, j]" in message
    assert _caret_column(message) == text.index("+")


def test_error_chained_comparison(A):
    message = _error("C[i, j] = if_then_else(0 < i < 3, A[i, j], 0)", A=A)
    assert "comparisons do not chain; combine them with &" in message


def test_error_unknown_tensor(A, B):
    text = "C[i, j] = sum(A[i, k] * X[j, k])"
    message = _error(text, A=A, B=B)
    assert re.match(_pattern("compute C: unknown tensor `X`", "A (tensor), B (tensor)",
                             "pass it as compute(..., X=X)"), message)
    assert _caret_column(message) == text.index("X")


def test_error_unknown_tensor_without_operands():
    message = _error("C[i] = X[i]")
    assert "unknown tensor `X`; no operands were passed; pass it as compute(..., X=X)" in message


def test_error_unknown_function(A):
    text = "C[i, j] = relu(A[i, j])"
    message = _error(text, A=A)
    assert re.match(_pattern("compute C: unknown function `relu`", "exp, log, sqrt", "maximum",
                             "if_then_else", "reducers sum, max, min"), message)
    assert _caret_column(message) == text.index("relu")


def test_error_function_arity(A):
    message = _error("C[i, j] = maximum(A[i, j])", A=A)
    assert "compute C: maximum takes 2 arguments, got 1" in message


def test_error_reducer_with_two_arguments(A):
    message = _error("C[i] = max(A[i, k], 0)", A=A)
    assert ("max takes 1 argument, got 2; for the elementwise maximum of two values use "
            "maximum(a, b)") in message


def test_error_wrong_rank_reuses_the_access_message(A):
    text = "C[i, j] = A[i, j, 0] * 2"
    message = _error(text, A=A)
    assert re.match(_pattern("compute C: access A[i, j, 0]: A has rank 2 (shape [4, 5]) but 3 "
                             "indices were given"), message)
    assert _caret_column(message) == text.index("A")


def test_error_tensor_without_indices(A):
    message = _error("C[i, j] = A * 2", A=A)
    assert "`A` is a tensor; index it, like A[...]" in message


def test_error_constant_with_indices(A):
    message = _error("C[i, j] = A[i, j] * eps[i]", A=A, eps=1e-5)
    assert "`eps` is the constant 1e-05, not a tensor; use it without indices" in message


def test_error_repeated_left_side_index(A):
    text = "C[i, i] = A[i, i]"
    message = _error(text, A=A)
    assert "compute C: the index i appears twice on the left side" in message
    assert _caret_column(message) == text.index("i]")


def test_error_left_side_index_is_also_an_operand(A):
    message = _error("C[i, j] = A[i, j]", A=A, j=3)
    assert "`j` is both an index on the left side and an operand" in message


def test_error_inconsistent_inferred_ranges():
    A, B = ns.placeholder((4, 5), name="A"), ns.placeholder((4, 6), name="B")
    text = "C[i,j] = A[i,j] + B[i,j]"
    message = _error(text, A=A, B=B)
    assert re.match(_pattern("compute C: inconsistent ranges for index `j`",
                             "dimension 1 of A (extent 5)", "dimension 1 of B (extent 6)"), message)
    assert _caret_column(message) == text.rindex("j")


def test_error_index_neither_on_the_left_nor_reduced(A):
    text = "C[i] = A[i, k]"
    message = _error(text, A=A)
    assert re.match(_pattern("compute C: index `k` is neither on the left side nor inside a reducer",
                             "wrap its use in sum(...)", "compute(..., k=...)"), message)
    assert _caret_column(message) == text.index("k")


def test_error_reduction_index_outside_its_reducer(A):
    B = ns.placeholder((5,), name="B")
    message = _error("C[i] = sum(A[i, k]) + B[k]", A=A, B=B)
    assert re.match(_pattern("compute C: a reducer (sum) must be the whole body"), message)


def test_error_reducer_with_nothing_to_reduce(A):
    message = _error("C[i, j] = sum(A[i, j])", A=A)
    assert "sum(...) has no index to reduce over" in message


def test_error_range_cannot_be_inferred():
    A = ns.placeholder((17,), name="A")
    message = _error("B[i] = sum(A[i + r])", A=A)
    assert re.match(_pattern("compute B: cannot infer the range of index i", "A[i + r]",
                             'pin it with ranges={"i": N}'), message)


def test_error_range_of_an_unused_index():
    A = ns.placeholder((4,), name="A")
    message = _error("B[i, j] = A[i]", A=A)
    assert 'cannot infer the range of index j: it is in no affine subscript' in message
    assert 'ranges={"j": N}' in message


def test_error_range_only_in_a_branch():
    A = ns.placeholder((4,), name="A")
    message = _error("B[i] = if_then_else(i < 4, A[i], 0)", A=A)
    assert 'cannot infer the range of index i' in message


def test_error_no_subscript_bounds_the_index():
    A = ns.placeholder((4,), name="A")
    message = _error("B[i] = A[i % 4]", A=A)
    assert 'cannot infer the range of index i: no subscript bounds it; pin it with ranges={"i": N}' in message


def test_error_no_safe_range():
    A = ns.placeholder((4,), name="A")
    message = _error("B[i] = A[i - 1]", A=A)
    assert re.match(_pattern("compute B: no range of index i is safe", "A[i - 1]", "is -1 at i=0"),
                    message)


def test_error_pinned_range_out_of_bounds():
    X, W = ns.placeholder((1, 1, 56, 56), name="X"), ns.placeholder((1, 1, 3, 3), name="W")
    message = _error("Y[n, k, y, x] = sum(X[n, c, y + ry, x + rx] * W[k, c, ry, rx])", X=X, W=W,
                     ranges={"y": 55})
    assert re.match(_pattern('compute Y: with the pinned ranges ranges={"y": 55}',
                             "X[n, c, y + ry, x + rx]", "index 2, y + ry, is 56 at y=54, ry=2",
                             "dimension 2 of X (shape [1, 1, 56, 56])", "pin a smaller range"),
                    message)


def test_error_pinned_range_of_an_unknown_index(A):
    message = _error("C[i, j] = A[i, j]", A=A, ranges={"z": 3})
    assert "ranges names 'z', which is not an index of the definition (its indices are i, j)" in message


def test_error_pinned_range_not_positive(A):
    message = _error("C[i, j] = A[i, j]", A=A, ranges={"i": 0})
    assert "ranges={'i': 0}: a range is a positive int extent" in message


def test_error_bad_operand(A):
    message = _error("C[i, j] = A[i, j]", A=A, w="x")
    assert "operand w='x' must be a tensor or a Python number" in message


def test_error_expression_error_is_located(A):
    text = "C[i, j] = A[i, j] & 1.5"
    message = _error(text, A=A)
    assert "logical `and` needs bool operands" in message
    assert _caret_column(message) == text.index("&")


# range inference, checked by enumeration ------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(a=st.integers(-3, 3), b=st.integers(-3, 3), c=st.integers(-6, 6),
       size=st.integers(1, 24), window=st.integers(1, 5))
def test_inferred_ranges_are_the_largest_in_bounds(a, b, c, size, window):
    A, W = ns.placeholder((size,), name="A"), ns.placeholder((window,), name="W")
    text = f"B[i] = sum(A[{a}*i + {b}*r + {c}] * W[r])"
    r = np.arange(window)

    def in_bounds(i):
        index = a * i + b * r + c
        return bool(np.all((index >= 0) & (index < size)))

    try:
        B = ns.compute(text, A=A, W=W)
    except DefinitionError:
        assert a == 0 or not in_bounds(0)
        return
    (extent,) = B.shape
    assert all(in_bounds(i) for i in range(extent))
    assert not in_bounds(extent)
