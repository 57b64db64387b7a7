"""TVM's ``te.decl_tensor_intrin`` and ``Stage.tensorize`` (the tensorize how-to and
tests/python/unittest/test_te_schedule_tensorize.py) as TVM programs through :mod:`te_shim`,
with intrinsic bodies written with the IR builder: the GEMV intrinsic over a matmul split 16 x L,
the reduction form ``(body, reset, update)`` with the reduction split so that the update runs
once per slice (and without a reset: the body at the first slice), a 4 x 8 x 16 GEMM tile under a
parallel loop (every tensor's row stride bound), a vector add of 16 over a
two-dimensional stage, and a refusal for each kind of mismatch (expression, extent, dtype,
index) and each misuse, with its message. Values against numpy on the interpreter and LLVM;
lowered loop nests against golden text."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm

N, M, L = 4, 32, 64


def matmul(n=N, m=M, el=L, dtype="float32"):
    A = te.placeholder((n, el), name="A", dtype=dtype)
    B = te.placeholder((m, el), name="B", dtype=dtype)
    k = te.reduce_axis((0, el), name="k")
    C = te.compute((n, m), lambda i, j: te.sum(A[i, k] * B[j, k], axis=k), name="C")
    return A, B, C


def gemv_compute(m, el, dtype="float32"):
    a = te.placeholder((el,), name="a", dtype=dtype)
    b = te.placeholder((m, el), name="b", dtype=dtype)
    k = te.reduce_axis((0, el), name="k")
    c = te.compute((m,), lambda i: te.sum(a[k] * b[i, k], axis=k), name="c")
    return a, b, c


def gemv_statements(m, el, ins, outs, reset: bool, update: bool):
    """C[i] = 0 (reset) and/or C[i] += A[k] * B[i, k] (update), over declared buffers."""
    aa, bb = ins
    cc = outs[0]
    ib = tvm.tir.ir_builder.create()
    with ib.for_range(0, m, name="ii") as i:
        if reset:
            ib.emit(cc.vstore([i], te.const(0, cc.dtype)))
        if update:
            with ib.for_range(0, el, name="kk") as k:
                ib.emit(cc.vstore([i], cc.vload([i]) + aa.vload([k]) * bb.vload([i, k])))
    return ib.get()


def intrin_gemv(m, el):
    """The how-to's intrinsic, its buffers declared with a variable row stride for B."""
    a, b, c = gemv_compute(m, el)
    Ab = tvm.tir.decl_buffer(a.shape, a.dtype, name="A", offset_factor=1, strides=[1])
    Bb = tvm.tir.decl_buffer(b.shape, b.dtype, name="B", offset_factor=1, strides=[te.var("s1"), 1])
    Cb = tvm.tir.decl_buffer(c.shape, c.dtype, name="C", offset_factor=1, strides=[1])
    return te.decl_tensor_intrin(c.op, lambda ins, outs: gemv_statements(m, el, ins, outs, True, True),
                                 binds={a: Ab, b: Bb, c: Cb}, name="gemv")


def intrin_gemv_pieces(m, el, with_reset=True):
    """The reduction form: (body, reset, update), with TVM's default buffers."""
    _, _, c = gemv_compute(m, el)

    def fcompute(ins, outs):
        body = gemv_statements(m, el, ins, outs, True, True)
        reset = gemv_statements(m, el, ins, outs, True, False) if with_reset else None
        return body, reset, gemv_statements(m, el, ins, outs, False, True)

    return te.decl_tensor_intrin(c.op, fcompute, name="gemv_pieces")


def split_both(C, factor=16):
    """``C``'s schedule with its columns and its reduction split by ``factor``, in the order
    ``x, y.outer, k.outer, y.inner, k.inner``; the loops in that order."""
    s = te.create_schedule(C.op)
    x, y = C.op.axis
    (z,) = C.op.reduce_axis
    yo, yi = s[C].split(y, factor=factor)
    zo, zi = s[C].split(z, factor=factor)
    s[C].reorder(x, yo, zo, yi, zi)
    return s, (x, yo, zo, yi, zi)


