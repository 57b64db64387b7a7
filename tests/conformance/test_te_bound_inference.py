"""Bound inference in the style of TVM's bound-inference unit tests: ``te.schedule.InferBound``
(the range of every axis and loop), the nests ``tvm.lower`` prints for producers computed
inside split, fused, reordered and thread-bound loops, and every program's values against
numpy (GPU schedules through the interpreter)."""

import textwrap

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def _bounds(s):
    return te.schedule.InferBound(s)


def _chain(shape):
    A = te.placeholder(shape, name="A")
    A1 = te.compute(shape, lambda i, j: A[i, j], name="A1")
    A2 = te.compute(shape, lambda i, j: A1[i, j] + 3, name="A2")
    return A, A1, A2


def test_a_producer_at_the_outer_loop_of_a_split_covers_one_tile():
    m, w = te.var("m"), te.var("w")
    A, A1, A2 = _chain((m, w))
    s = te.create_schedule([A2.op])
    xo, xi = s[A2].split(s[A2].op.axis[0], 8)
    s[A1].compute_at(s[A2], xo)
    bounds = _bounds(s)
    assert bounds[A1.op.axis[0]].extent.value == 8
    assert bounds[A1.op.axis[1]].extent == w
    assert bounds[xi].extent.value == 8
    assert bounds[xo].extent == (m + 7) // 8
    a = uniform(np.random.default_rng(0), (13, 5))
    out = empty((13, 5), "float32")
    tvm.build(s, [A, A2])(a, out)
    close(out, a + 3.0)


def test_tiles_after_normalize_and_a_reordered_thread_bound_split():
    m, w = te.var("m"), te.var("w")
    A, A1, A2 = _chain((m, w))
    s = te.create_schedule(A2.op)
    xo, yo, xi, yi = s[A2].tile(A2.op.axis[0], A2.op.axis[1], 8, 8)
    assert s.normalize() is s
    s[A1].compute_at(s[A2], yo)
    bounds = _bounds(s)
    assert (bounds[A1.op.axis[0]].extent.value, bounds[A1.op.axis[1]].extent.value) == (8, 8)

    A, A1, A2 = _chain((m, w))
    s = te.create_schedule(A2.op)
    s[A1].set_scope("shared")
    xo, xi = s[A2].split(A2.op.axis[0], 32)
    xi0, xi1 = s[A2].split(xi, nparts=16)
    s[A2].bind(xi0, te.thread_axis("threadIdx.x"))
    yo, yi = s[A2].split(A2.op.axis[1], 16)
    s[A2].reorder(xo, xi0, yo, xi1, yi)
    s[A1].compute_at(s[A2], yo)
    bounds = _bounds(s)  # shared: one tile for every thread of the block
    assert (bounds[A1.op.axis[0]].extent.value, bounds[A1.op.axis[1]].extent.value) == (32, 16)


@pytest.mark.parametrize("how", ["factor", "nparts"])
def test_a_split_larger_than_its_loop_runs_the_loop_once(how):
    X = te.placeholder((8,), name="X")
    EF = te.compute((8,), lambda i: X[i] * 2, name="EF")
    E = te.compute((8,), lambda i: EF[i] * 2, name="E")
    s = te.create_schedule([E.op])
    xo, xi = s[E].split(s[E].op.axis[0], **{how: 32})
    s[EF].compute_at(s[E], xo)
    bounds = _bounds(s)
    assert bounds[xi if how == "factor" else xo].extent.value == 8
    i = np.arange(8, dtype=np.float32)
    out = empty((8,), "float32")
    tvm.build(s, [X, E])(i, out)
    close(out, 4 * i)


def test_divisible_symbolic_splits_and_tiles():
    m, w = te.var("m"), te.var("w")
    A = te.placeholder((8 * m, 32 * w), name="A")
    B = te.compute((8 * m, 32 * w), lambda i, j: A[i, j], name="B")
    s = te.create_schedule(B.op)
    xo, yo, xi, yi = s[B].tile(B.op.axis[0], B.op.axis[1], 8, 32)
    bounds = _bounds(s)
    assert bounds[xo].extent == m and bounds[yo].extent == w
    assert (bounds[xi].extent.value, bounds[yi].extent.value) == (8, 32)


