"""TVM's virtual threads (``te.thread_axis("vthread")``) through :mod:`te_shim`: the whole of
TVM's tutorial "How to optimize convolution on GPU" (padded input inlined, shared and local
caches, a local output cache, blockIdx.z/y/x, two vthread axes, threadIdx.y/x) and the vthread
schedule of TVM's GPU GEMM recipe (transposed A, double-buffered shared tiles), at reduced
sizes; a vthread loop on a CPU target; the printed nest. Each runs on the interpreter (CUDA's
semantics) and as CUDA C on the host CPU, against numpy; the CUDA source compiles with nvcc."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cuda.nvcc import compile_cuda, find_nvcc
from tests.backends.cuda import host_emulation
from tests.schedules.helpers import check_roundtrip

from .helpers import check_on_interpreter, close, empty, inputs_for, uniform
from .te_shim import te, tvm


def opt_conv(batch=64, in_channel=8, out_channel=64, in_size=3, kernel=3, pad=1, stride=1):
    """The tutorial's definition and schedule, unchanged but for the sizes."""
    A = te.placeholder((in_size, in_size, in_channel, batch), name="A")
    W = te.placeholder((kernel, kernel, in_channel, out_channel), name="W")
    out_size = (in_size - kernel + 2 * pad) // stride + 1
    Apad = te.compute(
        (in_size + 2 * pad, in_size + 2 * pad, in_channel, batch),
        lambda yy, xx, cc, nn: te.if_then_else(
            te.all(yy >= pad, yy - pad < in_size, xx >= pad, xx - pad < in_size),
            A[yy - pad, xx - pad, cc, nn], te.const(0.0, "float32")),
        name="Apad")
    rc = te.reduce_axis((0, in_channel), name="rc")
    ry = te.reduce_axis((0, kernel), name="ry")
    rx = te.reduce_axis((0, kernel), name="rx")
    B = te.compute(
        (out_size, out_size, out_channel, batch),
        lambda yy, xx, ff, nn: te.sum(
            Apad[yy * stride + ry, xx * stride + rx, rc, nn] * W[ry, rx, rc, ff], axis=[ry, rx, rc]),
        name="B")
    s = te.create_schedule(B.op)
    s[Apad].compute_inline()
    AA = s.cache_read(Apad, "shared", [B])
    WW = s.cache_read(W, "shared", [B])
    AL = s.cache_read(AA, "local", [B])
    WL = s.cache_read(WW, "local", [B])
    BL = s.cache_write(B, "local")
    num_thread, block_factor, step, vthread = 8, 64, 8, 2
    block_x, block_y, block_z = (te.thread_axis(f"blockIdx.{a}") for a in "xyz")
    thread_x = te.thread_axis((0, num_thread), "threadIdx.x")
    thread_y = te.thread_axis((0, num_thread), "threadIdx.y")
    thread_xz = te.thread_axis((0, vthread), "vthread", name="vx")
    thread_yz = te.thread_axis((0, vthread), "vthread", name="vy")
    hi, wi, fi, ni = s[B].op.axis
    bz = s[B].fuse(hi, wi)
    by, fi = s[B].split(fi, factor=block_factor)
    bx, ni = s[B].split(ni, factor=block_factor)
    tyz, fi = s[B].split(fi, nparts=vthread)
    txz, ni = s[B].split(ni, nparts=vthread)
    ty, fi = s[B].split(fi, nparts=num_thread)
    tx, ni = s[B].split(ni, nparts=num_thread)
    s[B].reorder(bz, by, bx, tyz, txz, ty, tx, fi, ni)
    for loop, axis in ((bz, block_z), (by, block_y), (bx, block_x), (tyz, thread_yz), (txz, thread_xz),
                       (ty, thread_y), (tx, thread_x)):
        s[B].bind(loop, axis)
    s[BL].compute_at(s[B], tx)
    yi, xi, fi, ni = s[BL].op.axis
    ry, rx, rc = s[BL].op.reduce_axis
    rco, rci = s[BL].split(rc, factor=step)
    s[BL].reorder(rco, ry, rx, rci, fi, ni)
    s[AA].compute_at(s[BL], rx)  # before AL, AA's reader, is attached inside BL (TVM's order)
    s[WW].compute_at(s[BL], rx)
    s[AL].compute_at(s[BL], rci)
    s[WL].compute_at(s[BL], rci)
    for cache in (AA, WW):
        yi, xi, ci, ni = s[cache].op.axis
        ty, ci = s[cache].split(ci, nparts=num_thread)
        tx, ni = s[cache].split(ni, nparts=num_thread)
        _, ni = s[cache].split(ni, factor=4)
        s[cache].reorder(ty, tx, yi, xi, ci, ni)
        s[cache].bind(ty, thread_y)
        s[cache].bind(tx, thread_x)
        s[cache].vectorize(ni)

    def reference(a, w):
        padded = np.pad(a, ((pad, pad), (pad, pad), (0, 0), (0, 0)))
        out = np.zeros((out_size, out_size, out_channel, batch))
        for y in range(out_size):
            for x in range(out_size):
                window = padded[y * stride:y * stride + kernel, x * stride:x * stride + kernel]
                out[y, x] = np.einsum("abcn,abcf->fn", window, w)
        return out

    return s, [A, W, B], reference


