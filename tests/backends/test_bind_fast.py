"""The fast binding of a symbolic function's sizes: the same arrays and values as the general
binding where it accepts a call, and the general binding's own error wherever it does not."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from backends.bind import Binder
from backends.bind_fast import FastBinding
from tensorir.errors import ArgumentError
from tensorir.stmt import Store
from tensorir.visitor import walk


def _binder(build):
    """The Binder of the lowered function ``build()`` returns ``(outputs, args)`` for."""
    out, args = build()
    func = ns.lower(ns.create_schedule(out.op), args)
    return Binder(func, {n.buffer for n in walk(func.body) if isinstance(n, Store)})


def _product(divisor: int = 1):
    def build():
        m, n = ns.size_var("m", divisor=divisor), ns.size_var("n")
        A = ns.placeholder((m, 4), name="A")
        B = ns.placeholder((4, n), name="B")
        k = ns.reduce_axis((0, 4), "k")
        C = ns.compute((m, n), lambda i, j: ns.sum(A[i, k] * B[k, j], axis=k), name="C")
        return C, [A, B, C]
    return build


def _general(binder, args):
    """The general binding's answer: ``(arrays, values)`` or the message of its error."""
    fast, binder._fast = binder._fast, None
    try:
        return binder.bind(args)
    except ArgumentError as error:
        return str(error)
    finally:
        binder._fast = fast


def test_fast_binding_agrees_with_the_general_one():
    binder = _binder(_product())
    assert binder._fast is not None
    args = [np.ones((5, 4), np.float32), np.ones((4, 3), np.float32), np.empty((5, 3), np.float32)]
    arrays, values = binder._fast.bind(args)
    general_arrays, general_values = _general(binder, args)
    assert values == general_values == [5, 3]
    assert all(a is b for a, b in zip(arrays, general_arrays))


BAD = {
    "dtype": [np.ones((5, 4), np.float64), np.ones((4, 3), np.float32), np.empty((5, 3), np.float32)],
    "disagreeing m": [np.ones((5, 4), np.float32), np.ones((4, 3), np.float32), np.empty((6, 3), np.float32)],
    "static dimension": [np.ones((5, 3), np.float32), np.ones((4, 3), np.float32), np.empty((5, 3), np.float32)],
    "zero size": [np.ones((0, 4), np.float32), np.ones((4, 3), np.float32), np.empty((0, 3), np.float32)],
    "rank": [np.ones((5, 4, 1), np.float32), np.ones((4, 3), np.float32), np.empty((5, 3), np.float32)],
    "not contiguous": [np.ones((4, 5), np.float32).T, np.ones((4, 3), np.float32), np.empty((5, 3), np.float32)],
    "read-only output": [np.ones((5, 4), np.float32), np.ones((4, 3), np.float32),
                         np.broadcast_to(np.float32(0), (5, 3))],
    "a list": [[[1.0] * 4] * 5, np.ones((4, 3), np.float32), np.empty((5, 3), np.float32)],
    "too few": [np.ones((5, 4), np.float32), np.ones((4, 3), np.float32)],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_fast_binding_leaves_every_bad_call_to_the_general_error(case):
    binder = _binder(_product())
    args = BAD[case]
    assert binder._fast.bind(args) is None
    message = _general(binder, args)
    assert isinstance(message, str)
    with pytest.raises(ArgumentError) as raised:
        binder.bind(args)
    assert str(raised.value) == message


def test_a_divisor_the_size_breaks_is_the_general_error():
    binder = _binder(_product(divisor=4))
    args = [np.ones((6, 4), np.float32), np.ones((4, 3), np.float32), np.empty((6, 3), np.float32)]
    assert binder._fast.bind(args) is None
    with pytest.raises(ArgumentError, match="the size_var m is 6, not a multiple of its declared divisor 4"):
        binder.bind(args)
    assert binder._fast.bind([np.ones((8, 4), np.float32), *args[1:2], np.empty((8, 3), np.float32)])[1] == [8, 3]


def test_functions_that_need_the_general_binding_have_no_fast_one():
    def shifted():
        n = ns.size_var("n")
        A = ns.placeholder((n,), name="A")
        B = ns.compute((n - 2,), lambda i: A[i] + A[i + 2], name="B")
        return B, [A, B]

    def assumed():
        n = ns.size_var("n")
        ns.assume(n % 3 == 0)
        A = ns.placeholder((n,), name="A")
        B = ns.compute((n,), lambda i: A[i] * 2.0, name="B")
        return B, [A, B]

    def scaled():
        n, alpha = ns.size_var("n"), ns.var("alpha", "float32")
        A = ns.placeholder((n,), name="A")
        B = ns.compute((n,), lambda i: A[i] * alpha, name="B")
        return B, [A, alpha, B]

    for build in (shifted, assumed, scaled):
        assert _binder(build)._fast is None
    out, args = _product()()
    func = ns.lower(ns.create_schedule(out.op), args)
    assert FastBinding.of(func, set(), [], []) is not None
    assert FastBinding.of(func, set(), func.scalars[:1], []) is None  # a size passed as an argument
