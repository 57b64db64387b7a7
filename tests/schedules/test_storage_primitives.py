"""Storage primitives of GPU stages: ``storage_align`` (padded strides, TVM's meaning) on every
backend, with the bank conflicts it removes; ``double_buffer`` and ``launch_bounds`` round trips."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from backends.cuda.banks import shared_accesses
from schedules.storage import aligned_strides
from schedules.templates import matmul_gpu
from tests.schedules.helpers import check_numpy, check_roundtrip


def transpose(n: int = 64, align: bool = True):
    """``B = A^T`` through a 32 x 32 shared tile written along rows and read down columns."""
    A = ns.placeholder((n, n), name="A")
    B = ns.compute((n, n), lambda i, j: A[j, i], name="B")
    s = ns.create_schedule(B)
    tile = s.cache_read(A, "shared", [B])
    i, j = B.op.axis
    bi, bj, ti, tj = s[B].tile(i, j, 32, 32)
    s[B].bind(bi, "blockIdx.y")
    s[B].bind(bj, "blockIdx.x")
    s[B].bind(tj, "threadIdx.x")
    s[tile].compute_at(s[B], bj)
    rows, columns = s[tile].op.axis
    s[tile].bind(columns, "threadIdx.x")
    if align:
        s[tile].storage_align(rows, 32, 1)
    return s, [A, B]


@pytest.mark.parametrize(("shape", "alignments", "strides"), [
    ((4, 10), ((0, 8, 3),), (11, 1)),
    ((2, 3, 5), ((1, 4, 0),), (24, 8, 1)),
    ((2, 3, 5), ((0, 16, 1), (1, 4, 0)), (33, 8, 1)),
    ((4, 32), ((0, 32, 0),), ()),  # already aligned: row-major
    ((4, 32), (), ()),
])
def test_aligned_strides(shape, alignments, strides):
    assert aligned_strides(shape, alignments) == strides


def test_storage_align_pads_the_rows_of_a_shared_tile():
    s, args = transpose()
    module = ns.build(s, args, target="cuda", name="t")
    assert "__shared__ float A_shared[1055];" in module.source  # 31 rows of 33 and one of 32
    assert "A_shared[ax0 * 33 + ax1] = " in module.source
    assert "= A_shared[j_inner * 33 + i_inner];" in module.source


def test_storage_align_removes_the_bank_conflicts_of_a_column_read():
    for align, degree in ((False, 32), (True, 1)):
        s, args = transpose(align=align)
        (kernel,) = ns.build(s, args, target="cuda").kernels
        (load,) = [a for a in shared_accesses(kernel) if a.kind == "load"]
        assert load.degree == degree


def test_storage_align_keeps_the_results_and_replays():
    s, args = transpose()
    check_numpy(s, args, lambda a: a.T)
    check_roundtrip(s, args)


def test_storage_align_on_the_cpu():
    A = ns.placeholder((6, 10), name="A")
    T = ns.compute((6, 10), lambda i, j: A[i, j] * 2.0, name="T")
    B = ns.compute((6, 10), lambda i, j: T[i, j] + 1.0, name="B")
    s = ns.create_schedule(B)
    s[T].storage_align(T.op.axis[0], 16, 3)
    a = np.random.default_rng(0).uniform(-1, 1, (6, 10)).astype(np.float32)
    for target in ("llvm", "interp"):
        b = np.full((6, 10), np.nan, np.float32)
        ns.build(s, [A, B], target=target)(a, b)
        np.testing.assert_allclose(b, a * 2 + 1, rtol=1e-6)
    assert "T: float32[6, 10]" in str(ns.lower(s, [A, B]))


@pytest.mark.parametrize(("call", "message"), [
    (lambda s, T: s[T].storage_align("nope", 32, 1),
     r"storage_align\(nope, 32, 1\): 'nope' is not a data axis of T; pass one of \['i', 'j'\]"),
    (lambda s, T: s[T].storage_align(T.op.axis[0], 0, 0),
     r"storage_align\(i, 0, 0\): factor must be a positive integer and offset an integer in 0..factor-1"),
    (lambda s, T: s[T].storage_align(T.op.axis[0], 8, 8),
     r"storage_align\(i, 8, 8\): factor must be a positive integer and offset an integer in 0..factor-1"),
])
def test_storage_align_errors(call, message):
    A = ns.placeholder((6, 10), name="A")
    T = ns.compute((6, 10), lambda i, j: A[i, j] * 2.0, name="T")
    B = ns.compute((6, 10), lambda i, j: T[i, j] + 1.0, name="B")
    s = ns.create_schedule(B)
    with pytest.raises(ns.ScheduleError, match=message):
        call(s, T)


def test_gpu_storage_and_launch_steps_replay():
    s, args = matmul_gpu(64, 64, 32, L=32, V=4)
    check_roundtrip(s, args)
    check_numpy(s, args, lambda a, b: a @ b, rtol=1e-4)
