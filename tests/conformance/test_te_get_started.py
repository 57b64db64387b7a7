"""TVM's tensor-expression "get started" and "schedule primitives" tutorials, as TVM programs
(through :mod:`te_shim`) on the LLVM backend, against numpy; the printed loop nests are golden."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def vector_add(n):
    A = te.placeholder((n,), name="A")
    B = te.placeholder((n,), name="B")
    C = te.compute(A.shape, lambda i: A[i] + B[i], name="C")
    return A, B, C


def test_vector_add_symbolic_length_runs_at_every_size(rng):
    n = te.var("n")
    A, B, C = vector_add(n)
    s = te.create_schedule(C.op)
    fadd = tvm.build(s, [A, B, C], "llvm", name="myadd")
    for size in (1, 7, 1024):
        a, b = uniform(rng, size), uniform(rng, size)
        c = np.zeros(size, dtype=C.dtype)
        fadd(a, b, c)
        close(c, a + b)


def test_vector_add_split_parallel_vectorize(rng):
    n = te.var("n")
    A, B, C = vector_add(n)
    s = te.create_schedule(C.op)
    outer, inner = s[C].split(C.op.axis[0], factor=4)
    s[C].parallel(outer)
    s[C].vectorize(inner)
    assert str(tvm.lower(s, [A, B, C], simple_mode=True)) == """\
func main(A: float32[n], B: float32[n], C: float32[n]) {
  parallel for i.outer in 0..n // 4:
    vectorized for i.inner in 0..4:
      C[i.outer * 4 + i.inner] = A[i.outer * 4 + i.inner] + B[i.outer * 4 + i.inner]
  parallel for i.outer in n // 4..(n - 1) // 4 + 1:
    vectorized for i.inner in 0..4:
      if i.outer * 4 + i.inner < n:
        C[i.outer * 4 + i.inner] = A[i.outer * 4 + i.inner] + B[i.outer * 4 + i.inner]
}"""
    f = tvm.build(s, [A, B, C], target="llvm", name="myadd_parallel")
    for size in (3, 1025):
        a, b = uniform(rng, size), uniform(rng, size)
        c = empty((size,), C.dtype)
        f(a, b, c)
        close(c, a + b)


def test_tensor_attributes_match_tvms():
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((m, n), name="A")
    B = te.compute((m, n), lambda i, j: A[i, j] * 2, name="B", tag="elemwise", attrs={"layout": "NC"})
    assert (B.name, B.op.name, B.ndim, B.dtype) == ("B", "B", 2, "float32")
    assert B.op.tag == "elemwise" and dict(B.op.attrs) == {"layout": "NC"}
    assert B.op.input_tensors == [A] and A.op.input_tensors == []
    i, j = B.op.axis
    assert (i.var.name, j.var.name) == ("i", "j")
    assert i.dom.min == 0 and i.dom.extent is m
    k = te.reduce_axis((2, 10), name="k")
    assert (k.dom.min, k.dom.extent) == (2, 8)
    assert te.compute((4,), lambda i: A[0, 0] + 1).op.tag == ""


def test_tag_and_attrs_must_be_a_string_and_a_dict():
    A = te.placeholder((4,), name="A")
    with pytest.raises(te.DefinitionError, match=r"compute B: tag=3 must be a string, e.g. tag='elemwise'"):
        te.compute((4,), lambda i: A[i], name="B", tag=3)
    with pytest.raises(te.DefinitionError, match=r"compute B: attrs=\[1\] must be a dict with string keys"):
        te.compute((4,), lambda i: A[i], name="B", attrs=[1])


def test_string_form_tensors_may_be_named_tag():
    T = te.placeholder((4,), name="T")
    C = te.compute("C[i] = tag[i] * 2", tag=T)
    assert C.op.input_tensors == [T] and C.op.tag == ""


def elementwise(m=23, n=17):
    A = te.placeholder((m, n), name="A")
    B = te.placeholder((m, n), name="B")
    C = te.compute((m, n), lambda i, j: A[i, j] * B[i, j], name="C")
    return A, B, C


def run_elementwise(s, A, B, C, rng):
    a, b = uniform(rng, A.shape), uniform(rng, B.shape)
    c = empty(C.shape, C.dtype)
    tvm.build(s, [A, B, C])(a, b, c)
    close(c, a * b)


def test_split_by_factor(rng):
    A, B, C = elementwise()
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    assert (xo.dom.extent, xi.dom.extent) == (3, 8)
    assert str(tvm.lower(s, [A, B, C], simple_mode=True)) == """\