def _golden(func, text: str) -> None:
    assert str(func).strip() == textwrap.dedent(text).strip()


def _check_matmul(s, A, B, C, rng, targets=("interp", "llvm")):
    aa, bb = uniform(rng, tuple(A.shape)), uniform(rng, tuple(B.shape))
    for target in targets:
        cc = empty(tuple(C.shape), "float32")
        tvm.build(s, [A, B, C], target)(aa, bb, cc)
        close(cc, aa.astype(np.float64) @ bb.T.astype(np.float64), rtol=1e-5, atol=1e-5)


def test_gemv_intrinsic_replaces_the_loops_under_the_split_axis(rng):
    A, B, C = matmul()
    s = te.create_schedule(C.op)
    x, y = C.op.axis
    (z,) = C.op.reduce_axis
    yo, yi = s[C].split(y, factor=16)
    s[C].reorder(x, yo, yi, z)
    gemv = intrin_gemv(16, L)
    assert (gemv.name, gemv.op.name, [b.name for b in gemv.buffers]) == ("gemv", "c", ["A", "B", "C"])
    s[C].tensorize(yi, gemv)
    _golden(tvm.lower(s, [A, B, C]), """
        func main(A: float32[4, 64], B: float32[32, 64], C: float32[4, 32]) {
          for i in 0..4:
            for j.outer in 0..2:
              for ii in 0..16:
                C[i, j.outer * 16 + ii] = 0.0
                for kk in 0..64:
                  C[i, j.outer * 16 + ii] = C[i, j.outer * 16 + ii] + A[i, kk] * B[j.outer * 16 + ii, kk]
        }""")
    _check_matmul(s, A, B, C, rng)


def test_reduction_split_puts_the_reset_before_and_the_update_in_each_slice(rng):
    A, B, C = matmul()
    s, (x, yo, zo, yi, zi) = split_both(C)
    s[C].tensorize(yi, intrin_gemv_pieces(16, 16))
    _golden(tvm.lower(s, [A, B, C]), """
        func main(A: float32[4, 64], B: float32[32, 64], C: float32[4, 32]) {
          for i in 0..4:
            for j.outer in 0..2:
              for ii in 0..16:
                C[i, j.outer * 16 + ii] = 0.0
              for k.outer in 0..4:
                for ii in 0..16:
                  for kk in 0..16:
                    C[i, j.outer * 16 + ii] = C[i, j.outer * 16 + ii] + A[i, k.outer * 16 + kk] * B[j.outer * 16 + ii, k.outer * 16 + kk]
        }""")  # noqa: E501
    _check_matmul(s, A, B, C, rng)


def test_without_a_reset_the_body_computes_the_first_slice(rng):
    A, B, C = matmul()
    s, (x, yo, zo, yi, zi) = split_both(C)
    s[C].tensorize(yi, intrin_gemv_pieces(16, 16, with_reset=False))
    assert "if k.outer == 0:" in str(tvm.lower(s, [A, B, C]))
    _check_matmul(s, A, B, C, rng)


def test_the_tile_moves_with_every_outer_loop_of_both_operands(rng):
    """Tensorized at the reduction's outer split, with the rows split too: the offsets of A, B
    and C each hold several outer loops."""
    A, B, C = matmul(n=8, m=32, el=32)
    s = te.create_schedule(C.op)
    x, y = C.op.axis
    (z,) = C.op.reduce_axis
    xo, xi = s[C].split(x, factor=2)
    yo, yi = s[C].split(y, factor=8)
    zo, zi = s[C].split(z, factor=8)
    s[C].reorder(xo, zo, yo, xi, yi, zi)
    s[C].tensorize(yi, intrin_gemv_pieces(8, 8))
    _check_matmul(s, A, B, C, rng)


def gemm_tile(tm, tn, tl):
    """The compute of a tile of C = A * B^T: ``(a, b, c)``."""
    a = te.placeholder((tm, tl), name="a")
    b = te.placeholder((tn, tl), name="b")
    k = te.reduce_axis((0, tl), name="k")
    return a, b, te.compute((tm, tn), lambda i, j: te.sum(a[i, k] * b[j, k], axis=k), name="c")


