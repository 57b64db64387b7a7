"""A load and a store of the same place in one block share their address computation: the
element pointer and its vector cast are emitted once (a register tile's update reads and
writes each row; a matmul's IR was 982 lines, now 814, with the same machine code)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns


def _twice(lanes: int | None):
    """``C[i] = A[i] * 2 + A[i]``: two loads of the same place, written separately."""
    A = ns.placeholder((64,), name="A")
    C = ns.compute((64,), lambda i: A[i] * 2.0 + A[i], name="C")
    s = ns.create_schedule(C)
    if lanes:
        outer, inner = s[C].split(C.op.axis[0], factor=lanes)
        s[C].vectorize(inner)
    return s, [A, C]


def _geps(source: str, buffer: str) -> int:
    return len(re.findall(rf'getelementptr inbounds float, float\* %"{buffer}"', source))


@pytest.mark.parametrize("lanes", [None, 16])
def test_each_place_gets_one_address_per_block(lanes, rng):
    s, args = _twice(lanes)
    module = ns.build(s, args, target="llvm", name=f"twice{lanes}")
    a = rng.standard_normal(64, dtype=np.float32)
    c = np.full(64, np.nan, np.float32)
    module(a, c)
    np.testing.assert_allclose(c, a * 2.0 + a, rtol=1e-6, atol=1e-6)
    assert _geps(module.source, "A") == 1
    assert _geps(module.source, "C") == 1


def test_a_register_tile_update_reads_and_writes_through_one_pointer(rng):
    A = ns.placeholder((4, 32), name="A")
    k = ns.reduce_axis((0, 4), name="k")
    S = ns.compute((32,), lambda j: ns.sum(A[k, j], axis=k), name="S")
    s = ns.create_schedule(S)
    s[S].reorder(k, S.op.axis[0])
    s[S].unroll(k)
    s[S].vectorize(S.op.axis[0])
    module = ns.build(s, [A, S], target="llvm", name="tile_update")
    source = module.source
    # S is read and written at each of the four unrolled steps, through one pointer and one cast
    assert _geps(source, "S") == 1
    assert len(re.findall(r'bitcast float\* %"\.\d+" to <32 x float>\*', source)) == 1 + 4  # S, then A's rows
    a = rng.standard_normal((4, 32), dtype=np.float32)
    out = np.full(32, np.nan, np.float32)
    module(a, out)
    np.testing.assert_allclose(out, a.sum(axis=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scope", ["global", "local"])
def test_a_buffer_allocated_in_an_unrolled_loop_has_its_own_addresses_in_each_copy(scope, rng):
    """``R`` is allocated inside the unrolled row loop: each copy of the body has its own storage,
    so an address computed in one copy must not serve the next, although the end of one copy and
    the start of the next are one block (every row but the first initialised the previous row's
    R before; found by the long random LLVM schedules)."""
    A = ns.placeholder((5, 16), name="A")
    k = ns.reduce_axis((0, 16), name="k")
    R = ns.compute((5,), lambda i: ns.sum(A[i, k] * 3.0, axis=k), name="R")
    Y = ns.compute((5, 8), lambda i, j: R[i] + A[i, 15 - 2 * j], name="Y")
    s = ns.create_schedule(Y)
    s[R].compute_at(s[Y], Y.op.axis[0])
    s[R].set_scope(scope)
    s[Y].unroll(Y.op.axis[0])
    s[Y].unroll(Y.op.axis[1])  # one copy's last reads of R and the next copy's R[0] = 0 share a block
    module = ns.build(s, [A, Y], target="llvm", name=f"unrolled_alloc_{scope}")
    a = rng.standard_normal((5, 16), dtype=np.float32)
    y = np.full((5, 8), np.nan, np.float32)
    module(a, y)
    want = (a * 3.0).sum(1, keepdims=True) + a[:, 15::-2]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
