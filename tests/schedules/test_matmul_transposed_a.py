"""The CPU matmul template reading its left operand from transposed storage (``transpose_a``):
``C = A.T @ B`` with A stored ``k x m``, as the weight gradient ``X^T @ dZ`` of a layer keeps
its input ``X``; no transposed copy of A is made."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from schedules import templates
from tensorir.errors import ArgumentError

from .helpers import nest


def _integers(rng, shape):
    """Small integer values: every sum of products is exact in float32, in any order."""
    return rng.integers(-4, 5, size=shape).astype(np.float32)


def _run(s, args, m, n, k, transpose_b, seed=0):
    rng = np.random.default_rng(seed)
    a_t = _integers(rng, (k, m))
    b = _integers(rng, (n, k) if transpose_b else (k, n))
    c = np.full((m, n), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a_t, b, c)
    return c, a_t.T @ (b.T if transpose_b else b)


@pytest.mark.parametrize("m, n, k", [(97, 61, 131), (65, 33, 127), (784, 256, 128), (31, 47, 64), (9, 9, 9)])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_plain_call_matches_numpy_exactly(m, n, k, transpose_b):
    s, args = templates.matmul_cpu(m, n, k, transpose_a=True, transpose_b=transpose_b)
    c, expected = _run(s, args, m, n, k, transpose_b)
    np.testing.assert_array_equal(c, expected)


@pytest.mark.parametrize("config", [
    dict(v1=4, v2=16, v3=4, b1=8, b2=16, b3=32),                          # padded, k overhangs: A packed
    dict(v1=4, v2=16, v3=4, b1=8, b2=16, b3=32, parallel=True),
    dict(v1=4, v2=16, v3=4, b1=8, b2=16, b3=32, edge="guard"),             # guards on the partial tiles
    dict(v1=4, v2=16, v3=4, b1=8, b2=16, b3=32, edge="guard", pack_a=True),
    dict(v1=8, v2=32, v3=4, b1=64, b2=128, b3=None, pack_b=False),         # the frontend's whole-k tile
    dict(v1=8, v2=32, v3=4, b1=64, b2=128, b3=None, pack_a=True),
])
def test_knobs_match_numpy_exactly_at_odd_sizes(config):
    m, n, k = 37, 45, 23
    s, args = templates.matmul_cpu(m, n, k, transpose_a=True, transpose_b=False, **config)
    c, expected = _run(s, args, m, n, k, False)
    np.testing.assert_array_equal(c, expected)


def test_rows_read_as_stored_where_only_rows_overhang():
    # 40 = 4 chunks of 10 steps: k needs no padding, so A is read in place, rows past m clamped
    s, args = templates.matmul_cpu(37, 32, 40, v1=4, v2=16, v3=4, b1=8, b2=16, b3=40, transpose_a=True,
                                   transpose_b=False, parallel=False)
    text = nest(s, args)
    assert "A.packed" not in text
    assert "A[" in text and "min(" in text
    c, expected = _run(s, args, 37, 32, 40, False)
    np.testing.assert_array_equal(c, expected)


@pytest.mark.parametrize("symbolic", ["m", "k"])
def test_symbolic_sizes_match_numpy_exactly(symbolic):
    sizes = {"m": 131, "n": 256, "k": 129}
    given = dict(sizes, **{symbolic: ns.var(symbolic)})
    s, args = templates.matmul_cpu(given["m"], given["n"], given["k"], transpose_a=True, transpose_b=False,
                                   v1=8, v2=32, v3=4, b1=64, b2=128, b3=None, pack_b=False, parallel=False)
    c, expected = _run(s, args, sizes["m"], sizes["n"], sizes["k"], False)
    np.testing.assert_array_equal(c, expected)


def test_untransposed_array_is_refused_at_the_call():
    s, args = templates.matmul_cpu(37, 45, 23, transpose_a=True, transpose_b=False)
    f = ns.build(s, args, target="llvm")
    a = np.zeros((37, 23), np.float32)  # (m, k): not the (k, m) storage the kernel reads
    with pytest.raises(ArgumentError, match=r"argument 0 \(A\) must have shape \[23, 37\], got \[37, 23\]"):
        f(a, np.zeros((23, 45), np.float32), np.zeros((37, 45), np.float32))
