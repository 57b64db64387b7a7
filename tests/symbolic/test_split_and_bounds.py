"""Symbolic loops under split (guarded tails, removed by divisors and assumptions), reductions
over symbolic axes, and bounds proofs with size variables."""

import numpy as np
import pytest

import nestor as ns

TARGETS = ["interp", "llvm"]


def _plus_one(n):
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] + 1, name="B")
    return A, B


def _split_text(n, factor):
    A, B = _plus_one(n)
    s = ns.create_schedule(B)
    s[B].split(B.op.axis[0], factor=factor)
    return str(ns.lower(s, [A, B]))


def test_split_of_a_symbolic_loop_has_a_guarded_tail():
    # the full tiles run without the guard (partition_tails), the last partial one with it;
    # n >= 1 (it is a dimension), so the split point n // 8 needs no clamping
    assert _split_text(ns.var("n"), 8) == (
        "func main(A: float32[n], B: float32[n]) {\n"
        "  for i.outer in 0..n // 8:\n"
        "    for i.inner in 0..8:\n"
        "      B[i.outer * 8 + i.inner] = A[i.outer * 8 + i.inner] + 1.0\n"
        "  for i.outer in n // 8..(n - 1) // 8 + 1:\n"
        "    for i.inner in 0..8:\n"
        "      if i.outer * 8 + i.inner < n:\n"
        "        B[i.outer * 8 + i.inner] = A[i.outer * 8 + i.inner] + 1.0\n"
        "}")


@pytest.mark.parametrize("target", TARGETS)
def test_split_of_a_loop_over_any_int(target):
    # c may be negative or zero: the split point is clamped, so no iteration runs then
    c = ns.var("c")
    A = ns.placeholder((3,), name="A")
    k = ns.reduce_axis((0, c), name="k")
    B = ns.compute((3,), lambda i: ns.sum(A[i] + k, axis=k), name="B")
    s = ns.create_schedule(B)
    s[B].split(k, factor=4)
    assert "max(" in str(ns.lower(s, [A, B, c]))
    f = ns.build(s, [A, B, c], target=target)
    a = np.array([1, 2, 3], np.float32)
    for count in (-3, 0, 1, 4, 9):
        b = np.full(3, 99, np.float32)
        f(a, b, count)
        steps = max(count, 0)
        np.testing.assert_allclose(b, a * steps + steps * (steps - 1) / 2)


def test_a_declared_divisor_removes_the_guard():
    assert "if " not in _split_text(ns.size_var("n", divisor=16), 8)
    assert "if " in _split_text(ns.size_var("n", divisor=4), 8)


def test_an_assumption_removes_the_guard():
    n = ns.var("n")
    ns.assume(n % 16 == 0)
    assert "if " not in _split_text(n, 16)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("size", [1, 5, 16, 21])
def test_split_values(target, size):
    n = ns.var("n")
    A, B = _plus_one(n)
    s = ns.create_schedule(B)
    s[B].split(B.op.axis[0], factor=8)
    f = ns.build(s, [A, B], target=target)
    a = np.random.default_rng(size).standard_normal(size).astype(np.float32)
    b = np.zeros(size, np.float32)
    f(a, b)
    np.testing.assert_allclose(b, a + 1)


@pytest.mark.parametrize("target", TARGETS)
def test_two_dimensional_shapes_and_a_symbolic_reduction(target):
    n, m = ns.var("n"), ns.size_var("m")
    A = ns.placeholder((n, 8 * m), name="A")
    k = ns.reduce_axis((0, 8 * m), name="k")
    B = ns.compute((n,), lambda i: ns.sum(A[i, k], axis=k), name="B")
    s = ns.create_schedule(B)
    s[B].split(k, factor=4)
    f = ns.build(s, [A, B], target=target)
    a = np.random.default_rng(0).standard_normal((3, 24)).astype(np.float32)
    b = np.zeros(3, np.float32)
    f(a, b)
    np.testing.assert_allclose(b, a.sum(1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("target", TARGETS)
def test_shifted_window(target):
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n - 2,), lambda i: A[i] + A[i + 1] + A[i + 2], name="B")
    f = ns.build(ns.create_schedule(B), [A, B], target=target)
    a = np.arange(6, dtype=np.float32)
    b = np.zeros(4, np.float32)
    f(a, b)
    np.testing.assert_allclose(b, a[:-2] + a[1:-1] + a[2:])


def test_halved_shape_proved_in_bounds():
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    ns.compute((n // 2,), lambda i: A[2 * i + 1], name="B")  # no error: in bounds for every n


def test_out_of_bounds_names_the_size():
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    with pytest.raises(ns.DefinitionError, match=(
            r"compute B: the access A\[i \+ 1\] may go out of bounds: its index 0, i \+ 1, is 1 at "
            r"i=0 when n=1, but dimension 0 of A \(shape \[n\]\) has the range 0..n; guard it")):
        ns.compute((n,), lambda i: A[i + 1], name="B")


def test_out_of_bounds_of_a_halved_shape():
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    with pytest.raises(ns.DefinitionError, match=r"is 2 at i=0 when n=2"):
        ns.compute((n // 2,), lambda i: A[2 * i + 2], name="B")


def test_an_assumption_is_used_by_the_proof():
    n = ns.var("n")
    ns.assume(n >= 4)
    A = ns.placeholder((n,), name="A")
    ns.compute((n - 3,), lambda i: A[i + 3], name="B")
    with pytest.raises(ns.DefinitionError, match=r"is 4 at i=0 when n=4"):
        ns.compute((1,), lambda i: A[i + 4], name="C")
