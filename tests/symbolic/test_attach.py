"""Region inference with size variables: compute_at, cache_read and cache_write of symbolic
stages, root temporaries of symbolic size, against numpy on interp and llvm."""

import numpy as np
import pytest

import nestor as ns

TARGETS = ["interp", "llvm"]


def _run(s, args, reference, shapes, target):
    f = ns.build(s, args, target=target)
    rng = np.random.default_rng(0)
    for inputs, outputs in shapes:
        ins = [rng.uniform(-1, 1, x).astype(np.float32) for x in inputs]
        outs = [np.zeros(x, np.float32) for x in outputs]
        f(*ins, *outs)
        for got, want in zip(outs, reference(*ins)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _stencil():
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] * 2, name="B")
    C = ns.compute((n - 1,), lambda i: B[i] + B[i + 1], name="C")
    s = ns.create_schedule(C)
    o, _ = s[C].split(C.op.axis[0], factor=4)
    s[B].compute_at(s[C], o)
    return s, [A, C]


def test_compute_at_a_symbolic_loop_golden():
    s, args = _stencil()
    assert str(ns.lower(s, args)) == """\
func main(A: float32[n], C: float32[n - 1]) {
  for i.outer in 0..(n - 1) // 4:
    allocate B: float32[5] in global
    for i in 0..5:
      B[i] = A[i.outer * 4 + i] * 2.0
    for i.inner in 0..4:
      C[i.outer * 4 + i.inner] = B[i.inner] + B[i.inner + 1]
  for i.outer in (n - 1) // 4..(n - 2) // 4 + 1:
    allocate B: float32[5] in global
    for i in 0..5:
      if i.outer * 4 + i < n:
        B[i] = A[i.outer * 4 + i] * 2.0
    for i.inner in 0..4:
      if i.outer * 4 + i.inner < n - 1:
        C[i.outer * 4 + i.inner] = B[i.inner] + B[i.inner + 1]
}"""


@pytest.mark.parametrize("target", TARGETS)
def test_compute_at_a_symbolic_loop(target):
    s, args = _stencil()
    _run(s, args, lambda a: [a[:-1] * 2 + a[1:] * 2], [([(9,)], [(8,)]), ([(2,)], [(1,)]), ([(4,)], [(3,)])],
         target)


@pytest.mark.parametrize("target", TARGETS)
def test_compute_at_a_row_of_symbolic_length(target):
    n, m = ns.var("n"), ns.var("m")
    A = ns.placeholder((n, m), name="A")
    B = ns.compute((n, m), lambda i, j: A[i, j] * 2, name="B")
    C = ns.compute((n, m), lambda i, j: B[i, j] + 1, name="C")
    s = ns.create_schedule(C)
    s[B].compute_at(s[C], C.op.axis[0])
    assert "allocate B: float32[1, m] in global" in str(ns.lower(s, [A, C]))
    _run(s, [A, C], lambda a: [a * 2 + 1], [([(3, 5)], [(3, 5)]), ([(7, 2)], [(7, 2)])], target)


@pytest.mark.parametrize("target", TARGETS)
def test_root_temporary_of_symbolic_size(target):
    n = ns.var("n")
    A = ns.placeholder((n, 5), name="A")
    B = ns.compute((n, 5), lambda i, j: A[i, j] * 2, name="B")
    C = ns.compute((n, 5), lambda i, j: B[i, j] + 1, name="C")
    _run(ns.create_schedule(C), [A, C], lambda a: [a * 2 + 1], [([(3, 5)], [(3, 5)]), ([(7, 5)], [(7, 5)])],
         target)


def _row_sum():
    n = ns.var("n")
    A = ns.placeholder((n, 16), name="A")
    k = ns.reduce_axis((0, 16), name="k")
    C = ns.compute((n,), lambda i: ns.sum(A[i, k], axis=k), name="C")
    return A, C, ns.create_schedule(C)


@pytest.mark.parametrize("target", TARGETS)
def test_cache_read_at_a_symbolic_loop(target):
    A, C, s = _row_sum()
    AA = s.cache_read(A, "local", [C])
    o, _ = s[C].split(C.op.axis[0], factor=4)
    s[AA].compute_at(s[C], o)
    assert "allocate A.local: float32[4, 16] in local" in str(ns.lower(s, [A, C]))
    _run(s, [A, C], lambda a: [a.sum(1)], [([(9, 16)], [(9,)]), ([(2, 16)], [(2,)])], target)


@pytest.mark.parametrize("target", TARGETS)
def test_cache_write_at_a_symbolic_loop(target):
    A, C, s = _row_sum()
    CL = s.cache_write(C, "local")
    o, _ = s[C].split(C.op.axis[0], factor=4)
    s[CL].compute_at(s[C], o)
    _run(s, [A, C], lambda a: [a.sum(1)], [([(9, 16)], [(9,)]), ([(2, 16)], [(2,)])], target)


@pytest.mark.parametrize("target", TARGETS)
def test_matmul_template_with_symbolic_rows(target):
    from schedules.templates import matmul_cpu

    for b3 in (None, 16):
        s, args = matmul_cpu(ns.size_var("m"), 64, 32, b3=b3)
        _run(s, args, lambda a, b: [a @ b.T], [([(5, 32), (64, 32)], [(5, 64)]), ([(16, 32), (64, 32)], [(16, 64)])],
             target)
