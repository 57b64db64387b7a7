"""Generic CPU schedules over symbolic extents: choices made with size hints, values right for
every size (a vector split of a symbolic loop gets a guarded tail)."""

import numpy as np
import pytest

import nestor as ns
from schedules.templates.generic_cpu import generic
from schedules.templates.size_hints import DEFAULT_HINT, hint, size_hints


def test_hints_evaluate_symbolic_extents():
    n, m = ns.size_var("n"), ns.size_var("m")
    assert hint(12) == 12
    assert hint(n * 4) == 4 * DEFAULT_HINT
    with size_hints({n: 3}):
        assert hint(n * 4 + m) == 12 + DEFAULT_HINT
        with size_hints({m: 5}):
            assert hint(n * m) == 15
        assert hint(m) == DEFAULT_HINT
    assert hint(n) == DEFAULT_HINT


@pytest.mark.parametrize("rows_hint", [2, 100])
def test_generic_schedule_of_a_symbolic_map_is_right_for_every_size(rows_hint):
    n = ns.size_var("n")
    A = ns.placeholder((n, 3), name="A")
    B = ns.compute((n, 3), lambda i, j: A[i, j] * 2 + 1, name="B")
    flat = ns.compute((n,), lambda i: A[i, 0] - 1, name="C")
    s = ns.create_schedule([B, flat])
    with size_hints({n: rows_hint}):
        generic(s, B, {})
        generic(s, flat, {})
    f = ns.build(s, [A, B, flat], target="llvm")
    for size in (1, 15, 16, 37):
        a = np.random.default_rng(size).standard_normal((size, 3)).astype(np.float32)
        b, c = np.zeros((size, 3), np.float32), np.zeros(size, np.float32)
        f(a, b, c)
        np.testing.assert_allclose(b, a * 2 + 1, rtol=1e-6)
        np.testing.assert_allclose(c, a[:, 0] - 1, rtol=1e-6)
