"""thread_axis handles for bind, and set_store_predicate: TVM's cross-thread reduction example
as written for TVM, predicates on plain stores, traces, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from nestor import LoweringError, ScheduleError
from tests.schedules.errors_common import rejects
from tests.schedules.helpers import check_numpy, check_roundtrip, nest, run


def test_tvm_cross_thread_reduction_example():
    n, m = 8, 40
    A = ns.placeholder((n, m), name="A")
    k = ns.reduce_axis(m, name="k")
    B = ns.compute((n,), lambda i: ns.sum(A[i, k], axis=k), name="B")
    s = ns.create_schedule(B)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=8)
    BF = s.rfactor(B, ki)
    xo, xi = s[B].split(s[B].op.axis[0], factor=4)
    s[B].bind(xo, ns.thread_axis("blockIdx.x"))
    s[B].bind(xi, ns.thread_axis("threadIdx.y"))
    tx = ns.thread_axis("threadIdx.x")
    s[B].bind(s[B].op.reduce_axis[0], tx)
    s[BF].compute_at(s[B], s[B].op.reduce_axis[0])
    s[B].set_store_predicate(tx.var.equal(0))
    text = nest(s, [A, B])
    # B.rf has no scope of its own: inside the threadIdx loop it is each thread's (local), as in TVM
    assert "allocate B.rf: float32[1, 1] in local\n" in text
    assert "B.acc[0] = B.acc[0] + B.rf[0, 0]\n" in text
    assert "if k.inner == 0 and k.inner == 0:\n          B[i.outer * 4 + i.inner] = B.red[0]" in text
    check_numpy(s, [A, B], lambda a: a.sum(axis=1))
    check_roundtrip(s, [A, B])
    assert str(s.trace).splitlines()[-1] == (
        "s[B].set_store_predicate(['binary', 'EQ', ['thread', 'threadIdx.x'], ['const', 0, 'int32']])")


def test_predicate_on_plain_stores():
    A = ns.placeholder((2, 8), name="A")
    C = ns.compute((2, 8), lambda i, j: A[i, j] * 2.0, name="C")
    s = ns.create_schedule(C)
    tx = ns.thread_axis("threadIdx.x")
    s[C].bind(C.op.axis[0], "blockIdx.x")
    s[C].bind(C.op.axis[1], tx)
    s[C].set_store_predicate((tx.var < 3) | ~(tx.var != 6))
    assert "if j < 3 or not j != 6:\n        C[i, j] = A[i, j] * 2.0" in nest(s, [A, C])
    a = np.arange(16, dtype=np.float32).reshape(2, 8)
    (got,) = run(s, [A, C], [a])
    want = np.full((2, 8), np.nan, np.float32)
    want[:, [0, 1, 2, 6]] = a[:, [0, 1, 2, 6]] * 2
    np.testing.assert_array_equal(got, want)
    check_roundtrip(s, [A, C])
    assert ns.build(s, [A, C], target="cuda").source.count("if (j < 3 || !(j != 6))") == 1


def test_refusals():
    with pytest.raises(ScheduleError, match="thread_axis\\('warp.x'\\): unknown thread tag; use one of "
                       "blockIdx.x, blockIdx.y"):
        ns.thread_axis("warp.x")
    A = ns.placeholder((8,), name="A")
    C = ns.compute((8,), lambda i: A[i] + 1.0, name="C")
    s = ns.create_schedule(C)
    tx, ty = ns.thread_axis("threadIdx.x"), ns.thread_axis("threadIdx.y")
    rejects(s, lambda: s[C].set_store_predicate(tx.var + 1), "s[C].set_store_predicate(...): the predicate "
            "threadIdx.x + 1 has type int32; give a condition, e.g. tx.var.equal(0)")
    rejects(s, lambda: s[C].set_store_predicate(C.op.axis[0] < 2), "the predicate may use "
            "thread_axis(...).var, constants, arithmetic, comparisons and &, |, ~ only; i is not one of them")
    rejects(s, lambda: s[C].set_store_predicate("yes"), "the predicate must be an expression, got 'yes'")
    with pytest.raises(ScheduleError, match="malformed store predicate \\['thread', 'warp'\\]"):
        s[C].set_store_predicate(["thread", "warp"])
    s[C].bind(C.op.axis[0], tx)
    s[C].set_store_predicate(ty.var.equal(0))
    with pytest.raises(LoweringError, match=r"lower: the store predicate threadIdx.y == 0 of C uses "
                       "threadIdx.y, but no loop of C is bound to it; bind one, or drop it"):
        ns.lower(s, [A, C])