def test_a_producer_in_a_fused_and_split_loop():
    A, A1, A2 = _chain((4, 6))
    s = te.create_schedule(A2.op)
    fused = s[A2].fuse(A2.op.axis[0], A2.op.axis[1])
    xo, xi = s[A2].split(fused, 3)
    s[A1].compute_at(s[A2], xo)
    bounds = _bounds(s)
    assert (bounds[A1.op.axis[0]].extent.value, bounds[A1.op.axis[1]].extent.value) == (1, 3)
    assert bounds[xo].extent.value == 8
    assert str(tvm.lower(s, [A, A2], simple_mode=True)) == textwrap.dedent("""\
        func main(A: float32[4, 6], A2: float32[4, 6]) {
          for i.j.fused.outer in 0..8:
            allocate A1: float32[1, 3] in global
            for j in 0..3:
              A1[0, j] = A[i.j.fused.outer * 3 // 6, i.j.fused.outer * 3 % 6 + j]
            for i.j.fused.inner in 0..3:
              A2[(i.j.fused.outer * 3 + i.j.fused.inner) // 6, (i.j.fused.outer * 3 + i.j.fused.inner) % 6] = """
        """A1[(i.j.fused.outer * 3 + i.j.fused.inner) // 6 - i.j.fused.outer * 3 // 6, """
        """(i.j.fused.outer * 3 + i.j.fused.inner) % 6 - i.j.fused.outer * 3 % 6] + 3.0
        }""")
    a = uniform(np.random.default_rng(1), (4, 6))
    out = empty((4, 6), "float32")
    tvm.build(s, [A, A2])(a, out)
    close(out, a + 3.0)


def test_a_stencil_reads_a_window_of_three():
    n = te.var("n")
    A = te.compute((n + 2), lambda i: (i * i).astype("float32"), name="A")
    B = te.compute(n, lambda ii: A[ii] + A[ii + 1] * 2.0 + A[ii + 2], name="B")
    s = te.create_schedule(B.op)
    s[A].compute_at(s[B], B.op.axis[0])
    assert _bounds(s.normalize())[A.op.axis[0]].extent.value == 3
    out = empty((9,), "float32")
    tvm.build(s, [B])(out)
    a = np.arange(11.0) ** 2
    close(out, a[:-2] + 2 * a[1:-1] + a[2:])


def test_a_blur_reads_a_three_by_three_window_and_neighbours_at_minus_and_plus_one():
    A = te.compute((12, 12), lambda i, j: (i * 12 + j).astype("float32"), name="A")

    def blur(ii, jj):
        i, j = ii + 1, jj + 1
        return A[i][j] + A[i - 1][j] + A[i + 1][j] + A[i][j + 1] + A[i][j - 1]
    B = te.compute((10, 10), blur, name="B")
    s = te.create_schedule(B.op)
    s[A].compute_at(s[B], B.op.axis[1])
    bounds = _bounds(s)
    assert (bounds[A.op.axis[0]].extent.value, bounds[A.op.axis[1]].extent.value) == (3, 3)
    out = empty((10, 10), "float32")
    tvm.build(s, [B])(out)
    a = np.arange(144.0).reshape(12, 12)
    close(out, a[1:-1, 1:-1] + a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, 2:] + a[1:-1, :-2])


def test_a_producer_read_at_twice_the_index():
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: A[i] * 2.0, name="B")
    C = te.compute((8,), lambda i: B[2 * i] + B[2 * i + 1], name="C")
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], 4)
    s[B].compute_at(s[C], xo)
    bounds = _bounds(s)
    assert bounds[B.op.axis[0]].extent.value == 8
    assert str(tvm.lower(s, [A, C], simple_mode=True)) == textwrap.dedent("""\
        func main(A: float32[16], C: float32[8]) {
          for i.outer in 0..2:
            allocate B: float32[8] in global
            for i in 0..8:
              B[i] = A[i.outer * 8 + i] * 2.0
            for i.inner in 0..4:
              C[i.outer * 4 + i.inner] = B[i.inner * 2] + B[i.inner * 2 + 1]
        }""")
    a = np.arange(16, dtype=np.float32)
    out = empty((8,), "float32")
    tvm.build(s, [A, C])(a, out)
    close(out, 2 * (a[0::2] + a[1::2]))