def intrin_gemm(tm, tn, tl):
    """A two-dimensional tile of C += A * B^T (TVM's test_tensorize_matmul), in pieces."""
    a, b, c = gemm_tile(tm, tn, tl)

    def statements(ins, outs, reset, update):
        aa, bb = ins
        cc = outs[0]
        ib = tvm.tir.ir_builder.create()
        with ib.for_range(0, tm, name="x") as x, ib.for_range(0, tn, name="y") as y:
            if reset:
                ib.emit(cc.vstore([x, y], te.const(0, "float32")))
            if update:
                with ib.for_range(0, tl, name="z") as z:
                    ib.emit(cc.vstore([x, y], cc[x, y] + aa[x, z] * bb[y, z]))
        return ib.get()

    return te.decl_tensor_intrin(c.op, lambda ins, outs: tuple(statements(ins, outs, r, u) for r, u in
                                                               ((True, True), (True, False), (False, True))),
                                 name="gemm")


def gemm_schedule(intrin):
    """A 16x32x64 product in 4x8 tiles over a 16-long reduction chunk, ``intrin`` at the tile."""
    A, B, C = matmul(n=16, m=32, el=64)
    s = te.create_schedule(C.op)
    xo, yo, xi, yi = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 8)
    ko, ki = s[C].split(C.op.reduce_axis[0], factor=16)
    s[C].reorder(xo, yo, ko, xi, yi, ki)
    s[C].parallel(xo)
    s[C].tensorize(xi, intrin)
    return s, (A, B, C)


def test_a_two_dimensional_tile_binds_the_row_strides_of_every_tensor(rng):
    s, (A, B, C) = gemm_schedule(intrin_gemm(4, 8, 16))
    assert s.trace.steps[-1].to_dict() == {"primitive": "tensorize", "stage": "C",
                                           "args": {"var": "i.inner", "intrin": "gemm"}, "results": []}
    _check_matmul(s, A, B, C, rng)


def intrin_vadd(n, dtype="float32"):
    x = te.placeholder((n,), name="x", dtype=dtype)
    y = te.placeholder((n,), name="y", dtype=dtype)
    z = te.compute((n,), lambda i: x[i] + y[i], name="z")

    def fcompute(ins, outs):
        ib = tvm.tir.ir_builder.create()
        with ib.for_range(0, n, name="v") as v:
            ib.emit(outs[0].vstore([v], ins[0].vload([v]) + ins[1].vload([v])))
        return ib.get()

    return te.decl_tensor_intrin(z.op, fcompute, name="vadd")


def test_vector_add_of_16_over_a_two_dimensional_stage():
    X = te.placeholder((3, 64), name="X")
    Y = te.placeholder((3, 64), name="Y")
    Z = te.compute((3, 64), lambda i, j: X[i, j] + Y[i, j], name="Z")
    s = te.create_schedule(Z.op)
    jo, ji = s[Z].split(Z.op.axis[1], factor=16)
    s[Z].tensorize(ji, intrin_vadd(16))
    _golden(tvm.lower(s, [X, Y, Z]), """
        func main(X: float32[3, 64], Y: float32[3, 64], Z: float32[3, 64]) {
          for i in 0..3:
            for j.outer in 0..4:
              for v in 0..16:
                Z[i, j.outer * 16 + v] = X[i, j.outer * 16 + v] + Y[i, j.outer * 16 + v]
        }""")
    xx = np.arange(192, dtype="float32").reshape(3, 64)
    yy = np.linspace(-1, 1, 192, dtype="float32").reshape(3, 64)
    for target in ("interp", "llvm"):
        zz = empty((3, 64), "float32")
        tvm.build(s, [X, Y, Z], target)(xx, yy, zz)
        close(zz, xx + yy)


