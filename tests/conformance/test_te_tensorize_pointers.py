"""Tensor intrinsics whose bodies address their buffers through pointers, as TVM's tensorize
how-to does: ``ib.buffer_ptr(buf)`` indexes the tile (the declared buffer's element offset and
strides; one flat index is unravelled row-major over the shape) and ``buf.access_ptr(mask)`` is
the memory from where the tile starts. Values against numpy on the interpreter and LLVM, the
lowered loop nest as golden text, and the refusals' messages."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm
from .test_te_tensorize import L, _check_matmul, gemm_tile, gemv_compute, matmul


def gemv_through_pointers(m, el, flat: bool):
    """C[i] = sum_k A[k] * B[i, k] over ``ib.buffer_ptr`` of the default (strided, offset) buffers."""
    _, _, c = gemv_compute(m, el)

    def fcompute(ins, outs):
        ib = tvm.tir.ir_builder.create()
        aa, bb, cc = ib.buffer_ptr(ins[0]), ib.buffer_ptr(ins[1]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, m, name="ii") as i:
            cc[i] = 0.0
            with ib.for_range(0, el, name="kk") as k:
                cc[i] = cc[i] + aa[k] * (bb[i * el + k] if flat else bb[i, k])
        return ib.get()

    return te.decl_tensor_intrin(c.op, fcompute, name="gemv_ptr")


@pytest.mark.parametrize("flat", [True, False])
def test_buffer_ptr_addresses_the_tile_of_a_gemv(flat, rng):
    A, B, C = matmul()
    s = te.create_schedule(C.op)
    x, y = C.op.axis
    (z,) = C.op.reduce_axis
    yo, yi = s[C].split(y, factor=16)
    s[C].reorder(x, yo, yi, z)
    s[C].tensorize(yi, gemv_through_pointers(16, L, flat))
    assert str(tvm.lower(s, [A, B, C])).strip() == textwrap.dedent("""
        func main(A: float32[4, 64], B: float32[32, 64], C: float32[4, 32]) {
          for i in 0..4:
            for j.outer in 0..2:
              for ii in 0..16:
                C[i, j.outer * 16 + ii] = 0.0
                for kk in 0..64:
                  C[i, j.outer * 16 + ii] = C[i, j.outer * 16 + ii] + A[i, kk] * B[j.outer * 16 + ii, kk]
        }""").strip()
    _check_matmul(s, A, B, C, rng)


def gemm_through_pointers(tm, tn, tl):
    """A 2-D tile of C += A * B^T in pieces, every access through ``ib.buffer_ptr`` (flat for C)."""
    a, b, c = gemm_tile(tm, tn, tl)

    def statements(ins, outs, reset, update):
        ib = tvm.tir.ir_builder.create()
        aa, bb, cc = ib.buffer_ptr(ins[0]), ib.buffer_ptr(ins[1]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, tm * tn, name="xy") as xy:
            if reset:
                cc[xy] = 0.0
            if update:
                with ib.for_range(0, tl, name="z") as z:
                    cc[xy] = cc[xy] + aa[xy // tn, z] * bb[xy % tn, z]
        return ib.get()

    return te.decl_tensor_intrin(c.op, lambda ins, outs: tuple(statements(ins, outs, r, u) for r, u in
                                                               ((True, True), (True, False), (False, True))),
                                 name="gemm_ptr")


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_buffer_ptr_of_a_two_dimensional_tile_under_a_split_reduction(target, rng):
    A, B, C = matmul(n=16, m=32, el=64)
    s = te.create_schedule(C.op)
    xo, yo, xi, yi = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 8)
    ko, ki = s[C].split(C.op.reduce_axis[0], factor=16)
    s[C].reorder(xo, yo, ko, xi, yi, ki)
    s[C].tensorize(xi, gemm_through_pointers(4, 8, 16))
    _check_matmul(s, A, B, C, rng, targets=(target,))


def vadd_through_access_ptr(n, offset=0):
    x = te.placeholder((n,), name="x")
    y = te.placeholder((n,), name="y")
    z = te.compute((n,), lambda i: x[i] + y[i], name="z")

    def fcompute(ins, outs):
        ib = tvm.tir.ir_builder.create()
        xs, ys = ib.buffer_ptr(ins[0].access_ptr("r")), ib.buffer_ptr(ins[1].access_ptr("r", offset=offset))
        zs = ib.buffer_ptr(outs[0].access_ptr("w"))
        with ib.for_range(0, n, name="v") as v:
            zs[v] = xs[v] + ys[v - offset]
        return ib.get()

    return te.decl_tensor_intrin(z.op, fcompute, name="vadd_ptr")


@pytest.mark.parametrize("offset", [0, 3])
def test_access_ptr_counts_from_where_the_tile_starts(offset, rng):
    X = te.placeholder((3, 64), name="X")
    Y = te.placeholder((3, 64), name="Y")
    Z = te.compute((3, 64), lambda i, j: X[i, j] + Y[i, j], name="Z")
    s = te.create_schedule(Z.op)
    _, ji = s[Z].split(Z.op.axis[1], factor=16)
    s[Z].tensorize(ji, vadd_through_access_ptr(16, offset))
    xx, yy = uniform(rng, (3, 64)), uniform(rng, (3, 64))
    for target in ("interp", "llvm"):
        zz = empty((3, 64), "float32")
        tvm.build(s, [X, Y, Z], target)(xx, yy, zz)
        close(zz, xx.astype(np.float64) + yy)


def test_pointer_misuse_is_refused_naming_the_buffer():
    x = te.placeholder((4,), name="x")
    z = te.compute((4,), lambda i: x[i] + 1.0, name="z")

    def store_through_read_pointer(ins, outs):
        ib = tvm.tir.ir_builder.create()
        ib.buffer_ptr(outs[0].access_ptr("r"))[0] = 1.0
        return ib.get()

    with pytest.raises(te.DefinitionError) as info:
        te.decl_tensor_intrin(z.op, store_through_read_pointer)
    assert str(info.value) == ("store through z.access_ptr('r'): the pointer is read-only; take it with "
                               "z.access_ptr('w') or 'rw' to write")
    refusals = [
        (lambda ins, ib: ins[0].access_ptr("x"), "buffer x.access_ptr('x'): the access mask must be 'r', 'w' or "
         "'rw' (or TVM's 1, 2, 3)"),
        (lambda ins, ib: ins[0].access_ptr("r", content_lanes=4), "buffer x.access_ptr('r'): content_lanes=4; "
         "vector pointers are not supported, use 1"),
        (lambda ins, ib: ib.buffer_ptr(ins[0].access_ptr("r"))[0, 1], "pointer x.access_ptr('r')[0, 1]: a pointer "
         "from access_ptr counts memory elements; give one flat index, or index ib.buffer_ptr(x) by dimension"),
        (lambda ins, ib: ib.buffer_ptr(ins[0], shape=(2, 2)), "ir_builder.buffer_ptr(x, shape=(2, 2)): x lies at "
         "an offset in its tensor (a tensor intrinsic's tile), so it keeps its declared shape; leave out shape"),
        (lambda ins, ib: ib.buffer_ptr(ins[0])[0, 1], "buffer x: 2 indices ['0', '1'] for a buffer of rank 1; give "
         "one index per dimension"),
    ]
    for misuse, message in refusals:
        def fcompute(ins, outs, misuse=misuse):
            ib = tvm.tir.ir_builder.create()
            misuse(ins, ib)
            return ib.get()

        with pytest.raises(te.DefinitionError) as info:
            te.decl_tensor_intrin(z.op, fcompute)
        assert str(info.value) == message