def gemm_recipe(n=64, k_len=32):
    """TVM's cuda_gemm_square recipe (C = A^T B), its vthread schedule at a reduced size."""
    A = te.placeholder((k_len, n), name="A")
    B = te.placeholder((k_len, n), name="B")
    k = te.reduce_axis((0, k_len), name="k")
    C = te.compute((n, n), lambda ii, jj: te.sum(A[k, ii] * B[k, jj], axis=k), name="C")
    s = te.create_schedule(C.op)
    AA = s.cache_read(A, "shared", [C])
    BB = s.cache_read(B, "shared", [C])
    AL = s.cache_read(AA, "local", [C])
    BL = s.cache_read(BB, "local", [C])
    CC = s.cache_write(C, "local")
    scale, num_thread = 2, 8
    block_factor = scale * num_thread * 2
    block_x, block_y = te.thread_axis("blockIdx.x"), te.thread_axis("blockIdx.y")
    thread_x = te.thread_axis((0, num_thread), "threadIdx.x")
    thread_y = te.thread_axis((0, num_thread), "threadIdx.y")
    thread_xz = te.thread_axis((0, 2), "vthread", name="vx")
    thread_yz = te.thread_axis((0, 2), "vthread", name="vy")
    by, yi = s[C].split(C.op.axis[0], factor=block_factor)
    bx, xi = s[C].split(C.op.axis[1], factor=block_factor)
    s[C].bind(by, block_y)
    s[C].bind(bx, block_x)
    s[C].reorder(by, bx, yi, xi)
    tyz, yi = s[C].split(yi, nparts=2)
    ty, yi = s[C].split(yi, nparts=num_thread)
    txz, xi = s[C].split(xi, nparts=2)
    tx, xi = s[C].split(xi, nparts=num_thread)
    s[C].bind(tyz, thread_yz)
    s[C].bind(txz, thread_xz)
    s[C].bind(ty, thread_y)
    s[C].bind(tx, thread_x)
    s[C].reorder(tyz, txz, ty, tx, yi, xi)
    s[CC].compute_at(s[C], tx)
    yo, xo = CC.op.axis
    ko, ki = s[CC].split(k, factor=8)
    kt, ki = s[CC].split(ki, factor=1)
    s[CC].reorder(ko, kt, ki, yo, xo)
    s[AA].compute_at(s[CC], ko)
    s[BB].compute_at(s[CC], ko)
    s[CC].unroll(kt)
    s[AL].compute_at(s[CC], kt)
    s[BL].compute_at(s[CC], kt)
    for cache in (AA, BB):
        ty, xi = s[cache].split(s[cache].op.axis[0], nparts=num_thread)
        _, xi = s[cache].split(s[cache].op.axis[1], factor=num_thread * 2)
        tx, xi = s[cache].split(xi, nparts=num_thread)
        s[cache].bind(ty, thread_y)
        s[cache].bind(tx, thread_x)
        s[cache].vectorize(xi)
        s[cache].double_buffer()
    return s, [A, B, C], lambda a, b: a.T @ b


PROGRAMS = {"opt_conv": opt_conv, "gemm_recipe": gemm_recipe}


@pytest.mark.parametrize("name", PROGRAMS)
def test_interpreter_runs_the_tutorials_vthread_schedules(name, rng):
    check_on_interpreter(tvm.build, PROGRAMS[name], rng)


