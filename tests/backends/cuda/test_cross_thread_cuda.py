"""Cross-thread reductions in CUDA C: warp shuffles and shared memory in the source, nvcc
compiles it, and the host emulation of the kernels matches numpy (every thread of a block
running concurrently, the shuffles passing values between them)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import nestor as ns
from backends.cuda.nvcc import find_nvcc
from nestor import CodegenError
from schedules.templates.gpu_generic import gpu_generic
from tests.backends.cuda import host_emulation
from tests.catalogue import layer_norm


def _rows(n, m, factor, reducer=ns.sum, dtype="float32", y_threads=0):
    A = ns.placeholder((n, m), dtype, name="A")
    k = ns.reduce_axis(m, name="k")
    B = ns.compute((n,), lambda i: reducer(A[i, k], axis=k), name="B")
    s = ns.create_schedule(B)
    _, ki = s[B].split(k, factor=factor)
    if y_threads:
        io, ii = s[B].split(B.op.axis[0], factor=y_threads)
        s[B].bind(io, "blockIdx.x")
        s[B].bind(ii, "threadIdx.y")
    else:
        s[B].bind(B.op.axis[0], "blockIdx.x")
    s[B].bind(ki, "threadIdx.x")
    return s, [A, B]


def _tvm_example():
    A = ns.placeholder((6, 70), name="A")
    k = ns.reduce_axis(70, name="k")
    B = ns.compute((6,), lambda i: ns.sum(A[i, k], axis=k), name="B")
    s = ns.create_schedule(B)
    _, ki = s[B].split(k, factor=16)
    BF = s.rfactor(B, ki)
    xo, xi = s[B].split(s[B].op.axis[0], factor=2)
    s[B].bind(xo, "blockIdx.x")
    s[B].bind(xi, "threadIdx.y")
    s[B].bind(s[B].op.reduce_axis[0], "threadIdx.x")
    s[BF].compute_at(s[B], s[B].op.reduce_axis[0])
    s[BF].set_scope("local")
    return s, [A, B]


def _rfactor_bound():
    """The factored stage bound to threads (no cross-thread step): two kernels."""
    A = ns.placeholder((5, 100), name="A")
    k = ns.reduce_axis(100, name="k")
    B = ns.compute((5,), lambda i: ns.sum(A[i, k], axis=k), name="B")
    s = ns.create_schedule(B)
    _, ki = s[B].split(k, factor=32)
    BF = s.rfactor(B, ki)
    s[BF].bind(s[BF].op.axis[0], "threadIdx.x")
    s[BF].bind(s[BF].op.axis[1], "blockIdx.x")
    s[BF].reorder(s[BF].op.axis[1], s[BF].op.axis[0])
    s[B].bind(B.op.axis[0], "threadIdx.x")
    return s, [A, B]


def _softmax(rows=3, cols=300):
    X = ns.placeholder((rows, cols), name="X")
    k1, k2 = ns.reduce_axis(cols, "k"), ns.reduce_axis(cols, "k")
    M = ns.compute((rows,), lambda i: ns.max(X[i, k1], axis=k1), name="rowmax")
    S = ns.compute((rows,), lambda i: ns.sum(ns.exp(X[i, k2] - M[i]), axis=k2), name="expsum")
    Y = ns.compute((rows, cols), lambda i, j: ns.exp(X[i, j] - M[i]) / S[i], name="Y")
    return gpu_generic(Y), [X, Y]


def _row_sum_template():
    A = ns.placeholder((5, 1000), name="A")
    k = ns.reduce_axis(1000, "k")
    B = ns.compute((5,), lambda i: ns.sum(A[i, k], axis=k), name="B")
    return gpu_generic(B, reduce_threads=128), [A, B]


def _total_sum():
    A = ns.placeholder((3000,), name="A")
    k = ns.reduce_axis(3000, "k")
    B = ns.compute((1,), lambda _: ns.sum(A[k], axis=k), name="B")
    return gpu_generic(B), [A, B]


def _layer_norm():
    op = layer_norm()
    return gpu_generic(op.outputs, threads=32, reduce_threads=32), op.args


def _softmax_reference(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _layer_norm_reference(x, g, b):
    return layer_norm().reference([x, g, b])[0]


CASES = {
    "warps_2": (lambda: _rows(3, 100, 64), lambda a: a.sum(axis=1)),
    "half_warp_int": (lambda: _rows(4, 50, 16, dtype="int32"), lambda a: a.sum(axis=1)),
    "warps_8_max": (lambda: _rows(2, 1000, 256, ns.max), lambda a: a.max(axis=1)),
    "odd_7_min": (lambda: _rows(4, 7, 8, ns.min), lambda a: a.min(axis=1)),
    "odd_48": (lambda: _rows(3, 100, 48), lambda a: a.sum(axis=1)),
    "groups_y": (lambda: _rows(6, 90, 32, y_threads=3), lambda a: a.sum(axis=1)),
    "tvm_example": (_tvm_example, lambda a: a.sum(axis=1)),
    "rfactor_bound": (_rfactor_bound, lambda a: a.sum(axis=1)),
    "softmax_template": (_softmax, _softmax_reference),
    "row_sum_template": (_row_sum_template, lambda a: a.sum(axis=1)),
    "layer_norm_template": (_layer_norm, _layer_norm_reference),
    "total_sum_template": (_total_sum, lambda a: a.sum(keepdims=True)),
}


@pytest.fixture(scope="module")
def modules():
    built = {}
    for name, (make, _) in CASES.items():
        s, args = make()
        built[name] = (ns.build(s, args, target="cuda", name=name), args)
    return built


def test_source_uses_warp_shuffles_and_shared_memory(modules):
    source = modules["warps_2"][0].source
    assert "B_red[0] = nestor_allreduce(B_acc[0], 64, threadIdx.x, 64, nestor_sum_op());" in source
    assert "__shfl_down_sync(mask, value, offset, segment)" in source
    assert "__shared__ T scratch[32];" in source
    assert "if (k_inner == 0) {" in source
    grouped = modules["groups_y"][0].source
    assert "nestor_allreduce(B_acc[0], 32, (int)(threadIdx.x + 32 * (threadIdx.y + 3 * threadIdx.z)), 96, " \
        in grouped
    softmax = modules["softmax_template"][0]
    assert [launch.block for launch in softmax.launches][:2] == [(256, 1, 1), (256, 1, 1)]
    # kernels are named after the global tensor they write, not the register accumulator
    assert [launch.kernel for launch in softmax.launches] == [
        "softmax_template_rowmax", "softmax_template_expsum", "softmax_template_Y"]


def test_nvcc_compiles_every_case(modules):
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    with tempfile.TemporaryDirectory(prefix="nestor_allreduce_") as folder:
        path = Path(folder) / "allreduce.cu"
        path.write_text("\n".join(module.source for module, _ in modules.values()))
        done = subprocess.run([nvcc, "-arch=sm_90", "-c", str(path), "-o", str(Path(folder) / "a.o")],
                              capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-4000:]


def test_host_emulation_matches_numpy(modules):
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    names = list(modules)
    hosts = host_emulation.compile_host([modules[name][0] for name in names])
    rng = np.random.default_rng(0)
    for name, host in zip(names, hosts):
        module, args = modules[name]
        inputs = [rng.standard_normal(t.shape).astype(t.dtype.numpy) if t.dtype.is_float
                  else rng.integers(-50, 50, t.shape).astype(t.dtype.numpy) for t in args[:-1]]
        out = np.full(args[-1].shape, np.nan if args[-1].dtype.is_float else -7, args[-1].dtype.numpy)
        host(*inputs, out)
        want = CASES[name][1](*[x.astype(np.float64) if x.dtype.kind == "f" else x for x in inputs])
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5, err_msg=name)


def test_uneven_groups_are_refused():
    s, args = _rows(6, 90, 48, y_threads=2)
    with pytest.raises(CodegenError, match=r"cuda kernel f: a cross-thread reduction over 48 threads \(a "
                       r"reduction loop bound to threadIdx.x\) in blocks of \(48, 2, 1\) threads: with "
                       "threadIdx.y or threadIdx.z bound too, the reduction needs a power of two up to "
                       "32 or a multiple of 32 threads; split the reduction loop with such a factor"):
        ns.build(s, args, target="cuda", name="f")


def test_a_shorter_reduction_thread_loop_is_refused():
    # another stage makes the block wider than the reduction's thread loop: threads past it
    # would skip the combining step
    A = ns.placeholder((4, 64), name="A")
    k = ns.reduce_axis(64, name="k")
    B = ns.compute((4,), lambda i: ns.sum(A[i, k], axis=k), name="B")
    C = ns.compute((4, 64), lambda i, j: A[i, j] + B[i], name="C")
    s = ns.create_schedule(C)
    _, ki = s[B].split(k, factor=32)
    s[B].bind(ki, "threadIdx.x")
    s[B].compute_at(s[C], C.op.axis[0])
    s[B].set_scope("shared")
    s[C].bind(C.op.axis[0], "blockIdx.x")
    s[C].bind(C.op.axis[1], "threadIdx.x")
    with pytest.raises(CodegenError, match="loop k.inner bound to threadIdx.x has extent 32 but the block "
                       r"has 64 threads .* it contains a barrier \(__syncthreads\(\)\) that the threads past "
                       "the guard would never reach"):
        ns.build(s, [A, C], target="cuda")
    from backends.interp.runtime import BarrierDivergence

    with pytest.raises(BarrierDivergence, match="32 threads of a block wait at a barrier that 32 threads never reach"):
        ns.build(s, [A, C], target="interp")(np.ones((4, 64), np.float32), np.zeros((4, 64), np.float32))
