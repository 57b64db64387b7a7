"""A select whose condition is known while the code is written (constants and unrolled loop
variables) emits only the side it chooses, scalar and vectorized; a condition that depends on a
runtime value or on the vector lanes still selects per value."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns


def _table(unroll: bool, vectorize: bool):
    """``B[e, c] = (A[e, c] if e == 0 else 2 A[e, c] if e == 1 else -A[e, c])`` for 3 rows."""
    A = ns.placeholder((3, 16), name="A")
    B = ns.compute((3, 16), lambda e, c: ns.if_then_else(
        e == 0, A[e, c], ns.if_then_else((e == 1) | (e > 5), A[e, c] * 2.0, -A[e, c])), name="B")
    s = ns.create_schedule(B)
    e, c = B.op.axis
    if unroll:
        s[B].unroll(e)
    if vectorize:
        s[B].vectorize(c)
    return s, [A, B]


@pytest.mark.parametrize("vectorize", [False, True])
def test_unrolled_index_selects_at_compile_time(vectorize):
    s, args = _table(True, vectorize)
    module = ns.build(s, args, target="llvm")
    a = np.arange(48, dtype=np.float32).reshape(3, 16) - 20
    b = np.full((3, 16), np.nan, np.float32)
    module(a, b)
    np.testing.assert_array_equal(b, a * np.array([[1], [2], [-1]], np.float32))
    assert not re.search(r"= select|= phi\s+(<16 x )?float", module.source)  # no select, no branch join


@pytest.mark.parametrize("vectorize", [False, True])
def test_runtime_index_still_selects(vectorize):
    s, args = _table(False, vectorize)
    module = ns.build(s, args, target="llvm")
    a = np.arange(48, dtype=np.float32).reshape(3, 16) - 20
    b = np.full((3, 16), np.nan, np.float32)
    module(a, b)
    np.testing.assert_array_equal(b, a * np.array([[1], [2], [-1]], np.float32))


def test_condition_on_the_vector_lanes_is_not_taken_as_known():
    A = ns.placeholder((16,), name="A")
    B = ns.compute((16,), lambda c: ns.if_then_else(c == 0, A[c], -A[c]), name="B")
    s = ns.create_schedule(B)
    s[B].vectorize(B.op.axis[0])
    a = np.arange(16, dtype=np.float32) + 1
    b = np.full(16, np.nan, np.float32)
    ns.build(s, [A, B], target="llvm")(a, b)
    np.testing.assert_array_equal(b, np.where(np.arange(16) == 0, a, -a))