func main(A: float32[23, 17], B: float32[23, 17], C: float32[23, 17]) {
  for i.outer in 0..3:
    for i.inner in 0..8:
      if i.outer * 8 + i.inner < 23:
        for j in 0..17:
          C[i.outer * 8 + i.inner, j] = A[i.outer * 8 + i.inner, j] * B[i.outer * 8 + i.inner, j]
}"""
    run_elementwise(s, A, B, C, rng)


def test_a_factor_past_the_extent_is_one_loop_of_the_extent(rng):
    # TVM keeps a 32-long inner loop with a guard; the values are the same
    A, B, C = elementwise()
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=32)
    assert (xo.dom.extent, xi.dom.extent) == (1, 23)
    run_elementwise(s, A, B, C, rng)


def test_split_by_nparts(rng):
    A, B, C = elementwise()
    s = te.create_schedule(C.op)
    bx, tx = s[C].split(C.op.axis[0], nparts=4)
    assert (bx.dom.extent, tx.dom.extent) == (4, 6)
    run_elementwise(s, A, B, C, rng)


def test_tile_with_tvms_keywords(rng):
    A, B, C = elementwise()
    s = te.create_schedule(C.op)
    xo, yo, xi, yi = s[C].tile(C.op.axis[0], C.op.axis[1], x_factor=10, y_factor=5)
    assert [iv.name for iv in (xo, yo, xi, yi)] == ["i.outer", "j.outer", "i.inner", "j.inner"]
    run_elementwise(s, A, B, C, rng)


def test_fuse_after_tile(rng):
    A, B, C = elementwise()
    s = te.create_schedule(C.op)
    xo, yo, xi, yi = s[C].tile(C.op.axis[0], C.op.axis[1], x_factor=10, y_factor=5)
    fused = s[C].fuse(xi, yi)
    assert fused.dom.extent == 50
    run_elementwise(s, A, B, C, rng)


def test_reorder_the_inner_loops_outside(rng):
    A, B, C = elementwise()
    s = te.create_schedule(C.op)
    xo, yo, xi, yi = s[C].tile(C.op.axis[0], C.op.axis[1], x_factor=10, y_factor=5)
    s[C].reorder(xi, yo, xo, yi)
    assert str(tvm.lower(s, [A, B, C], simple_mode=True)).splitlines()[1:6] == [
        "  for i.inner in 0..10:", "    for j.outer in 0..4:", "      for i.outer in 0..3:",
        "        if i.outer * 10 + i.inner < 23:", "          for j.inner in 0..5:"]
    run_elementwise(s, A, B, C, rng)


def chain(m):
    A = te.placeholder((m,), name="A")
    B = te.compute((m,), lambda i: A[i] + 1, name="B")
    C = te.compute((m,), lambda i: B[i] * 2, name="C")
    return A, B, C


def test_compute_at_inline_and_root(rng):
    m = te.var("m")
    A, B, C = chain(m)
    s = te.create_schedule(C.op)
    s[B].compute_at(s[C], C.op.axis[0])
    assert str(tvm.lower(s, [A, C], simple_mode=True)) == """\
func main(A: float32[m], C: float32[m]) {
  for i in 0..m:
    allocate B: float32[1] in global
    B[0] = A[i] + 1.0
    C[i] = B[0] * 2.0
}"""
    s[B].compute_inline()
    assert str(tvm.lower(s, [A, C], simple_mode=True)) == """\
