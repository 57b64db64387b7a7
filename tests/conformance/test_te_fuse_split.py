"""TVM's fuse of no loops (a new outermost loop of extent 1), of one loop (that loop), and of a
reduction loop with data loops (a reduction loop; TVM's test_reduction_and_dummy_fuse_split),
and split(nparts=) of a loop of symbolic extent; through :mod:`te_shim`, on the interpreter, on
LLVM and as CUDA C on the host CPU, against numpy, with golden nests where the loops are the point."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cuda.nvcc import compile_cuda, find_nvcc
from schedules.trace import replay
from tests.backends.cuda import host_emulation

from .helpers import close, empty, uniform
from .te_shim import te, tvm

CPU_TARGETS = ("interp", "llvm")


def run(s, args, arrays, target):
    outs = [empty(t.shape if not arrays else _shape(t, arrays, args), t.dtype) for t in args[len(arrays):]]
    tvm.build(s, args, target=target)(*arrays, *outs)
    return outs


def _shape(tensor, arrays, args):
    """The output's shape once the symbolic sizes are those of the input arrays."""
    sizes = {}
    for t, a in zip(args, arrays):
        for d, extent in enumerate(t.shape):
            if not isinstance(extent, int):
                sizes[extent] = a.shape[d]
    return tuple(sizes.get(extent, extent) for extent in tensor.shape)


def lowered(s, args) -> str:
    return str(tvm.lower(s, args, simple_mode=True))


# TVM's test_reduction_and_dummy_fuse_split ------------------------------------------------------
def scalar_sum():
    n = 10
    X = te.placeholder((n,), dtype="int32", name="X")
    k = te.reduce_axis((0, n), "k")
    Y = te.compute((), lambda: te.sum(X[k], k), name="Y")
    s = te.create_schedule([Y.op])
    ax = s[Y.op].fuse(*Y.op.axis)
    s[Y.op].split(ax, nparts=20)
    return s, Y, X


def row_sums_fused():
    n = 10
    X = te.placeholder((n,), dtype="int32", name="X")
    k = te.reduce_axis((0, n), "k")
    Y = te.compute((n,), lambda i: te.sum(X[k], k), name="Y")
    s = te.create_schedule([Y.op])
    s[Y.op].fuse(*(list(Y.op.axis) + list(Y.op.reduce_axis)))
    return s, Y, X


@pytest.mark.parametrize("target", CPU_TARGETS)
def test_a_dummy_fuse_of_a_scalar_reduction_then_split(target):
    s, Y, X = scalar_sum()
    y = np.array(-7, "int32")
    tvm.build(s, [Y, X], target=target)(y, np.ones(10, "int32"))
    assert y == 10


def test_a_dummy_fuse_adds_one_outermost_loop_of_extent_1():
    s, Y, X = scalar_sum()
    outer, inner = s[Y].leaf_iter_vars[:2]
    assert [(iv.name, iv.extent) for iv in s[Y].leaf_iter_vars] == [("fused.outer", 1), ("fused.inner", 1),
                                                                      ("k", 10)]
    assert str(s.trace) == ("fused = s[Y].fuse()\n"
                            "fused_outer, fused_inner = s[Y].split(fused, nparts=20)")
    again = te.create_schedule([Y.op])
    replay(again, s.trace.to_json())
    assert lowered(again, [Y, X]) == lowered(s, [Y, X])


@pytest.mark.parametrize("target", CPU_TARGETS)
def test_a_data_loop_fused_with_a_reduction_loop(target):
    s, Y, X = row_sums_fused()
    x = np.arange(10, dtype="int32")
    (y,) = run(s, [X, Y], [x], target)
    close(y, np.full(10, x.sum()))


def test_a_data_loop_fused_with_a_reduction_loop_starts_each_sum_at_its_first_point():
    s, Y, X = row_sums_fused()
    assert lowered(s, [Y, X]) == """\
func main(Y: int32[10], X: int32[10]) {
  for i.k.fused in 0..100:
    if i.k.fused % 10 == 0:
      Y[i.k.fused // 10] = 0
  for i.k.fused in 0..100:
    Y[i.k.fused // 10] = Y[i.k.fused // 10] + X[i.k.fused % 10]
}"""