# -- mismatches ----------------------------------------------------------------------------------
def _vadd_schedule(factor=16, dtype="float32", body=lambda X, Y, i, j: X[i, j] + Y[i, j]):
    X = te.placeholder((2, 64), name="X", dtype=dtype)
    Y = te.placeholder((2, 64), name="Y", dtype=dtype)
    Z = te.compute((2, 64), lambda i, j: body(X, Y, i, j), name="Z")
    s = te.create_schedule(Z.op)
    jo, ji = s[Z].split(Z.op.axis[1], factor=factor)
    return s, Z, jo, ji


def test_an_expression_mismatch_is_refused_naming_both_expressions():
    s, Z, _, ji = _vadd_schedule(body=lambda X, Y, i, j: X[i, j] - Y[i, j])
    with pytest.raises(te.ScheduleError, match=r"^s\[Z\]\.tensorize\(j\.inner, 'vadd'\): expression mismatch: the "
                       r"stage computes .* where the intrinsic computes .*; declare the intrinsic with the stage's "
                       r"expression"):
        s[Z].tensorize(ji, intrin_vadd(16))


def test_an_extent_mismatch_is_refused_with_the_split_to_make():
    s, Z, _, ji = _vadd_schedule(factor=8)
    with pytest.raises(te.ScheduleError, match=r"^s\[Z\]\.tensorize\(j\.inner, 'vadd'\): extent mismatch: output "
                       r"axis j has 8 iterations in the tile, the intrinsic's axis i 16; split j by 16, or declare "
                       r"the intrinsic over 8$"):
        s[Z].tensorize(ji, intrin_vadd(16))


def test_a_dtype_mismatch_is_refused_for_the_output_and_for_an_input():
    s, Z, _, ji = _vadd_schedule()
    with pytest.raises(te.ScheduleError, match=r"dtype mismatch: Z is float32, the intrinsic's output float64; "
                       "declare the intrinsic's compute with the stage's types"):
        s[Z].tensorize(ji, intrin_vadd(16, "float64"))
    x = te.placeholder((16,), name="x", dtype="int32")
    y = te.placeholder((16,), name="y")
    z = te.compute((16,), lambda i: x[i].astype("float32") + y[i], name="z")
    intrin = te.decl_tensor_intrin(z.op, lambda ins, outs: tvm.tir.ir_builder.create().get(), name="mixed")
    X = te.placeholder((2, 64), name="X", dtype="int64")
    Y = te.placeholder((2, 64), name="Y")
    Z = te.compute((2, 64), lambda i, j: X[i, j].astype("float32") + Y[i, j], name="Z")
    s2 = te.create_schedule(Z.op)
    _, ji2 = s2[Z].split(Z.op.axis[1], factor=16)
    with pytest.raises(te.ScheduleError, match=r"dtype mismatch: the stage reads X of int64 where the intrinsic "
                       r"reads x of int32; declare the intrinsic's placeholders with the stage's types"):
        s2[Z].tensorize(ji2, intrin)


def test_an_index_mismatch_is_refused():
    A, B, C = matmul()
    s = te.create_schedule(C.op)
    x, y = C.op.axis
    yo, yi = s[C].split(y, factor=16)
    a = te.placeholder((L,), name="a")
    b = te.placeholder((L, 16), name="b")  # transposed
    k = te.reduce_axis((0, L), name="k")
    c = te.compute((16,), lambda i: te.sum(a[k] * b[k, i], axis=k), name="c")
    intrin = te.decl_tensor_intrin(c.op, lambda ins, outs: tvm.tir.ir_builder.create().get(), name="gemv_t")
    with pytest.raises(te.ScheduleError, match=r"index mismatch: the stage reads B\[.*\] where the intrinsic reads "
                       r"b\[.*\], at places that differ by more than an offset"):
        s[C].tensorize(yi, intrin)


