"""Programs in the style of TVM's te schedule_ops tests (through :mod:`te_shim`): inlining
mixed with attaching, caches (read, write, a middle stage's, after a split and reorder, of a
reduction, of several outputs, then inlined), a padding bound condition, a reduce axis whose
range is the output index, a local/shared stage under thread loops; each built and run against
numpy (TVM's tests only lower most of them)."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def run(s, args, arrays, target="llvm"):
    # a symbolic output has the first input's shape in these programs
    outs = [empty(t.shape if all(isinstance(d, int) for d in t.shape) else arrays[0].shape, t.dtype)
            for t in args[len(arrays):]]
    tvm.build(s, args, target=target)(*arrays, *outs)
    return outs


def test_inline_mixed_with_compute_at(rng):
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    A1 = te.compute(A.shape, lambda *i: A(*i) + 1, name="A1")
    A2 = te.compute(A.shape, lambda *i: A1(*i) + 2, name="A2")
    C = te.compute((n,), lambda i: A2[i] + A1[i], name="C")
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[A1].compute_at(s[C], xo)
    s[A2].compute_inline()
    s = s.normalize()
    a = uniform(rng, 19)
    (c,) = run(s, [A, C], [a])
    close(c, 2 * a.astype(np.float64) + 4)


def test_padding_bound_condition_with_a_local_cache(rng):
    A = te.placeholder((64,), name="A")
    Apad = te.compute((66,), lambda i: te.if_then_else(te.all(i > 0, i < 65), A[i - 1], tvm.tir.const(0.0, "float32")),
                      name="Apad")
    Apad2 = te.compute((66,), lambda i: Apad[i] * 2, name="Apad2")
    s = te.create_schedule(Apad2.op)
    s.cache_read(A, "local", [Apad])
    s = s.normalize()
    a = uniform(rng, 64)
    (out,) = run(s, [A, Apad2], [a])
    close(out, 2 * np.pad(a, 1).astype(np.float64))


def two_inputs(m=None, n=None):
    m = te.var("m") if m is None else m
    n = te.var("n") if n is None else n
    A = te.placeholder((m, n), name="A")
    B = te.placeholder((m, n), name="B")
    C = te.compute((m, n), lambda i, j: A(i, j) * B(i, j), name="C")
    return A, B, C


def test_cache_read_and_write_in_shared_memory_on_the_cpu(rng):
    A, B, C = two_inputs()
    s = te.create_schedule(C.op)
    AA = s.cache_read(A, "shared", readers=[C])
    CC = s.cache_write(C, "shared")
    s[AA].compute_at(s[CC], CC.op.axis[0])
    a, b = uniform(rng, (3, 5)), uniform(rng, (3, 5))
    (c,) = run(s, [A, B, C], [a, b])
    close(c, a.astype(np.float64) * b)


def test_caches_of_a_middle_stage(rng):
    A, B, C = two_inputs()
    D = te.compute(C.shape, lambda i, j: C(i, j), name="D")
    s = te.create_schedule(D.op)
    s.cache_read(A, "local", readers=[C])
    s.cache_read(B, "local", readers=[C])
    s.cache_read(C, "local", readers=[D])
    s.cache_write(D, "local")
    a, b = uniform(rng, (3, 5)), uniform(rng, (3, 5))
    (d,) = run(s, [A, B, D], [a, b])
    close(d, a.astype(np.float64) * b)


def test_cache_write_after_reorder_and_after_split(rng):
    m, n = te.var("m"), te.var("n")
    A, B, C = two_inputs(m * 4, n)
    s = te.create_schedule(C.op)
    x, y = C.op.axis
    xo, xi = s[C].split(x, factor=4)
    s[C].reorder(xo, y, xi)
    s.cache_write(C, "global")
    s = s.normalize()
    a, b = uniform(rng, (8, 5)), uniform(rng, (8, 5))
    (c,) = run(s, [A, B, C], [a, b])
    close(c, a.astype(np.float64) * b)


def test_cache_write_of_a_split_reduction(rng):
    m, n = te.var("m"), te.var("n")
    A = te.placeholder((m * 4, n), name="A")
    B = te.placeholder((m * 4, n), name="B")
    k = te.reduce_axis((0, n), "k")
    C = te.compute((A.shape[0],), lambda i: te.sum(A(i, k) * B(i, k), axis=k), name="C")
    s = te.create_schedule(C.op)
    s[C].split(C.op.axis[0], factor=4)
    s.cache_write(C, "global")
    a, b = uniform(rng, (8, 5)), uniform(rng, (8, 5))
    c = empty((8,), "float32")
    tvm.build(s, [A, B, C])(a, b, c)
    close(c, (a.astype(np.float64) * b).sum(1))


def test_cache_write_of_two_outputs_then_inline(rng):
    shape = [10, 64]
    A, B = te.placeholder(shape, name="A"), te.placeholder(shape, name="B")
    C = te.compute(shape, lambda *index: A(*index) + B(*index), name="C")
    F, E = te.compute(shape, lambda *index: (C(*index), C(*index) * B(*index)), name="F")
    s = te.create_schedule([F.op, E.op])
    s.cache_read(A, "local", [C])
    s.cache_read(B, "local", [C, E])
    s.cache_write(C, "local")
    s.cache_write([F, E], "local")
    s[C].compute_inline()
    s = s.normalize()
    a, b = uniform(rng, shape), uniform(rng, shape)
    f, e = run(s, [A, B, F, E], [a, b])
    close(f, a.astype(np.float64) + b)
    close(e, (a.astype(np.float64) + b) * b)


def test_a_reduce_axis_over_the_output_index(rng):
    X = te.placeholder(shape=(10,), name="x")

    def f(n):
        rv = te.reduce_axis((0, n))
        return te.sum(X[rv], axis=rv)

    Y = te.compute(X.shape, f, name="y")
    x = uniform(rng, 10)
    y = empty((10,), "float32")
    tvm.build(te.create_schedule([Y.op]), [X, Y])(x, y)
    close(y, np.concatenate([[0.0], np.cumsum(x.astype(np.float64))[:-1]]))


@pytest.mark.parametrize("scope", ["local", "shared"])
def test_a_stage_with_a_scope_under_thread_loops(scope, rng):
    m, n, p = 1, 3, 2
    A = te.placeholder((m, n, p), name="A")
    B = te.compute((m, n, p), lambda bi, bj, bk: A[bi, bj, bk], name="B")
    C = te.compute((m, n, p), lambda ci, cj, ck: B[ci, cj, ck], name="C")
    s = te.create_schedule(C.op)
    s[B].compute_at(s[C], s[C].op.axis[0])
    s[B].set_scope(scope)
    bno, bni = s[B].split(s[B].op.axis[1], n)
    s[C].bind(s[C].op.axis[0], te.thread_axis("blockIdx.x"))
    s[C].bind(s[C].op.axis[1], te.thread_axis("threadIdx.x"))
    s[B].bind(bni, te.thread_axis("threadIdx.x"))
    a = uniform(rng, (m, n, p))
    (c,) = run(s, [A, C], [a], target="interp")
    close(c, a)


@pytest.mark.parametrize("target", ["llvm", "interp"])
def test_storage_align_of_rows_of_symbolic_size(target, rng):
    from tensorir.stmt import Allocate
    from tensorir.symbolic import evaluate
    from tensorir.visitor import walk

    m, n = te.size_var("m"), te.size_var("l")
    A = te.placeholder((m, n), name="A")
    A1 = te.compute((m, n), lambda i, j: A[i, j], name="A1")
    A2 = te.compute((m, n), lambda i, j: A1[i, j] + 3, name="A2")
    s = te.create_schedule(A2.op)
    s[A1].storage_align(A1.op.axis[0], 16, 8)
    (buffer,) = [node.buffer for node in walk(tvm.lower(s, [A, A2]).body) if isinstance(node, Allocate)]
    f = tvm.build(s, [A, A2], target=target)
    for rows, cols in ((5, 7), (3, 24), (1, 1), (4, 40)):
        stride = evaluate(buffer.strides[0], {m: rows, n: cols})
        assert stride % 16 == 8 and cols <= stride < cols + 16
        a = uniform(rng, (rows, cols))
        out = empty((rows, cols), "float32")
        f(a, out)
        close(out, a.astype(np.float64) + 3)
