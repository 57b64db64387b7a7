"""TVM te programs bound to GPU threads (through :mod:`te_shim`): the get-started vector add on
a GPU, a shared-memory tiled matmul, cross-thread reductions (the reduction tutorial's rfactor
form too), TVM's default storage scope of a stage attached inside thread loops, storage_align,
thread_axis with a range. Each runs on the interpreter (CUDA's semantics) and as CUDA C on the
host CPU (tests/backends/cuda/host_emulation.py) against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.cuda import host_emulation

from .helpers import check_on_interpreter, close, empty, inputs_for
from .te_shim import te, tvm


def vector_add():
    n = 1000
    A = te.placeholder((n,), name="A")
    B = te.placeholder((n,), name="B")
    C = te.compute(A.shape, lambda i: A[i] + B[i], name="C")
    s = te.create_schedule(C.op)
    bx, tx = s[C].split(C.op.axis[0], factor=64)
    s[C].bind(bx, te.thread_axis("blockIdx.x"))
    s[C].bind(tx, te.thread_axis("threadIdx.x"))
    return s, [A, B, C], lambda a, b: a + b


def shared_matmul():
    n, tile = 64, 16
    A = te.placeholder((n, n), name="A")
    B = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), "k")
    C = te.compute((n, n), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    AA, BB = s.cache_read(A, "shared", [C]), s.cache_read(B, "shared", [C])
    CL = s.cache_write(C, "local")
    by, bx, ty, tx = s[C].tile(C.op.axis[0], C.op.axis[1], tile, tile)
    for loop, tag in ((by, "blockIdx.y"), (bx, "blockIdx.x"), (ty, "threadIdx.y"), (tx, "threadIdx.x")):
        s[C].bind(loop, te.thread_axis(tag))
    s[CL].compute_at(s[C], tx)
    ko, ki = s[CL].split(s[CL].op.reduce_axis[0], factor=tile)
    for cache in (AA, BB):
        s[cache].compute_at(s[CL], ko)
        y, x = s[cache].op.axis
        s[cache].bind(y, te.thread_axis("threadIdx.y"))
        s[cache].bind(x, te.thread_axis("threadIdx.x"))
        s[cache].storage_align(y, 16, 1)
    return s, [A, B, C], lambda a, b: a @ b


def cross_thread_sum():
    A = te.placeholder((16, 64), name="A")
    k = te.reduce_axis((0, 64), "k")
    B = te.compute((16,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=32)
    s[B].bind(B.op.axis[0], te.thread_axis("blockIdx.x"))
    s[B].bind(ki, te.thread_axis("threadIdx.x"))
    return s, [A, B], lambda a: a.sum(axis=1)


def rfactor_tutorial(n=70, m=45):
    """The reduction tutorial's cross-thread reduction: B.rf is given no scope."""
    A = te.placeholder((n, m), name="A")
    k = te.reduce_axis((0, m), "k")
    B = te.compute((n,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=16)
    BF = s.rfactor(B, ki)
    xo, xi = s[B].split(s[B].op.axis[0], factor=32)
    s[B].bind(xo, te.thread_axis("blockIdx.x"))
    s[B].bind(xi, te.thread_axis("threadIdx.y"))
    tx = te.thread_axis("threadIdx.x")
    s[B].bind(s[B].op.reduce_axis[0], tx)
    s[BF].compute_at(s[B], s[B].op.reduce_axis[0])
    s[B].set_store_predicate(tx.var.equal(0))
    return s, [A, B], lambda a: a.sum(axis=1)


def block_staged():
    """B computed per block (attached at the blockIdx loop, threads bound): shared by default."""
    A = te.placeholder((8, 64), name="A")
    B = te.compute((8, 64), lambda i, j: A[i, j] * 2.0, name="B")
    C = te.compute((8, 64), lambda i, j: B[i, 63 - j] + 1.0, name="C")
    s = te.create_schedule(C.op)
    s[C].bind(C.op.axis[0], te.thread_axis("blockIdx.x"))
    s[C].bind(C.op.axis[1], te.thread_axis((0, 64), "threadIdx.x"))
    s[B].compute_at(s[C], C.op.axis[0])
    s[B].bind(s[B].op.axis[1], te.thread_axis(tag="threadIdx.x"))
    return s, [A, C], lambda a: a[:, ::-1] * 2.0 + 1.0


PROGRAMS = {"vector_add": vector_add, "shared_matmul": shared_matmul, "cross_thread_sum": cross_thread_sum,
            "rfactor_tutorial": rfactor_tutorial, "block_staged": block_staged}


@pytest.mark.parametrize("name", PROGRAMS)
def test_interpreter_runs_cudas_semantics(name, rng):
    check_on_interpreter(tvm.build, PROGRAMS[name], rng)


@pytest.fixture(scope="module")
def host_modules():
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    built = {}
    for name, program in PROGRAMS.items():
        s, args, reference = program()
        built[name] = (tvm.build(s, args, target="cuda", name=name), args, reference)
    hosts = host_emulation.compile_host([module for module, _, _ in built.values()])
    return {name: (host, args, reference) for (name, (_, args, reference)), host in zip(built.items(), hosts)}


@pytest.mark.parametrize("name", PROGRAMS)
def test_cuda_source_runs_on_the_host(name, host_modules, rng):
    host, args, reference = host_modules[name]
    ins = inputs_for(args, rng)
    out = empty(args[-1].shape, args[-1].dtype)
    host(*ins, out)
    close(out, reference(*[x.astype(np.float64) for x in ins]), rtol=1e-4, atol=1e-5)


def test_a_stage_attached_in_thread_loops_is_local_by_default():
    n, m = te.var("n"), te.var("m")
    s, args, _ = rfactor_tutorial(n, m)
    assert str(tvm.lower(s, args, simple_mode=True)) == """\
func main(A: float32[n, m], B: float32[n]) {
  for i.outer in 0..(n - 1) // 32 + 1 [blockIdx.x]:
    for i.inner in 0..32 [threadIdx.y]:
      allocate B.acc: float32[1] in local
      allocate B.red: float32[1] in local
      for k.inner in 0..16 [threadIdx.x]:
        allocate B.rf: float32[1, 1] in local
        if i.outer * 32 + i.inner < n:
          B.rf[0, 0] = 0.0
        if i.outer * 32 + i.inner < n:
          for k.outer in 0..(m - 1) // 16 + 1:
            B.rf[0, 0] = B.rf[0, 0] + if_then_else(k.outer * 16 + k.inner < m, A[i.outer * 32 + i.inner, \
k.outer * 16 + k.inner], 0.0)
        B.acc[0] = 0.0
        if i.outer * 32 + i.inner < n:
          B.acc[0] = B.acc[0] + B.rf[0, 0]
        B.red[0] = thread_allreduce_sum(B.acc[0], threadIdx.x < 16)
        if k.inner == 0 and i.outer * 32 + i.inner < n and k.inner == 0:
          B[i.outer * 32 + i.inner] = B.red[0]
}"""
    assert "float B_rf[1];" in tvm.build(s, args, target="cuda").source  # a register: symbolic n builds


def test_a_stage_attached_in_block_loops_is_shared_by_default_and_a_given_scope_stays():
    s, args, _ = block_staged()
    text = str(tvm.lower(s, args))
    assert "allocate B: float32[1, 64] in shared" in text and "barrier()" in text
    B = args[-1].op.input_tensors[0]
    s[B].set_scope("global")
    assert "allocate B: float32[8, 64] in global" in str(tvm.lower(s, args))  # every block's rows


def test_thread_axis_forms_and_a_range_shorter_than_the_loop():
    assert te.thread_axis((0, 32), "threadIdx.x").extent == 32
    assert te.thread_axis(tag="blockIdx.y").thread_tag == "blockIdx.y"
    assert te.thread_axis(64, "threadIdx.y").extent == 64
    A = te.placeholder((100,), name="A")
    C = te.compute((100,), lambda i: A[i] * 2.0, name="C")
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=64)
    with pytest.raises(te.ScheduleError, match=r"s\[C\].bind\(i.inner, 'threadIdx.x'\): loop i.inner has 64 "
                       r"iterations but the thread axis has the range \(0, 32\); split i.inner by 32 and bind "
                       "the inner loop"):
        s[C].bind(xi, te.thread_axis((0, 32), "threadIdx.x"))
    with pytest.raises(te.ScheduleError, match=r"thread_axis\(\(1, 32\), 'threadIdx.x'\): the range must be "
                       r"\(0, extent\) with a constant positive extent, or leave it out"):
        te.thread_axis((1, 32), "threadIdx.x")


def test_a_thread_loop_around_a_block_loop_is_refused_by_the_interpreter():
    s, args, _ = vector_add()
    C = args[-1]
    s[C].reorder(*s[C].leaves[::-1])
    with pytest.raises(te.CodegenError, match="interp: loop i.outer bound to blockIdx.x sits inside loop "
                       "i.inner bound to threadIdx.x; blockIdx loops must enclose the threadIdx loops: reorder"):
        tvm.build(s, args, target="interp")