def test_rfactor_bounds_of_a_conditional_sum():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    k = te.reduce_axis((0, n), name="k")
    B = te.compute((1,), lambda i: te.sum(A[k], axis=k, where=(i > 1)), name="B")
    s = te.create_schedule(B.op)
    kf, ki = s[B].split(k, nparts=4)
    BF = s.rfactor(B, kf)
    bounds = _bounds(s.normalize())
    assert (bounds[BF.op.axis[0]].extent.value, bounds[BF.op.axis[1]].extent.value) == (4, 1)
    out = empty((1,), "float32")
    tvm.build(s, [A, B])(np.ones(10, np.float32), out)
    close(out, [0.0])  # i > 1 never holds for i = 0


def test_a_group_attached_at_a_loop():
    m, n = te.var("m"), te.var("n")
    x = te.compute((m, n), lambda i, j: tvm.tir.const(1, "float32"), name="x")
    x1 = te.compute(x.shape, lambda *i: x(*i) + 1, name="x1")
    x2 = te.compute(x.shape, lambda *i: x1(*i) + 2, name="x2")
    s = te.create_schedule(x2.op)
    g = s.create_group(outputs=x1, inputs=x, include_inputs=True)
    g.compute_at(s[x2], x2.op.axis[0])
    assert s[x1].group == g and s[x].group == g
    bounds = _bounds(s.normalize())
    assert bounds[x.op.axis[0]].extent.value == 1 and bounds[x.op.axis[1]].extent == n
    out = empty((3, 5), "float32")
    tvm.build(s, [x2])(out)
    close(out, np.full((3, 5), 4.0))


def test_nested_groups():
    m, n = te.var("m"), te.var("n")
    x = te.compute((m, n), lambda i, j: tvm.tir.const(1, "float32"), name="x")
    x1 = te.compute(x.shape, lambda *i: x(*i) + 1, name="x1")
    x2 = te.compute(x.shape, lambda *i: x1(*i) + 2, name="x2")
    s = te.create_schedule(x2.op)
    g1 = s.create_group(outputs=x, inputs=x, include_inputs=True)
    g2 = s.create_group(outputs=x1, inputs=x, include_inputs=True)
    assert s[x].group == g1 and s[x1].group == g2
    g2.compute_at(s[x2], x2.op.axis[0])
    g1.compute_at(s[x1], s[x1].op.axis[1])
    bounds = _bounds(s.normalize())
    assert (bounds[x.op.axis[0]].extent.value, bounds[x.op.axis[1]].extent.value) == (1, 1)
    assert bounds[x1.op.axis[0]].extent.value == 1 and bounds[x1.op.axis[1]].extent == n
    out = empty((2, 3), "float32")
    tvm.build(s, [x2])(out)
    close(out, np.full((2, 3), 4.0))


def test_bounds_under_nested_thread_binding():
    m = te.var("m")
    A = te.placeholder((m,), name="A")
    A1 = te.compute((m,), lambda i: A[i], name="A1")
    A2 = te.compute((m,), lambda i: A1[i] + 2, name="A2")
    A3 = te.compute((m,), lambda i: A2[i] + 3, name="A3")
    s = te.create_schedule(A3.op)
    s[A2].set_scope("shared")
    s[A1].set_scope("local")
    thread_x = te.thread_axis("threadIdx.x")
    bx, tx = s[A3].split(A3.op.axis[0], factor=32)
    s[A3].bind(bx, te.thread_axis("blockIdx.x"))
    s[A3].bind(tx, thread_x)
    s[A2].compute_at(s[A3], tx)
    _, xi = s[A2].split(A2.op.axis[0], nparts=1)
    s[A2].bind(xi, thread_x)
    s[A1].compute_at(s[A3], tx)
    bounds = _bounds(s.normalize())
    assert (bounds[A1.op.axis[0]].extent.value, bounds[A2.op.axis[0]].extent.value) == (1, 32)
    assert bounds[A3.op.axis[0]].extent == m
    a = uniform(np.random.default_rng(2), (64,))
    out = empty((64,), "float32")
    tvm.build(s, [A, A3], "interp")(a, out)
    close(out, a + 5.0)