def test_loops_the_intrinsic_does_not_cover_are_refused():
    X = te.placeholder((2, 16), name="X")
    Y = te.placeholder((2, 16), name="Y")
    Z = te.compute((2, 16), lambda i, j: X[i, j] + Y[i, j], name="Z")
    s = te.create_schedule(Z.op)
    with pytest.raises(te.ScheduleError, match=r"^s\[Z\]\.tensorize\(i, 'vadd'\): output axis i has 2 iterations "
                       "in the tile, which the intrinsic does not cover; split i outside the tensorized loop$"):
        s[Z].tensorize(Z.op.axis[0], intrin_vadd(16))
    s[Z].tensorize(Z.op.axis[1], intrin_vadd(16))  # the whole row is one tile
    s2, Z2, _, ji2 = _vadd_schedule(factor=16)
    j2o, j2i = s2[Z2].split(ji2, factor=4)
    with pytest.raises(te.ScheduleError, match=r"axis j runs over loops j\.inner\.outer, j\.inner\.inner under "
                       r"j\.inner\.outer \(split in several or fused\); split j once and tensorize the loop that "
                       "holds its inner part$"):
        s2[Z2].tensorize(j2o, intrin_vadd(16))


def test_a_tile_that_does_not_divide_the_axis_is_refused():
    X = te.placeholder((40,), name="X")
    Y = te.placeholder((40,), name="Y")
    Z = te.compute((40,), lambda j: X[j] + Y[j], name="Z")
    s = te.create_schedule(Z.op)
    _, ji = s[Z].split(Z.op.axis[0], factor=16)
    with pytest.raises(te.ScheduleError, match=r"the tile does not divide the loops .*; split by a factor that "
                       "divides the extent"):
        s[Z].tensorize(ji, intrin_vadd(16))


def test_a_body_only_intrinsic_inside_a_split_reduction_is_refused():
    A, B, C = matmul()
    s, (x, yo, zo, yi, zi) = split_both(C)
    with pytest.raises(te.ScheduleError, match=r"^s\[C\]\.tensorize\(j\.inner, 'gemv'\): reduction loops "
                       r"\['k\.outer'\] lie outside j\.inner, so the tile is computed in pieces, but 'gemv' has no "
                       r"update; return \(body, reset, update\) from fcompute"):
        s[C].tensorize(yi, intrin_gemv(16, 16))


def test_a_later_schedule_change_that_breaks_the_match_is_refused_at_lowering():
    s, Z, jo, ji = _vadd_schedule()
    s[Z].tensorize(ji, intrin_vadd(16))
    s[Z].reorder(ji, jo)
    with pytest.raises(te.LoweringError, match=r"^lower: s\[Z\]\.tensorize\(j\.inner, 'vadd'\): axis j runs over "
                       r"loops j\.inner, j\.outer under j\.inner"):
        tvm.lower(s, [Z.op.input_tensors[0], Z.op.input_tensors[1], Z])


def test_splitting_the_tensorized_loop_afterwards_is_refused_at_lowering():
    s, Z, jo, ji = _vadd_schedule()
    s[Z].tensorize(ji, intrin_vadd(16))
    s[Z].split(ji, factor=4)
    with pytest.raises(te.LoweringError, match=r"^lower: s\[Z\]\.tensorize\(j\.inner, 'vadd'\): loop j\.inner was "
                       "split or fused after it was tensorized, so it is no longer a loop; tensorize one of the "
                       "loops it became$"):
        tvm.lower(s, [Z.op.input_tensors[0], Z.op.input_tensors[1], Z])


def test_a_stage_computed_inside_the_tensorized_loop_is_refused_at_lowering():
    X = te.placeholder((2, 64), name="X")
    Y = te.placeholder((2, 64), name="Y")
    X2 = te.compute((2, 64), lambda i, j: X[i, j] * 2.0, name="X2")
    Z = te.compute((2, 64), lambda i, j: X2[i, j] + Y[i, j], name="Z")
    s = te.create_schedule(Z.op)
    jo, ji = s[Z].split(Z.op.axis[1], factor=16)
    s[Z].tensorize(ji, intrin_vadd(16))
    s[X2].compute_at(s[Z], ji)
    with pytest.raises(te.LoweringError, match=r"a stage is computed at loop j\.inner, which the intrinsic "
                       "replaces; compute_at a loop outside the tensorized one"):
        tvm.lower(s, [X, Y, Z])
    s[X2].compute_at(s[Z], jo)  # outside: the intrinsic reads X2's tile
    xx, yy = np.ones((2, 64), "float32"), np.arange(128, dtype="float32").reshape(2, 64)
    zz = empty((2, 64), "float32")
    tvm.build(s, [X, Y, Z], "llvm")(xx, yy, zz)
    close(zz, 2 * xx + yy)


