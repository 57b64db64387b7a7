"""The interpreter refuses to read or write outside a buffer's shape."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from backends.interp import build
from backends.interp.runtime import OutOfBounds
from tensorir.buffer import Buffer
from tensorir.dtypes import DType
from tensorir.expr import BufferLoad, Var, const
from tensorir.stmt import For, ForKind, PrimFunc, Store


def test_an_index_past_one_dimension_is_caught_not_wrapped():
    a = Buffer("A", (4, 5), DType.FLOAT32)
    b = Buffer("B", (4, 5), DType.FLOAT32)
    i, j = Var("i"), Var("j")
    # B[i, j] = A[i, j + 1]: j + 1 reaches 5, which a flat offset would silently map to A[i + 1, 0]
    body = For(i, const(0), const(4), ForKind.SERIAL, For(j, const(0), const(5), ForKind.SERIAL, Store(
        b, (i, j), BufferLoad(a, (i, j + 1), DType.FLOAT32))))
    module = build(PrimFunc("shift", (a, b), body))
    with pytest.raises(OutOfBounds, match=r"interp: A is indexed with 5 in dimension 1, outside 0..4"):
        module(np.zeros((4, 5), np.float32), np.zeros((4, 5), np.float32))


def test_provably_inbound_accesses_are_not_checked():
    A = ns.placeholder((8, 8), name="A")
    B = ns.compute((8, 8), lambda i, j: A[i, j] * 2.0, name="B")
    module = ns.build(ns.create_schedule(B), [A, B], target="interp")
    assert "_ck(" not in module.python
