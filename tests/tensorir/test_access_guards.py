"""Compute definitions wrap exactly the subscripts that no proof bounds in a run-time check."""

from __future__ import annotations

import nestor as ns
from tensorir.access_guards import bounds
from tensorir.expr import Var


def test_definition_marks_only_unbounded_subscripts():
    A = ns.placeholder((10, 4), name="A")
    I = ns.placeholder((6,), dtype="int32", name="I")  # noqa: E741
    C = ns.compute((6, 4), lambda i, j: A[I[i], j] + A[I[i] % 10, (j * j) % 4] + A[i + 1, j], name="C")
    assert str(C.op.body) == "A[checked(I[i], 10), j] + A[I[i] % 10, j * j % 4] + A[i + 1, j]"
    D = ns.compute((6,), lambda i: A.at(I[i], 3, mode="clip") + A[ns.assume_in_bounds(I[i] * 2), 0], name="D")
    assert str(D.op.body) == "A[max(0, min(I[i], 9)), max(0, min(3, 3))] + A[I[i] * 2, 0]"


def test_bounds_are_half_open_through_min_max_and_modulo():
    i = Var("i")
    I = ns.placeholder((6,), dtype="int32", name="I")  # noqa: E741
    load = I[i]
    ranges = {i: (0, 5)}
    assert bounds(load, ranges) == (None, None)
    assert bounds(ns.minimum(load, 9), ranges) == (None, 9)
    assert bounds(ns.maximum(0, ns.minimum(load, 9)), ranges) == (0, 9)
    assert bounds(ns.maximum(load, i), ranges) == (0, None)
    assert bounds(load % 7, ranges) == (0, 6)
    assert bounds(ns.if_then_else(load > 0, i, 3), ranges) == (0, 5)