# -- declarations ---------------------------------------------------------------------------------
def test_decl_tensor_intrin_refuses_what_it_cannot_take():
    x = te.placeholder((4,), name="x")
    z = te.compute((4,), lambda i: x[i] + 1.0, name="z")
    nothing = lambda ins, outs: tvm.tir.ir_builder.create().get()  # noqa: E731
    with pytest.raises(te.DefinitionError, match=r"^decl_tensor_intrin\(x\): op is .*; pass the operation of a "
                       "compute"):
        te.decl_tensor_intrin(x.op, nothing)
    with pytest.raises(te.DefinitionError, match=r"^decl_tensor_intrin\(z\): scalar_params=\['n'\] is not "
                       "supported"):
        te.decl_tensor_intrin(z.op, nothing, scalar_params=["n"])
    with pytest.raises(te.DefinitionError, match=r"^decl_tensor_intrin\(z\): fcompute returned int as the body; "
                       r"return a statement \(ib.get\(\)\)"):
        te.decl_tensor_intrin(z.op, lambda ins, outs: 3)
    with pytest.raises(te.DefinitionError, match=r"^decl_tensor_intrin\(z\): buffer X holds float64, tensor x "
                       "float32; declare it with dtype='float32'"):
        te.decl_tensor_intrin(z.op, nothing, binds={x: tvm.tir.decl_buffer((4,), "float64", name="X")})
    other = te.placeholder((4,), name="other")
    with pytest.raises(te.DefinitionError, match=r"binds holds 'other', which is not an input or the output of z"):
        te.decl_tensor_intrin(z.op, nothing, binds={other: tvm.tir.decl_buffer((4,), name="O")})


def test_an_intrinsic_body_that_calls_unknown_code_is_refused():
    """(A body through ib.buffer_ptr addresses the tile: test_te_tensorize_pointers.py.)"""
    x = te.placeholder((4,), name="x")
    z = te.compute((4,), lambda i: x[i] + 1.0, name="z")

    def external(ins, outs):
        ib = tvm.tir.ir_builder.create()
        ib.emit(tvm.tir.call_extern("int32", "vadd_update", 4))
        return ib.get()

    with pytest.raises(te.DefinitionError, match=r"Nestor links no external functions, and 'vadd_update'"):
        te.decl_tensor_intrin(z.op, external)


def test_tensorize_refuses_something_that_is_not_an_intrinsic():
    s, Z, _, ji = _vadd_schedule()
    with pytest.raises(te.ScheduleError, match=r"^s\[Z\]\.tensorize\(j\.inner, 'x'\): 'x' is not a tensor "
                       r"intrinsic; declare one with ns\.decl_tensor_intrin\(op, fcompute\)$"):
        s[Z].tensorize(ji, "x")
    with pytest.raises(te.ScheduleError, match=r"stage Z has no loop named 'w'"):
        s[Z].tensorize("w", intrin_vadd(16))


def test_a_reduction_bound_across_gpu_threads_is_not_silently_left_untensorized():
    A, B, C = matmul()
    s, (x, yo, zo, yi, zi) = split_both(C)
    s[C].tensorize(yi, intrin_gemv_pieces(16, 16))
    s[C].bind(x, te.thread_axis("blockIdx.x"))
    s[C].bind(zo, te.thread_axis("threadIdx.x"))
    with pytest.raises(te.LoweringError, match=r"s\[C\]\.tensorize: the stage's reduction is bound across GPU "
                       r"threads \(a cross-thread reduction\), which an intrinsic's loops cannot replace"):
        tvm.lower(s, [A, B, C])