@pytest.mark.parametrize("target", CPU_TARGETS)
def test_a_mixed_fused_loop_split_and_reordered_starts_every_row_before_its_updates(target, rng):
    """After the reorder the nest reaches a row's points out of order, so the maxima start in a
    nest of their own (a loop over the reduction axis only stays at its first iteration there)."""
    X = te.placeholder((7, 9), dtype="int32", name="X")
    k1, k2 = te.reduce_axis((0, 9), "k1"), te.reduce_axis((0, 2), "k2")
    Y = te.compute((7,), lambda i: te.max(X[i, k1] * (k2 + 1), axis=[k1, k2]), name="Y")
    s = te.create_schedule(Y.op)
    s[Y].reorder(k2, k1, Y.op.axis[0])
    outer, inner = s[Y].split(s[Y].fuse(k1, Y.op.axis[0]), factor=8)
    s[Y].reorder(inner, outer)
    assert lowered(s, [X, Y]).splitlines()[1:6] == [
        "  for k1.i.fused.inner in 0..8:",
        "    for k1.i.fused.outer in 0..8:",
        "      if k1.i.fused.outer * 8 + k1.i.fused.inner < 63 and (k1.i.fused.outer * 8 + k1.i.fused.inner) "
        "// 7 == 0:",
        "        Y[(k1.i.fused.outer * 8 + k1.i.fused.inner) % 7] = -2147483648",
        "  for k2 in 0..2:"]
    x = uniform(rng, (7, 9), "int32")
    (y,) = run(s, [X, Y], [x], target)
    close(y, np.maximum(x, 2 * x).max(axis=1))


def matrix_rows(rng):
    A = te.placeholder((6, 7), name="A")
    B = te.compute((6, 7), lambda i, j: A[i, j] * 2, name="B")
    k = te.reduce_axis((0, 7), "k")
    R = te.compute((6,), lambda i: te.sum(B[i, k], axis=k), name="R")
    return A, B, R, k, uniform(rng, (6, 7))


@pytest.mark.parametrize("target", CPU_TARGETS)
def test_a_mixed_fused_loop_split_with_a_producer_inside(target, rng):
    A, B, R, k, a = matrix_rows(rng)
    s = te.create_schedule(R.op)
    fused = s[R].fuse(R.op.axis[0], k)
    outer, inner = s[R].split(fused, factor=5)
    s[B].compute_at(s[R], inner)
    (r,) = run(s, [A, R], [a], target)
    close(r, 2 * a.astype(np.float64).sum(axis=1))


def test_a_mixed_fused_loop_is_a_reduction_loop(rng):
    A, B, R, k, _ = matrix_rows(rng)
    s = te.create_schedule(R.op)
    fused = s[R].fuse(R.op.axis[0], k)
    with pytest.raises(te.ScheduleError, match=r"^s\[R\]\.parallel\(i\.k\.fused\): i\.k\.fused is a reduction loop; "
                       "running its iterations at the same time would race on the accumulator; mark a "
                       "data-parallel loop instead$"):
        s[R].parallel(fused)
    with pytest.raises(te.ScheduleError, match=r"^s\.cache_write\(R, 'local'\): reduce loop k of R is already split "
                       "or fused, but the reduction moves to the cache stage; call cache_write first and split k "
                       "on the cache stage$"):
        s.cache_write(R, "local")


# fuse of one loop, fuse of none on a stage with loops -------------------------------------------
def test_fuse_of_one_loop_returns_it(rng):
    A, B, R, k, a = matrix_rows(rng)
    s = te.create_schedule(R.op)
    i, j = B.op.axis
    assert s[B].fuse(j) is j
    assert s[B].leaf_iter_vars == (i, j)


@pytest.mark.parametrize("target", CPU_TARGETS)
def test_fuse_of_no_loops_goes_outside_every_loop(target, rng):
    A, B, R, k, a = matrix_rows(rng)
    s = te.create_schedule(R.op)
    dummy = s[B].fuse()
    again = s[B].fuse()
    assert [iv.name for iv in s[B].leaf_iter_vars] == ["fused.1", "fused", "i", "j"]
    assert (dummy.extent, again.extent) == (1, 1)
    s[R].reorder(k)
    (r,) = run(s, [A, R], [a], target)
    close(r, 2 * a.astype(np.float64).sum(axis=1))


def test_a_cache_of_a_stage_with_a_dummy_loop(rng):
    A, B, R, k, a = matrix_rows(rng)
    s = te.create_schedule(R.op)
    s[R].fuse()
    s.cache_write(R, "local")
    assert lowered(s, [A, R]) == """\
func main(A: float32[6, 7], R: float32[6]) {
  allocate B: float32[6, 7] in global
  allocate R.local: float32[1, 6] in local
  for i in 0..6:
    for j in 0..7:
      B[i, j] = A[i, j] * 2.0
  for i.c in 0..6:
    R.local[0, i.c] = 0.0
    for k in 0..7:
      R.local[0, i.c] = R.local[0, i.c] + B[i.c, k]
  for i in 0..6:
    R[i] = R.local[0, i]
}"""
    for target in CPU_TARGETS:
        (r,) = run(s, [A, R], [a], target)
        close(r, 2 * a.astype(np.float64).sum(axis=1))


