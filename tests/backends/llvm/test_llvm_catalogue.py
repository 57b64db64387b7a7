"""The LLVM backend against numpy: every catalogue operator, loop kinds, tails, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from backends.llvm.target import host_target
from schedules import templates
from tests.catalogue import CATALOGUE, assert_outputs_match, by_name, run_module


@pytest.mark.parametrize("builder", CATALOGUE, ids=lambda b: b.__name__)
def test_catalogue_default_schedule(builder, rng):
    op = builder()
    s = ns.create_schedule(op.outputs)
    module = ns.build(s, op.args, target="llvm", name=op.name)
    inputs = op.make_inputs(rng)
    assert_outputs_match(run_module(module, op, inputs), op.reference(inputs))


def _flat_vector(s, tensor, lanes: int, parallel: bool) -> None:
    stage = s[tensor]
    axes = list(stage.op.axis)
    fused = stage.fuse(*axes) if len(axes) > 1 else axes[0]
    outer, inner = stage.split(fused, factor=lanes)
    stage.vectorize(inner)
    if parallel:
        stage.parallel(outer)


@pytest.mark.parametrize("name", ["relu", "bias_add", "elementwise_chain", "elementwise_int32",
                                  "transpose", "pixel_shuffle", "softmax", "layer_norm"])
@pytest.mark.parametrize("lanes", [4, 8, 16])
def test_vectorized_with_tails(name, lanes, rng):
    op = by_name(name)
    s = ns.create_schedule(op.outputs)
    for stage in s.stages:
        if stage.op in [t.op for t in op.outputs] and not stage.op.reduce_axis:
            _flat_vector(s, stage.op.output, lanes, parallel=lanes == 8)
    module = ns.build(s, op.args, target="llvm")
    inputs = op.make_inputs(rng)
    assert_outputs_match(run_module(module, op, inputs), op.reference(inputs))


def test_vector_code_in_assembly():
    A = ns.placeholder((1024,), name="A")
    B = ns.compute((1024,), lambda i: A[i] * 2.0 + 1.0, name="B")
    s = ns.create_schedule(B)
    outer, inner = s[B].split(B.op.axis[0], factor=16)
    s[B].vectorize(inner)
    module = ns.build(s, [A, B], target="llvm", name="scale")
    assert "<16 x float>" in module.source
    assert "zmm" in module.asm or "ymm" in module.asm
    a = np.arange(1024, dtype=np.float32)
    b = np.zeros_like(a)
    module(a, b)
    np.testing.assert_allclose(b, a * 2 + 1)


@pytest.mark.parametrize("transpose_b", [True, False])
@pytest.mark.parametrize("pack_b", [True, False])
@pytest.mark.parametrize("b3", [None, 8])
def test_matmul_template(transpose_b, pack_b, b3, rng):
    m, n, k = 37, 45, 23
    s, args = templates.matmul_cpu(m, n, k, v1=4, v2=8, v3=4, b1=16, b2=16, b3=b3,
                                   transpose_b=transpose_b, pack_b=pack_b)
    module = ns.build(s, args, target="llvm")
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(np.float32)
    c = np.full((m, n), np.nan, np.float32)
    module(a, b, c)
    np.testing.assert_allclose(c, a @ (b.T if transpose_b else b), rtol=1e-4, atol=1e-4)


def test_conv2d_template(rng):
    s, args = templates.conv2d_cpu(2, 3, 13, 11, 4, 3, tile_y=8, tile_x=8)
    module = ns.build(s, args, target="llvm")
    x = rng.standard_normal((2, 3, 13, 11)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = np.full((2, 4, 13, 11), np.nan, np.float32)
    module(x, w, y)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = sum(np.einsum("nchw,kc->nkhw", xp[:, :, r:r + 13, q:q + 11], w[:, :, r, q])
              for r in range(3) for q in range(3))
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def test_softmax_and_elementwise_templates(rng):
    s, args = templates.softmax_cpu(5, 37)
    module = ns.build(s, args, target="llvm")
    a = rng.standard_normal((5, 37)).astype(np.float32)
    b = np.zeros_like(a)
    module(a, b)
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(b, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    s, args = templates.elementwise_cpu((7, 33), lambda x, y: ns.maximum(x * y, 0.0) - ns.exp(y))
    module = ns.build(s, args, target="llvm")
    x, y = rng.standard_normal((2, 7, 33)).astype(np.float32)
    out = np.zeros_like(x)
    module(x, y, out)
    np.testing.assert_allclose(out, np.maximum(x * y, 0) - np.exp(y), rtol=1e-5, atol=1e-6)


def test_unrolled_and_parallel_loops(rng):
    A = ns.placeholder((13, 10), name="A")
    B = ns.compute((13, 10), lambda i, j: A[i, j] * A[i, j], name="B")
    s = ns.create_schedule(B)
    i, j = B.op.axis
    io, ii = s[B].split(i, factor=4)
    s[B].parallel(io)
    s[B].unroll(ii)
    s[B].unroll(j)
    module = ns.build(s, [A, B], target="llvm")
    a = rng.standard_normal((13, 10)).astype(np.float32)
    b = np.full_like(a, np.nan)
    module(a, b)
    np.testing.assert_allclose(b, a * a)


def test_parallel_loops_start_a_thread_team():
    s, args = templates.matmul_cpu(64, 64, 64, parallel=True)
    module = ns.build(s, args, target="llvm")
    # Nestor's pool where it runs (NESTOR_THREAD_POOL), libgomp's team otherwise; both forms are
    # checked in tests/backends/llvm/test_pool.py
    runtime = "nestor_pool_run" if host_target().pool else "GOMP_parallel"
    assert runtime in module.source


def test_gpu_bound_loops_are_refused():
    s, args = templates.window_sum_gpu(64)
    with pytest.raises(ns.CodegenError, match=r"bound to .*only a GPU has; build with target='cuda'"):
        ns.build(s, args, target="llvm")


@pytest.mark.parametrize("bad, match", [
    (lambda a, b: (a,), r"expected 2 arrays \(A, B\), got 1"),
    (lambda a, b: (a.astype(np.float64), b), r"argument 0 \(A\) must have dtype float32, got float64"),
    (lambda a, b: (a[:, :5], b), r"argument 0 \(A\) must have shape \[13, 10\], got \[13, 5\]"),
    (lambda a, b: (np.asfortranarray(a), b), r"argument 0 \(A\) must be C-contiguous"),
    (lambda a, b: (a.tolist(), b), r"argument 0 \(A\) must be a numpy array float32\[13, 10\], got list"),
])
def test_argument_errors_match_the_interpreter(bad, match):
    A = ns.placeholder((13, 10), name="A")
    B = ns.compute((13, 10), lambda i, j: A[i, j] + 1.0, name="B")
    s = ns.create_schedule(B)
    a = np.zeros((13, 10), np.float32)
    b = np.zeros((13, 10), np.float32)
    for target in ("interp", "llvm"):
        with pytest.raises(ns.ArgumentError, match=match):
            ns.build(s, [A, B], target=target)(*bad(a, b))


def test_concurrent_calls_of_a_kernel_with_a_kept_workspace(rng):
    from concurrent.futures import ThreadPoolExecutor

    n = 160  # B.packed is 100 KiB: a kept workspace, not a stack slot
    s, args = templates.matmul_cpu(n, n, n, parallel=False)
    module = ns.build(s, args, target="llvm")
    problems = [(rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((n, n)).astype(np.float32))
                for _ in range(8)]

    def run(pair):
        a, b = pair
        c = np.full((n, n), np.nan, np.float32)
        for _ in range(5):
            module(a, b, c)
        return np.abs(c - a @ b.T).max()

    with ThreadPoolExecutor(4) as pool:
        errors = list(pool.map(run, problems))
    assert max(errors) < 1e-3