func main(A: float32[m], C: float32[m]) {
  for i in 0..m:
    C[i] = (A[i] + 1.0) * 2.0
}"""
    s[B].compute_root()
    f = tvm.build(s, [A, C])
    a = uniform(rng, 9)
    c = empty((9,), C.dtype)
    f(a, c)
    close(c, (a + 1) * 2)


def test_an_inlined_stage_is_not_an_argument():
    A, B, C = chain(8)
    s = te.create_schedule(C.op)
    s[B].compute_inline()
    with pytest.raises(te.LoweringError, match="argument B is inlined and so never stored whole; pass only "
                       "inputs, outputs and root stages"):
        tvm.lower(s, [A, B, C])


def test_shape_dimensions_may_be_integral_floats(rng):
    # TVM's GEMM tutorial writes the packed shape as (N / bn, K, bn)
    N, bn = 64, 16
    B = te.placeholder((N, N), name="B")
    packed = te.compute((N / bn, N, bn), lambda x, k, y: B[k, x * bn + y], name="packedB")
    assert packed.shape == (4, 64, 16) and all(isinstance(d, int) and d.value == d for d in packed.shape)
    with pytest.raises(te.DefinitionError, match=r"compute P: shape \(2.5,\) has the dimension 2.5; every "
                       "dimension must be a positive int"):
        te.compute((2.5,), lambda i: B[0, 0], name="P")


def test_parallel_unroll_vectorize_of_an_imperfect_tiling(rng):
    A = te.placeholder((10, 12), name="A")
    B = te.compute((10, 12), lambda i, j: A[i, j] * 2.0 + 1.0, name="B")
    s = te.create_schedule(B.op)
    io, ii = s[B].split(B.op.axis[0], factor=4)
    jo, ji = s[B].split(B.op.axis[1], factor=8)
    s[B].reorder(io, jo, ii, ji)
    s[B].parallel(io)
    s[B].unroll(ii)
    s[B].vectorize(ji)
    assert str(tvm.lower(s, [A, B], simple_mode=True)) == """\
func main(A: float32[10, 12], B: float32[10, 12]) {
  parallel for i.outer in 0..3:
    for j.outer in 0..2:
      unrolled for i.inner in 0..4:
        if i.outer * 4 + i.inner < 10:
          vectorized for j.inner in 0..8:
            if j.outer * 8 + j.inner < 12:
              B[i.outer * 4 + i.inner, j.outer * 8 + j.inner] = A[i.outer * 4 + i.inner, j.outer * 8 + \
j.inner] * 2.0 + 1.0
}"""
    a = uniform(rng, (10, 12))
    b = empty((10, 12), "float32")
    tvm.build(s, [A, B])(a, b)
    close(b, a.astype(np.float64) * 2 + 1)


def test_a_vectorized_stage_attached_in_a_row_loop(rng):
    A = te.placeholder((10, 12), name="A")
    B = te.compute((10, 12), lambda i, j: A[i, j] * 2.0 + 1.0, name="B")
    C = te.compute((10, 12), lambda i, j: B[i, j] + A[i, j], name="C")
    s = te.create_schedule(C.op)
    s[B].compute_at(s[C], C.op.axis[0])
    s[B].vectorize(s[B].op.axis[1])
    assert "allocate B: float32[1, 12] in global\n    vectorized for j in 0..12:" in str(tvm.lower(s, [A, C]))
    a = uniform(rng, (10, 12))
    c = empty((10, 12), "float32")
    tvm.build(s, [A, C])(a, c)
    close(c, a.astype(np.float64) * 3 + 1)


def test_a_gpu_binding_is_refused_by_the_cpu_build():
    A = te.placeholder((10,), name="A")
    C = te.compute((10,), lambda i: A[i] + 1.0, name="C")
    s = te.create_schedule(C.op)
    s[C].bind(C.op.axis[0], te.thread_axis("blockIdx.x"))
    with pytest.raises(te.CodegenError, match=r"llvm: loop i is bound to blockIdx.x, which only a GPU has; build "
                       r"with target='cuda' \(or 'interp' to check it\)"):
        tvm.build(s, [A, C], "llvm")