# on a GPU: a rank-0 output bound to one block through its dummy loop ----------------------------
def gpu_scalar_sum():
    A = te.placeholder((37,), name="A")
    k = te.reduce_axis((0, 37), "k")
    S = te.compute((), lambda: te.sum(A[k], axis=k), name="S")
    s = te.create_schedule(S.op)
    s[S].bind(s[S].fuse(), te.thread_axis("blockIdx.x"))
    return s, [A, S]


def test_a_dummy_loop_bound_to_a_block_on_cuda(rng):
    s, args = gpu_scalar_sum()
    a = uniform(rng, (37,))
    out = empty((), "float32")
    tvm.build(s, args, target="interp")(a, out)
    close(out, a.astype(np.float64).sum(), rtol=1e-5)
    module = tvm.build(s, args, target="cuda")
    assert "const int fused = blockIdx.x;" in module.source
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    (host,) = host_emulation.compile_host([module])
    out = empty((), "float32")
    host(a, out)
    close(out, a.astype(np.float64).sum(), rtol=1e-5)


def test_a_mixed_fused_loop_is_no_cross_thread_reduction(rng):
    A, B, R, k, _ = matrix_rows(rng)
    s = te.create_schedule(R.op)
    _, inner = s[R].split(s[R].fuse(R.op.axis[0], k), factor=16)
    with pytest.raises(te.ScheduleError, match=r"^s\[R\]\.bind\(i\.k\.fused\.inner, 'threadIdx\.x'\): loop "
                       r"i\.k\.fused\.outer runs over data axes fused with reduction axes, and a cross-thread "
                       "reduction combines the threads' values of one output element; fuse the data loops with "
                       "the reduction loops only where no reduction loop is bound to a thread, or bind a data "
                       "loop instead$"):
        s[R].bind(inner, te.thread_axis("threadIdx.x"))


def test_no_data_loop_joins_a_cross_thread_reduction(rng):
    A = te.placeholder((6, 4, 8), name="A")
    k1, k2 = te.reduce_axis((0, 4), "k1"), te.reduce_axis((0, 8), "k2")
    R = te.compute((6,), lambda i: te.sum(A[i, k1, k2], axis=[k1, k2]), name="R")
    s = te.create_schedule(R.op)
    s[R].bind(k2, te.thread_axis("threadIdx.x"))
    with pytest.raises(te.ScheduleError, match=r"^s\[R\]\.fuse\(i, k1\): the reduction loop k2 is bound to a thread "
                       r"index \(a cross-thread reduction\), and a data loop fused with a reduction loop would be "
                       "part of it; fuse reduction loops with reduction loops only in this stage$"):
        s[R].fuse(R.op.axis[0], k1)


# split(nparts=) of a loop of symbolic extent -----------------------------------------------------
def symbolic_double(n):
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2, name="B")
    return A, B, te.create_schedule(B.op)


@pytest.mark.parametrize("target", CPU_TARGETS)
def test_nparts_of_a_symbolic_loop(target):
    A, B, s = symbolic_double(te.var("n"))
    outer, inner = s[B].split(B.op.axis[0], nparts=4)
    f = tvm.build(s, [A, B], target=target)
    for size in (1, 3, 4, 8, 13):  # fewer elements than parts, divisible, and not
        a = np.arange(size, dtype="float32")
        b = empty((size,), "float32")
        f(a, b)
        close(b, 2 * a)


def test_nparts_of_a_symbolic_loop_keeps_its_parts_and_guards_the_last():
    A, B, s = symbolic_double(te.var("n"))
    s[B].split(B.op.axis[0], nparts=4)
    assert lowered(s, [A, B]) == """\
func main(A: float32[n], B: float32[n]) {
  for i.outer in 0..4:
    for i.inner in 0..(n - 1) // 4 + 1:
      if i.outer * ((n - 1) // 4 + 1) + i.inner < n:
        B[i.outer * ((n - 1) // 4 + 1) + i.inner] = A[i.outer * ((n - 1) // 4 + 1) + i.inner] * 2.0
}"""


