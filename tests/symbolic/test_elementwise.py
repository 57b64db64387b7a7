"""Symbolic extents end to end: one kernel of shape (n,) run on arrays of several sizes."""

import numpy as np
import pytest

import nestor as ns

TARGETS = ["interp", "llvm"]


def _scale():
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] * 2, name="B")
    return n, A, B


def test_printed_loop_nest():
    _, A, B = _scale()
    s = ns.create_schedule(B)
    assert str(ns.lower(s, [A, B])) == (
        "func main(A: float32[n], B: float32[n]) {\n"
        "  for i in 0..n:\n"
        "    B[i] = A[i] * 2.0\n"
        "}")


@pytest.mark.parametrize("target", TARGETS)
def test_one_kernel_every_size(target):
    _, A, B = _scale()
    f = ns.build(ns.create_schedule(B), [A, B], target=target)
    for size in (1, 7, 100):
        a = np.random.default_rng(size).standard_normal(size).astype(np.float32)
        b = np.zeros(size, np.float32)
        f(a, b)
        np.testing.assert_allclose(b, a * 2, rtol=1e-6)


@pytest.mark.parametrize("target", TARGETS)
def test_variable_in_the_body(target):
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] * n + i, name="B")
    f = ns.build(ns.create_schedule(B), [A, B], target=target)
    a = np.arange(5, dtype=np.float32)
    b = np.zeros(5, np.float32)
    f(a, b)
    np.testing.assert_allclose(b, a * 5 + np.arange(5))


@pytest.mark.parametrize("target", TARGETS)
def test_disagreeing_shapes(target):
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    B = ns.placeholder((n,), name="B")
    C = ns.compute((n,), lambda i: A[i] + B[i], name="C")
    f = ns.build(ns.create_schedule(C), [A, B, C], target=target)
    with pytest.raises(ns.ArgumentError, match=r"main: the size variable n is 10 from A \(dimension 0\) "
                       r"but 12 from B \(dimension 0\); pass arrays whose shapes agree on n"):
        f(np.zeros(10, np.float32), np.zeros(12, np.float32), np.zeros(10, np.float32))
