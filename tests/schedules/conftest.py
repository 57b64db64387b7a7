"""Fixtures of the schedule tests."""

from __future__ import annotations

import pytest

import nestor as ns


@pytest.fixture
def chain():
    """``B = A + 1``, ``C = 2 * B`` and a row sum ``R`` of C, with its schedule."""
    A = ns.placeholder((8, 6), name="A")
    B = ns.compute((8, 6), lambda i, j: A[i, j] + 1.0, name="B")
    C = ns.compute((8, 6), lambda i, j: B[i, j] * 2.0, name="C")
    k = ns.reduce_axis(6, "k")
    R = ns.compute((8,), lambda i: ns.sum(C[i, k], axis=k), name="R")
    return A, B, C, R, ns.create_schedule(R)
