"""Subscripts that no proof bounds (``A[I[i]]``) are checked when the kernel runs, on every
backend: an index outside its dimension raises OutOfBoundsError naming the tensor, dimension,
index and value, and never touches memory; ``assume_in_bounds`` and ``.at(mode=...)`` opt out.
Statically bounded subscripts carry no check."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from nestor import DefinitionError, OutOfBoundsError
from tensorir.expr import CheckedIndex
from tensorir.visitor import walk
from tests.backends.subprocess_run import run_python

CPU_TARGETS = ["interp", "llvm"]
MESSAGE = ("compute C: the access A[I[i]] reads dimension 0 of A (shape [10]) at index I[i] = {value}, "
           "outside 0..9")


def _gather(schedule=None):
    A = ns.placeholder((10,), name="A")
    I = ns.placeholder((64,), dtype="int32", name="I")  # noqa: E741 - the index tensor of the issue
    C = ns.compute((64,), lambda i: A[I[i]] * 2.0, name="C")
    s = ns.create_schedule(C)
    if schedule is not None:
        schedule(s, C)
    return s, [A, I, C]


def _checks(s, args) -> list[CheckedIndex]:
    return [n for n in walk(ns.lower(s, args).body) if isinstance(n, CheckedIndex)]


def _parallel_vectorized(s, C):
    outer, inner = s[C].split(C.op.axis[0], factor=8)
    s[C].parallel(outer)
    s[C].vectorize(inner)


@pytest.mark.parametrize("target", CPU_TARGETS)
@pytest.mark.parametrize("schedule", [None, _parallel_vectorized], ids=["serial", "parallel_vectorized"])
def test_in_range_data_subscripts_compute_the_gather(target, schedule, rng):
    s, args = _gather(schedule)
    a = rng.standard_normal(10).astype("float32")
    idx = rng.integers(0, 10, size=64).astype("int32")
    out = np.zeros(64, "float32")
    ns.build(s, args, target=target)(a, idx, out)
    np.testing.assert_array_equal(out, a[idx] * 2)


@pytest.mark.parametrize("target", CPU_TARGETS)
@pytest.mark.parametrize("schedule", [None, _parallel_vectorized], ids=["serial", "parallel_vectorized"])
@pytest.mark.parametrize("bad", [10, -1, 10**9, -(2**31)])
def test_out_of_range_data_subscript_raises_and_the_process_lives(target, schedule, bad):
    """A far index (10**9) read unmapped memory before: run where a crash cannot hurt."""
    setup = "" if schedule is None else """
        outer, inner = s[C].split(C.op.axis[0], factor=8)
        s[C].parallel(outer)
        s[C].vectorize(inner)"""
    done = run_python(f"""
        import numpy as np, nestor as ns
        A = ns.placeholder((10,), name="A")
        I = ns.placeholder((64,), dtype="int32", name="I")
        C = ns.compute((64,), lambda i: A[I[i]] * 2.0, name="C")
        s = ns.create_schedule(C)
        {setup.strip() and setup}
        module = ns.build(s, [A, I, C], target={target!r})
        idx = np.arange(64, dtype="int32") % 10
        idx[37] = {bad}
        try:
            module(np.ones(10, "float32"), idx, np.zeros(64, "float32"))
        except ns.OutOfBoundsError as error:
            print("RAISED", error)
        module(np.ones(10, "float32"), np.arange(64, dtype="int32") % 10, np.zeros(64, "float32"))
        print("ALIVE")
    """)
    assert done.returncode == 0, done.stderr
    assert f"RAISED {target}: " + MESSAGE.format(value=bad) in done.stdout
    assert "guard it with if_then_else(...), clamp or wrap it with .at(..., mode='clip' or 'wrap')" in done.stdout
    assert "ALIVE" in done.stdout


@pytest.mark.parametrize("target", CPU_TARGETS)
def test_failure_is_reported_by_call_unchecked_and_time(target):
    s, args = _gather()
    module = ns.build(s, args, target=target)
    bad = np.full(64, 11, dtype="int32")
    arrays = [np.ones(10, "float32"), bad, np.zeros(64, "float32")]
    with pytest.raises(OutOfBoundsError, match="at index I\\[i\\] = 11"):
        module.time(*arrays)
    if target == "llvm":
        with pytest.raises(OutOfBoundsError, match="= 11, outside 0..9"):
            module.call_unchecked(*(a.ctypes.data for a in arrays))


def test_two_dimensional_message_names_the_dimension():
    A = ns.placeholder((4, 6), name="A")
    J = ns.placeholder((4,), dtype="int64", name="J")
    C = ns.compute((4,), lambda i: A[i, J[i] + 1], name="C")
    module = ns.build(ns.create_schedule(C), [A, J, C], target="llvm")
    with pytest.raises(OutOfBoundsError) as info:
        module(np.ones((4, 6), "float32"), np.array([0, 1, 5, 2], "int64"), np.zeros(4, "float32"))
    assert str(info.value).startswith(
        "llvm: compute C: the access A[i, J[i] + 1] reads dimension 1 of A (shape [4, 6]) at index "
        "J[i] + 1 = 6, outside 0..5")


@pytest.mark.parametrize("target", CPU_TARGETS)
def test_a_check_under_the_branch_not_taken_does_not_fire(target):
    A = ns.placeholder((10,), name="A")
    I = ns.placeholder((6,), dtype="int32", name="I")  # noqa: E741 - the index tensor of the issue
    C = ns.compute((6,), lambda i: ns.if_then_else((I[i] >= 0) & (I[i] < 10), A[I[i]], -1.0), name="C")
    idx = np.array([0, 12, -3, 9, 10**9, 4], "int32")
    a = np.arange(10, dtype="float32")
    out = np.zeros(6, "float32")
    ns.build(ns.create_schedule(C), [A, I, C], target=target)(a, idx, out)
    np.testing.assert_array_equal(out, [0, -1, -1, 9, -1, 4])


def test_statically_bounded_subscripts_carry_no_check():
    A = ns.placeholder((64, 32), name="A")
    B = ns.placeholder((48, 32), name="B")
    k = ns.reduce_axis(32, "k")
    C = ns.compute((64, 48), lambda i, j: ns.sum(A[i, k] * B[j, k], axis=k), name="C")
    s = ns.create_schedule(C)
    assert not _checks(s, [A, B, C])
    assert "nestor_status" not in ns.build(s, [A, B, C], target="llvm").source
    # a product of indices has no affine form, but its interval is inside: no check
    D = ns.placeholder((16,), name="D")
    E = ns.compute((4,), lambda i: D[i * i], name="E")
    assert not _checks(ns.create_schedule(E), [D, E])
    # ... and where the interval leaves the tensor, a check
    F = ns.compute((5,), lambda i: D[i * i], name="F")
    assert {c.site for c in _checks(ns.create_schedule(F), [D, F])} == {
        "compute F: the access D[i * i] reads dimension 0 of D (shape [16]) at index i * i"}


@pytest.mark.parametrize("target", CPU_TARGETS)
def test_clip_and_wrap_modes_fit_any_index_without_a_check(target):
    A = ns.placeholder((10,), name="A")
    I = ns.placeholder((8,), dtype="int32", name="I")  # noqa: E741 - the index tensor of the issue
    clip = ns.compute((8,), lambda i: A.at(I[i], mode="clip"), name="clip")
    wrap = ns.compute((8,), lambda i: A.at(I[i] - 3, mode="wrap"), name="wrap")
    a = np.arange(10, dtype="float32") * 1.5
    idx = np.array([-5, 0, 3, 9, 10, 12, 10**9, -(2**31) + 5], "int32")
    for T, want in ((clip, a[np.clip(idx, 0, 9)]), (wrap, a[np.mod(idx.astype(np.int64) - 3, 10)])):
        s = ns.create_schedule(T)
        assert not _checks(s, [A, I, T])
        out = np.zeros(8, "float32")
        ns.build(s, [A, I, T], target=target)(a, idx, out)
        np.testing.assert_array_equal(out, want)


def test_assume_in_bounds_removes_the_check_and_keeps_the_value():
    A = ns.placeholder((10,), name="A")
    I = ns.placeholder((8,), dtype="int32", name="I")  # noqa: E741 - the index tensor of the issue
    C = ns.compute((8,), lambda i: A[ns.assume_in_bounds(I[i])] + A.at(I[i], mode="assume"), name="C")
    s = ns.create_schedule(C)
    assert not _checks(s, [A, I, C])
    idx = np.array([1, 2, 3, 4, 5, 6, 7, 8], "int32")
    out = np.zeros(8, "float32")
    ns.build(s, [A, I, C], target="llvm")(np.arange(10, dtype="float32"), idx, out)
    np.testing.assert_array_equal(out, 2 * idx)


def test_bad_access_mode_and_assumption_are_refused():
    A = ns.placeholder((10,), name="A")
    with pytest.raises(DefinitionError, match="access A.at\\(...\\): mode='nearest' is not an access "
                                              "mode; use one of check, clip, wrap, assume"):
        ns.compute((4,), lambda i: A.at(i, mode="nearest"))
    with pytest.raises(DefinitionError, match="assume_in_bounds\\(1.5\\): the index has type float"):
        ns.assume_in_bounds(1.5)
