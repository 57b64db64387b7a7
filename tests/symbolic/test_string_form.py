"""The string form with symbolic shapes: ranges inferred as expressions of the size variables,
pinned symbolic ranges, and size variables as operands."""

import numpy as np
import pytest

import nestor as ns


def _operands():
    n, m = ns.var("n"), ns.var("m")
    return n, m, ns.placeholder((n, m), name="A"), ns.placeholder((m,), name="B")


@pytest.mark.parametrize("text, shape", [
    ("C[i,j] = A[i,j] * B[j]", "(n, m)"),
    ("C[i] = sum(A[i,k] * B[k])", "(n,)"),
    ("C[i] = B[i+1]", "(m - 1,)"),
    ("C[i] = B[2*i]", "(m - m // 2,)"),
])
def test_inferred_ranges(text, shape):
    _, _, A, B = _operands()
    assert str(ns.compute(text, A=A, B=B).shape) == shape


def test_pinned_symbolic_range():
    n, _, A, B = _operands()
    C = ns.compute("C[i] = A[i, 0] + A[i+1, 0]", A=A, ranges={"i": n - 1})
    assert str(C.shape) == "(n - 1,)"


def test_pinned_range_out_of_bounds():
    n, _, A, B = _operands()
    with pytest.raises(ns.DefinitionError, match=r"with the pinned ranges ranges=\{\"i\": n\}.*is 1 at i=0 when n=1"):
        ns.compute("C[i] = A[i+1, 0]", A=A, ranges={"i": n})


def test_bad_symbolic_range():
    _, _, A, _ = _operands()
    with pytest.raises(ns.DefinitionError, match=r"ranges=\{'i': .*\}: the extent .* must be an int or an integer "
                       r"expression of size variables"):
        ns.compute("C[i] = A[i, 0]", A=A, ranges={"i": ns.var("n") * 0.5})


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_size_variable_operand(target):
    _, m, _, B = _operands()
    C = ns.compute("C[i] = B[2*i+1] * n", B=B, n=m)
    f = ns.build(ns.create_schedule(C), [B, C], target=target)
    b = np.arange(7, dtype=np.float32)
    c = np.zeros(3, np.float32)
    f(b, c)
    np.testing.assert_allclose(c, b[1::2] * 7)
