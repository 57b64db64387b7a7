"""Operators of general reductions and computes with several outputs, in the form of
:mod:`tests.catalogue` (random inputs, a numpy reference), for the random-schedule tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import nestor as ns
from tests.catalogue import Operator, _f64, _operator


def _argmax():
    def fcombine(x, y):
        keep = x[1] >= y[1]
        return ns.if_then_else(keep, x[0], y[0]), ns.if_then_else(keep, x[1], y[1])

    return ns.comm_reducer(fcombine, lambda t0, t1: (ns.const(-1, t0), ns.min_value(t1)), name="argmax")


def argmax_rows() -> Operator:
    """The index and value of each row's maximum: a tuple reducer, two outputs of one stage."""
    X = ns.placeholder((7, 11), name="X")
    k = ns.reduce_axis(11, "k")
    T0, T1 = ns.compute((7,), lambda i: _argmax()((k, X[i, k]), axis=k), name="T")
    return _operator("argmax_rows", [X], [T0, T1], lambda x: (x.argmax(1).astype(np.int32), x.max(1)))


def masked_sum_from_bias() -> Operator:
    """``sum(X[i, k] for k where X[i, k] > 0, starting from B[i])``, then scaled by a consumer."""
    X, B = ns.placeholder((6, 9), name="X"), ns.placeholder((6,), name="B")
    k = ns.reduce_axis(9, "k")
    S = ns.compute((6,), lambda i: ns.sum(X[i, k], axis=k, where=X[i, k] > 0, init=B[i]), name="S")
    Y = ns.compute((6, 9), lambda i, j: X[i, j] * S[i], name="Y")

    def reference(x, b):
        x, b = _f64(x, b)
        return x * (b + np.where(x > 0, x, 0).sum(1))[:, None]

    return _operator("masked_sum_from_bias", [X, B], [Y], reference)


def complex_row_product() -> Operator:
    """The product of each row of complex numbers (real, imaginary): a reducer whose update needs
    scratch registers."""
    def fcombine(x, y):
        return x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0]

    cprod = ns.comm_reducer(fcombine, lambda t0, t1: (ns.const(1, t0), ns.const(0, t1)), name="cprod")
    R, Im = ns.placeholder((5, 4), name="R"), ns.placeholder((5, 4), name="Im")
    k = ns.reduce_axis(4, "k")
    P0, P1 = ns.compute((5,), lambda i: cprod((R[i, k], Im[i, k]), axis=k), name="P")

    def reference(r, im):
        z = np.prod(r.astype(np.float64) + 1j * im, axis=1)
        return z.real, z.imag

    return _operator("complex_row_product", [R, Im], [P0, P1], reference)


def shared_nest_pair() -> Operator:
    """Two elementwise outputs of one stage, read by a consumer."""
    X = ns.placeholder((6, 7), name="X")
    T0, T1 = ns.compute((6, 7), lambda i, j: (X[i, j] * 2.0, X[i, j] - 1.0), name="T")
    Y = ns.compute((6, 7), lambda i, j: T0[i, j] * T1[i, 6 - j], name="Y")
    return _operator("shared_nest_pair", [X], [Y], lambda x: (x * 2.0) * (x - 1.0)[:, ::-1])


REDUCTIONS: list[Callable[[], Operator]] = [argmax_rows, masked_sum_from_bias, complex_row_product,
                                            shared_nest_pair]


def cumulative_rows() -> Operator:
    """``S[i, j] = sum(X[i, k] for k <= j)``: a reduce range that depends on an output index."""
    X = ns.placeholder((5, 9), name="X")
    S = ns.compute((5, 9), lambda i, j: ns.sum(X[i, (k := ns.reduce_axis((0, j + 1), "k"))], axis=k), name="S")
    return _operator("cumulative_rows", [X], [S], lambda x: np.cumsum(x.astype(np.float64), axis=1))


def lower_triangular_matmul() -> Operator:
    """``C = tril(L) @ X`` reading only the lower triangle of ``L`` (``k`` in ``i..7``, reversed
    rows), then a consumer."""
    L, X = ns.placeholder((7, 7), name="L"), ns.placeholder((7, 6), name="X")

    def mm(i, j):
        k = ns.reduce_axis((i, 7), "k")
        return ns.sum(L[6 - i, 6 - k] * X[6 - k, j], axis=k)

    C = ns.compute((7, 6), mm, name="C")
    Y = ns.compute((7, 6), lambda i, j: C[i, j] * 2.0, name="Y")

    def reference(low, x):
        low, x = _f64(low, x)
        return 2.0 * (np.tril(low) @ x)[::-1]

    return _operator("lower_triangular_matmul", [L, X], [Y], reference)


#: reductions over ranges that depend on an output index
RANGED: list[Callable[[], Operator]] = [cumulative_rows, lower_triangular_matmul]