def test_nparts_that_divides_a_symbolic_extent_needs_no_guard():
    A, B, s = symbolic_double(te.size_var("n", divisor=4))
    s[B].split(B.op.axis[0], nparts=4)
    assert lowered(s, [A, B]) == """\
func main(A: float32[n], B: float32[n]) {
  for i.outer in 0..4:
    for i.inner in 0..(n - 1) // 4 + 1:
      B[i.outer * ((n - 1) // 4 + 1) + i.inner] = A[i.outer * ((n - 1) // 4 + 1) + i.inner] * 2.0
}"""
    a = np.arange(12, dtype="float32")
    (b,) = run(s, [A, B], [a], "llvm")
    close(b, 2 * a)


@pytest.mark.parametrize("target", CPU_TARGETS)
def test_nparts_of_symbolic_data_and_reduction_loops_with_a_producer_inside(target, rng):
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n, m), name="A")
    B = te.compute((n, m), lambda i, j: A[i, j] + 1, name="B")
    k = te.reduce_axis((0, m), "k")
    R = te.compute((n,), lambda i: te.sum(B[i, k], axis=k), name="R")
    s = te.create_schedule(R.op)
    s[R].split(k, nparts=3)
    _, inner = s[R].split(R.op.axis[0], nparts=2)
    s[B].compute_at(s[R], inner)
    f = tvm.build(s, [A, R], target=target)
    for shape in ((1, 1), (5, 7), (6, 9)):
        a = uniform(rng, shape)
        r = empty(shape[:1], "float32")
        f(a, r)
        close(r, (a.astype(np.float64) + 1).sum(axis=1))


def test_a_producer_inside_nparts_of_a_symbolic_loop_computes_one_row():
    """The row's index is a product of the fixed outer loop and ceil(n / 2): isl bounds the
    region with that product as one unknown, so the producer computes one row, guarded."""
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n, m), name="A")
    B = te.compute((n, m), lambda i, j: A[i, j] + 1, name="B")
    k = te.reduce_axis((0, m), "k")
    R = te.compute((n,), lambda i: te.sum(B[i, k], axis=k), name="R")
    s = te.create_schedule(R.op)
    _, inner = s[R].split(R.op.axis[0], nparts=2)
    s[B].compute_at(s[R], inner)
    assert lowered(s, [A, R]) == """\
func main(A: float32[n, m], R: float32[n]) {
  for i.outer in 0..2:
    for i.inner in 0..(n - 1) // 2 + 1:
      allocate B: float32[1, m] in global
      if i.outer * ((n - 1) // 2 + 1) + i.inner < n:
        for j in 0..m:
          B[0, j] = A[i.outer * ((n - 1) // 2 + 1) + i.inner, j] + 1.0
      if i.outer * ((n - 1) // 2 + 1) + i.inner < n:
        R[i.outer * ((n - 1) // 2 + 1) + i.inner] = 0.0
      if i.outer * ((n - 1) // 2 + 1) + i.inner < n:
        for k in 0..m:
          R[i.outer * ((n - 1) // 2 + 1) + i.inner] = R[i.outer * ((n - 1) // 2 + 1) + i.inner] + B[0, k]
}"""


def gpu_nparts():
    A, B, s = symbolic_double(te.var("n"))
    outer, inner = s[B].split(B.op.axis[0], nparts=4)
    _, thread = s[B].split(inner, factor=32)
    s[B].bind(outer, te.thread_axis("blockIdx.x"))
    s[B].bind(thread, te.thread_axis("threadIdx.x"))
    return s, [A, B]


def test_nparts_of_a_symbolic_loop_bound_to_blocks():
    s, args = gpu_nparts()
    for size in (5, 128, 301):
        a = np.arange(size, dtype="float32")
        out = empty((size,), "float32")
        tvm.build(s, args, target="interp")(a, out)
        close(out, 2 * a)
    source = tvm.build(s, args, target="cuda").source
    assert "// k_main: grid (4, 1, 1), block (32, 1, 1)" in source
    assert "k_main(const float* __restrict__ A, float* __restrict__ B, int n)" in source


@pytest.mark.slow
def test_nparts_of_a_symbolic_loop_compiles_with_nvcc():
    if find_nvcc() is None:
        pytest.skip("nvcc is not installed")
    s, args = gpu_nparts()
    compile_cuda(tvm.build(s, args, target="cuda").source, output="obj")


def test_nparts_of_a_symbolic_loop_is_at_most_65536():
    A, B, s = symbolic_double(te.var("n"))
    with pytest.raises(te.ScheduleError, match=r"^s\[B\]\.split\(i, nparts=65537\): the extent of i is the symbolic "
                       r"n, and the outer loop would run \(guarded\) all 65537 iterations whatever the size; use "
                       "nparts of at most 65536$"):
        s[B].split(B.op.axis[0], nparts=65537)
