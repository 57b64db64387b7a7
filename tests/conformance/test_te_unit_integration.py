"""TVM's te integration programs not covered elsewhere (tests/python/integration: test_dot,
test_scan, test_gemm) through :mod:`te_shim`: a dot product on LLVM, a scan followed by a
compute with every stage bound to blocks and threads (``thread_axis(None, "blockIdx.x")``), and
the shared-memory GEMM with register caches, double-buffered tiles and threads in two dimensions
(at 64 instead of 1024). GPU programs run on the interpreter (CUDA's semantics); values against
numpy."""

from __future__ import annotations

import numpy as np

from .helpers import close, empty, uniform
from .te_shim import te, tvm

_RNG = np.random.default_rng(41)


def test_a_dot_product():
    A, B = te.placeholder((12,), name="A"), te.placeholder((12,), name="B")
    k = te.reduce_axis((0, 12), "k")
    C = te.compute((1,), lambda _: te.sum(A[k] * B[k], axis=k), name="C")
    a, b, c = uniform(_RNG, (12,)), uniform(_RNG, (12,)), empty((1,), "float32")
    tvm.build(te.create_schedule(C.op), [A, B, C], "llvm")(a, b, c)
    close(c, [a.astype(np.float64) @ b], rtol=1e-5, atol=1e-6)


def test_a_scan_then_a_compute_on_blocks_and_threads():
    m, n = te.size_var("m"), te.size_var("n")
    X, state = te.placeholder((m, n), name="X"), te.placeholder((m, n), name="state")
    init = te.compute((1, n), lambda _, i: X[0, i], name="init")
    update = te.compute((m, n), lambda t, i: state[t - 1, i] + X[t, i], name="update")
    scan = te.scan(init, update, state)
    res = te.compute((m, n), lambda i, j: scan[i, j], name="res")
    s = te.create_schedule(res.op)
    block_x, thread_x = te.thread_axis(None, "blockIdx.x"), te.thread_axis((0, 32), "threadIdx.x")
    for stage in (init, update, res):
        outer, inner = s[stage].split(stage.op.axis[1], factor=32)
        s[stage].bind(outer, block_x)
        s[stage].bind(inner, thread_x)
    x, out = uniform(_RNG, (6, 70)), empty((6, 70), "float32")
    tvm.build(s, [X, res], "interp", name="myscan")(x, out)
    close(out, np.cumsum(x.astype(np.float64), axis=0), rtol=1e-5, atol=1e-5)


def test_the_shared_memory_gemm_with_double_buffered_tiles():
    size, threads = 64, 8
    A, B = te.placeholder((size, size), name="A"), te.placeholder((size, size), name="B")
    k = te.reduce_axis((0, size), name="k")
    C = te.compute((size, size), lambda i, j: te.sum(A[i, k] * B[j, k], axis=k), name="CC")
    s = te.create_schedule(C.op)
    CL = s.cache_write(C, "local")
    AA, BB = s.cache_read(A, "shared", [CL]), s.cache_read(B, "shared", [CL])
    by, yi = s[C].split(C.op.axis[0], factor=threads * 4)
    bx, xi = s[C].split(C.op.axis[1], factor=threads * 4)
    s[C].reorder(by, bx, yi, xi)
    ty, yi = s[C].split(yi, nparts=threads)
    tx, xi = s[C].split(xi, nparts=threads)
    s[C].reorder(ty, tx, yi, xi)
    for loop, tag in ((by, "blockIdx.y"), (bx, "blockIdx.x"), (ty, "threadIdx.y"), (tx, "threadIdx.x")):
        s[C].bind(loop, te.thread_axis(tag))
    s[CL].reorder(k, *CL.op.axis)
    s[CL].compute_at(s[C], tx)
    for cache in (AA, BB):
        s[cache].compute_at(s[CL], k)
        s[cache].double_buffer()
        cy, rest = s[cache].split(s[cache].op.axis[0], nparts=threads)
        cx, _ = s[cache].split(rest, nparts=threads)
        s[cache].bind(cy, te.thread_axis("threadIdx.y"))
        s[cache].bind(cx, te.thread_axis("threadIdx.x"))
    a, b, c = uniform(_RNG, (size, size)), uniform(_RNG, (size, size)), empty((size, size), "float32")
    tvm.build(s.normalize(), [A, B, C], "interp")(a, b, c)
    close(c, a.astype(np.float64) @ b.T, rtol=1e-5, atol=1e-5)