def test_gemm_tiles_on_threads():
    n = 1024
    A, B = te.placeholder((n, n), name="A"), te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    C = te.compute((n, n), lambda ii, jj: te.sum(A[ii, k] * B[jj, k], axis=k), name="CC")
    s = te.create_schedule(C.op)
    CC = s.cache_write(C, "local")
    AA, BB = s.cache_read(A, "shared", [CC]), s.cache_read(B, "shared", [CC])
    by, yi = s[C].split(C.op.axis[0], factor=64)
    bx, xi = s[C].split(C.op.axis[1], factor=64)
    s[C].reorder(by, bx, yi, xi)
    s[C].bind(by, te.thread_axis("blockIdx.y"))
    s[C].bind(bx, te.thread_axis("blockIdx.x"))
    ty, yi = s[C].split(yi, nparts=8)
    tx, xi = s[C].split(xi, nparts=8)
    s[C].reorder(ty, tx, yi, xi)
    s[C].bind(ty, te.thread_axis("threadIdx.y"))
    s[C].bind(tx, te.thread_axis("threadIdx.x"))
    yo, xo = CC.op.axis
    s[CC].reorder(k, yo, xo)
    s[CC].compute_at(s[C], tx)
    s[AA].compute_at(s[CC], k)
    s[BB].compute_at(s[CC], k)
    for T in (AA, BB):
        ty, xi = s[T].split(s[T].op.axis[0], nparts=8)
        tx, xi = s[T].split(xi, nparts=8)
        s[T].bind(ty, te.thread_axis("threadIdx.y"))
        s[T].bind(tx, te.thread_axis("threadIdx.x"))
    bounds = _bounds(s.normalize())
    assert (bounds[BB.op.axis[0]].extent.value, bounds[AA.op.axis[0]].extent.value) == (64, 64)
    assert (bounds[CC.op.axis[0]].extent.value, bounds[CC.op.axis[1]].extent.value) == (8, 8)


def test_a_symbolic_bound_has_no_constant_value():
    m = te.var("m")
    A = te.placeholder((m,), name="A")
    B = te.compute((m,), lambda i: A[i] + 1.0, name="B")
    bounds = _bounds(te.create_schedule(B.op))
    with pytest.raises(AttributeError, match=r"the bound m is symbolic and has no constant \.value; compare it "
                       r"with == or read \.expr"):
        _ = bounds[B.op.axis[0]].extent.value


def test_a_cache_inside_a_scan_step_and_the_scan_axis():
    m, n = te.var("m"), te.var("n")
    X = te.compute((m, n), lambda i, j: (i * 10 + j).astype("float32"), name="x")
    state = te.placeholder((m, n), name="state")
    init = te.compute((1, n), lambda _, i: X[0, i], name="init")
    update = te.compute((m, n), lambda t, i: state[t - 1, i] + X[t, i], name="update")
    res = te.scan(init, update, state, name="cumsum")
    s = te.create_schedule(res.op)
    XX = s.cache_read(X, "local", update)
    xo, xi = s[update].split(update.op.axis[1], factor=4)
    s[XX].compute_at(s[update], xo)
    bounds = _bounds(s.normalize())
    assert bounds[XX.op.axis[1]].extent.value == 4 and bounds[XX.op.axis[0]].extent.value == 1
    assert bounds[res.op.scan_axis].min.value == 1 and bounds[res.op.scan_axis].extent == m - 1
    assert str(tvm.te.schedule.ScheduleOps(s, bounds)).startswith("allocate x: float32[m, n] in global")
    out = empty((4, 6), "float32")
    tvm.build(s, [res])(out)
    close(out, np.cumsum(np.arange(4)[:, None] * 10.0 + np.arange(6), axis=0))


@pytest.mark.parametrize("name", ["InferBound", "ScheduleOps", "AutoInlineElemWise", "AutoInlineBroadcast",
                                  "AutoInlineInjective"])
def test_the_schedule_namespace_refuses_what_is_not_a_schedule(name):
    A = te.placeholder((3,), name="A")
    with pytest.raises(te.ScheduleError, match=rf"te.schedule.{name}: expected a schedule "
                       r"\(ns.create_schedule\(...\)\), got Tensor Tensor\(A, shape=\[3\], dtype=float32\)"):
        getattr(tvm.te.schedule, name)(A)