@pytest.fixture(scope="module")
def cuda_modules():
    built = {}
    for name, program in PROGRAMS.items():
        s, args, reference = program()
        built[name] = (tvm.build(s, args, target="cuda", name=name), args, reference)
    return built


def test_the_cuda_sources_compile_with_nvcc(cuda_modules):
    if find_nvcc() is None:
        pytest.skip("nvcc is not installed")
    compile_cuda("\n".join(module.source for module, _, _ in cuda_modules.values()))


@pytest.fixture(scope="module")
def host_modules(cuda_modules):
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    built = cuda_modules
    hosts = host_emulation.compile_host([module for module, _, _ in built.values()])
    return {name: (host, args, reference) for (name, (_, args, reference)), host in zip(built.items(), hosts)}


@pytest.mark.parametrize("name", PROGRAMS)
def test_cuda_source_of_the_vthread_schedules_runs_on_the_host(name, host_modules, rng):
    host, args, reference = host_modules[name]
    ins = inputs_for(args, rng)
    out = empty(args[-1].shape, args[-1].dtype)
    host(*ins, out)
    close(out, reference(*[x.astype(np.float64) for x in ins]), rtol=1e-4, atol=1e-5)


def small_vthread(tag="vthread"):
    A = te.placeholder((2, 8), name="A")
    B = te.compute((2, 8), lambda i, j: A[i, j] * 2.0, name="B")
    s = te.create_schedule(B.op)
    BL = s.cache_write(B, "local")
    vo, vi = s[B].split(B.op.axis[1], nparts=2)
    s[B].bind(B.op.axis[0], te.thread_axis("blockIdx.x"))
    s[B].bind(vo, te.thread_axis((0, 2), tag, name="vx"))
    s[B].bind(vi, te.thread_axis("threadIdx.x"))
    s[BL].compute_at(s[B], vi)
    return s, [A, B]


def test_a_vthread_loop_is_a_serial_loop_around_the_threads_it_encloses():
    s, args = small_vthread()
    assert str(tvm.lower(s, args)) == """\
func main(A: float32[2, 8], B: float32[2, 8]) {
  for i in 0..2 [blockIdx.x]:
    for j.outer in 0..2 [vthread]:
      for j.inner in 0..4 [threadIdx.x]:
        allocate B.local: float32[1, 1] in local
        B.local[0, 0] = A[i, j.outer * 4 + j.inner] * 2.0
        B[i, j.outer * 4 + j.inner] = B.local[0, 0]
}"""
    source = tvm.build(s, args, target="cuda").source
    assert "for (int j_outer = 0; j_outer < 2; ++j_outer) {" in source and "block (4, 1, 1)" in source


@pytest.mark.parametrize("tag", ["vthread", "cthread"])
def test_vthread_on_a_cpu_target_runs_serially(tag, rng):
    A = te.placeholder((12,), name="A")
    B = te.compute((12,), lambda i: A[i] + 1.0, name="B")
    s = te.create_schedule(B.op)
    vo, vi = s[B].split(B.op.axis[0], nparts=3)
    s[B].bind(vo, te.thread_axis(tag))
    s[B].bind(vi, "vthread")  # a string binds too, and two loops of a stage may be virtual threads
    a = uniform(rng, (12,))
    for target in ("llvm", "interp"):
        out = empty((12,), "float32")
        tvm.build(s, [A, B], target=target)(a, out)
        close(out, a + 1.0)


def test_a_reduction_loop_bound_to_a_vthread_is_refused():
    A = te.placeholder((4, 8), name="A")
    k = te.reduce_axis((0, 8), name="k")
    B = te.compute((4,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    with pytest.raises(te.ScheduleError, match=r"s\[B\].bind\(k, 'vthread'\): k is a reduction loop; bound to "
                       r"vthread its iterations would race on the accumulator; bind it to 'threadIdx.x' for a "
                       "cross-thread reduction"):
        s[B].bind(k, te.thread_axis("vthread"))


@pytest.mark.parametrize("name", PROGRAMS)
def test_the_vthread_schedules_replay_from_their_traces(name):
    s, args, _ = PROGRAMS[name]()
    check_roundtrip(s, args)  # vthread binds, caches and TVM's attach order, through JSON
