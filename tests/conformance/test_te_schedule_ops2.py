"""Schedule operations in the style of TVM's schedule-ops unit tests (a second sweep):
inlining chains and by kind, compute_root, caches of tuple computes and of reordered loops,
rfactor with factor_axis, a producer inside a split reduction, double_buffer, storage_align,
set_scope, groups, symbolic shapes, tuple and rank-0 computes, and the refusal of
hybrid scripts; each checked against numpy, with golden nests where the loop structure is the
point."""

import textwrap

import numpy as np
import pytest

from tests.backends.cuda import host_emulation

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def _nest(s, args):
    return str(tvm.lower(s, args, simple_mode=True))


def test_an_inline_chain_of_three_stages():
    A = te.placeholder((8, 9), name="A")
    B = te.compute((8, 9), lambda i, j: A[i, j] + 1, name="B")
    C = te.compute((8, 9), lambda i, j: B[i, j] * 2, name="C")
    D = te.compute((8, 9), lambda i, j: te.exp(C[i, j] / 10.0) - B[i, j], name="D")
    s = te.create_schedule(D.op)
    s[B].compute_inline()
    s[C].compute_inline()
    assert _nest(s, [A, D]) == textwrap.dedent("""\
        func main(A: float32[8, 9], D: float32[8, 9]) {
          for i in 0..8:
            for j in 0..9:
              D[i, j] = exp((A[i, j] + 1.0) * 2.0 / 10.0) - (A[i, j] + 1.0)
        }""")
    a = uniform(np.random.default_rng(0), (8, 9))
    out = empty((8, 9), "float32")
    tvm.build(s, [A, D])(a, out)
    wide = a.astype(np.float64)
    close(out, np.exp((wide + 1) * 2 / 10) - (wide + 1), rtol=1e-5)


def test_compute_root_undoes_compute_at():
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: A[i] + 1, name="B")
    C = te.compute((16,), lambda i: B[i] * 2, name="C")
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=4)
    s[B].compute_at(s[C], xo)
    s[B].compute_root()
    assert s[B].attach_type == 1
    assert _nest(s, [A, C]) == textwrap.dedent("""\
        func main(A: float32[16], C: float32[16]) {
          allocate B: float32[16] in global
          for i in 0..16:
            B[i] = A[i] + 1.0
          for i.outer in 0..4:
            for i.inner in 0..4:
              C[i.outer * 4 + i.inner] = B[i.outer * 4 + i.inner] * 2.0
        }""")


@pytest.mark.parametrize("kind", ["AutoInlineElemWise", "AutoInlineBroadcast", "AutoInlineInjective"])
def test_auto_inline_by_kind(kind):
    m, n = te.var("m"), te.var("n")
    A, B, C = te.placeholder((m,), name="A"), te.placeholder((m, n), name="B"), te.placeholder((m, n), name="C")
    reads = {"AutoInlineElemWise": lambda i, j: B(i, j) * C(i, j), "AutoInlineBroadcast": lambda i, j: A(0) * B(i, j),
             "AutoInlineInjective": lambda i, j: A(i) * B(i, j)}[kind]
    T1 = te.compute((m, n), reads, name="T1")
    T2 = te.compute((m, n), lambda i, j: T1(i, j) + C(i, j), name="T2")
    s = te.create_schedule(T2.op)
    assert s[T1].attach_type == 1
    getattr(tvm.te.schedule, kind)(s)
    assert s[T1].attach_type == 2
    nest = str(tvm.te.schedule.ScheduleOps(s.normalize(), tvm.te.schedule.InferBound(s)))
    assert "T1" not in nest
    rng = np.random.default_rng(1)
    a, b, c = uniform(rng, (3,)), uniform(rng, (3, 4)), uniform(rng, (3, 4))
    out = empty((3, 4), "float32")
    tvm.build(s, [A, B, C, T2])(a, b, c, out)
    first = {"AutoInlineElemWise": b * c, "AutoInlineBroadcast": a[0] * b, "AutoInlineInjective": a[:, None] * b}
    close(out, first[kind].astype(np.float64) + c)


def test_auto_inline_leaves_reductions_and_outputs():
    A = te.placeholder((4, 5), name="A")
    k = te.reduce_axis((0, 5), name="k")
    S = te.compute((4,), lambda i: te.sum(A[i, k], axis=k), name="S")
    T = te.compute((4,), lambda i: S[i] * 2.0, name="T")
    s = te.create_schedule(T.op)
    tvm.te.schedule.AutoInlineInjective(s)
    assert (s[S].attach_type, s[T].attach_type) == (1, 1)


def test_cache_write_of_a_tuple_compute():
    m, n = te.var("m"), te.var("n")
    A, B = te.placeholder((m * 4, n), name="A"), te.placeholder((m * 4, n), name="B")
    C1, C2 = te.compute(A.shape, lambda *i: (A(*i) + 1, B(*i) / 2), name="C")
    s = te.create_schedule([C1.op, C2.op])
    cached = s.cache_write([C1, C2], "local")
    assert len(cached) == 2
    rng = np.random.default_rng(2)
    a, b = uniform(rng, (8, 3)), uniform(rng, (8, 3))
    c1, c2 = empty((8, 3), "float32"), empty((8, 3), "float32")
    tvm.build(s, [A, B, C1, C2])(a, b, c1, c2)
    close(c1, a + 1.0)
    close(c2, b / 2.0)


@pytest.mark.parametrize("reduction", [False, True])
def test_cache_write_after_split_and_reorder_keeps_the_loop_order(reduction):
    m, n = te.var("m"), te.var("n")
    A, B = te.placeholder((m * 4, n), name="A"), te.placeholder((m * 4, n), name="B")
    if reduction:
        k = te.reduce_axis((0, n), "k")
        C = te.compute((A.shape[0],), lambda i: te.sum(A(i, k) * B(i, k), axis=k), name="C")
    else:
        C = te.compute(A.shape, lambda i, j: A(i, j) * B(i, j), name="C")
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=4)
    if not reduction:
        s[C].reorder(xo, C.op.axis[1], xi)
    s.cache_write(C, "global")
    rng = np.random.default_rng(3)
    a, b = uniform(rng, (12, 5)), uniform(rng, (12, 5))
    want = (a.astype(np.float64) * b).sum(axis=1) if reduction else a.astype(np.float64) * b
    out = empty(want.shape, "float32")
    tvm.build(s.normalize(), [A, B, C])(a, b, out)
    close(out, want, rtol=1e-5)


@pytest.mark.parametrize("factor_axis", [0, 1])
def test_rfactor_with_factor_axis(factor_axis):
    A = te.placeholder((6, 32), name="A")
    k = te.reduce_axis((0, 32), name="k")
    B = te.compute((6,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(k, factor=4)
    BF = s.rfactor(B, ki, factor_axis=factor_axis)
    assert tuple(BF.shape) == ((4, 6) if factor_axis == 0 else (6, 4))
    a = uniform(np.random.default_rng(4), (6, 32))
    out = empty((6,), "float32")
    tvm.build(s, [A, B])(a, out)
    close(out, a.astype(np.float64).sum(axis=1), rtol=1e-5)


def test_a_producer_inside_a_split_reduction_loop():
    A = te.placeholder((16, 16), name="A")
    B = te.compute((16, 16), lambda i, j: A[i, j] * 2, name="B")
    k = te.reduce_axis((0, 16), name="k")
    C = te.compute((16,), lambda i: te.sum(B[i, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    ko, ki = s[C].split(k, factor=4)
    s[B].compute_at(s[C], ko)
    assert _nest(s, [A, C]) == textwrap.dedent("""\
        func main(A: float32[16, 16], C: float32[16]) {
          for i in 0..16:
            C[i] = 0.0
            for k.outer in 0..4:
              allocate B: float32[1, 4] in global
              for j in 0..4:
                B[0, j] = A[i, k.outer * 4 + j] * 2.0
              for k.inner in 0..4:
                C[i] = C[i] + B[0, k.inner]
        }""")
    a = uniform(np.random.default_rng(5), (16, 16))
    out = empty((16,), "float32")
    tvm.build(s, [A, C])(a, out)
    close(out, 2 * a.astype(np.float64).sum(axis=1), rtol=1e-5)


def test_double_buffer_of_a_stage_in_global_memory_computes_the_same_values():
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: A[i] + 1, name="B")
    C = te.compute((64,), lambda i: B[i] * 2, name="C")
    s = te.create_schedule(C.op)
    s[B].double_buffer()  # before compute_at, as TVM allows
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[B].compute_at(s[C], xo)
    a = uniform(np.random.default_rng(6), (64,))
    for target in ("llvm", "interp"):
        out = empty((64,), "float32")
        tvm.build(s, [A, C], target)(a, out)
        close(out, (a.astype(np.float64) + 1) * 2)


def test_double_buffer_of_a_shared_tile_on_a_gpu_schedule():
    n = 64
    A = te.placeholder((n, n), name="A")
    k = te.reduce_axis((0, n), name="k")
    B = te.compute((n,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    AS = s.cache_read(A, "shared", [B])
    bx, tx = s[B].split(B.op.axis[0], factor=16)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    ko, ki = s[B].split(k, factor=8)
    s[AS].compute_at(s[B], ko)
    s[AS].double_buffer()
    fo, fi = s[AS].split(s[AS].op.axis[0], factor=16)
    s[AS].bind(fi, te.thread_axis("threadIdx.x"))
    a = uniform(np.random.default_rng(7), (n, n))
    out = empty((n,), "float32")
    tvm.build(s, [A, B], "interp")(a, out)
    close(out, a.astype(np.float64).sum(axis=1), rtol=1e-5)
    module = tvm.build(s, [A, B], "cuda")
    assert "__shared__ float A_shared[256];" in module.source  # two 16 x 8 tiles
    if host_emulation.available():
        (host,) = host_emulation.compile_host([module])
        out = empty((n,), "float32")
        host(a, out)
        close(out, a.astype(np.float64).sum(axis=1), rtol=1e-5)


def test_storage_align_pads_the_rows_of_a_producer():
    A = te.placeholder((10, 7), name="A")
    B = te.compute((10, 7), lambda i, j: A[i, j] * 2, name="B")
    C = te.compute((10, 7), lambda i, j: B[i, j] + 1, name="C")
    s = te.create_schedule(C.op)
    s[B].storage_align(B.op.axis[0], 16, 3)
    func = tvm.lower(s, [A, C])
    (buffer,) = [b for b in _allocations(func) if b.name == "B"]
    assert buffer.strides == (19, 1)
    a = uniform(np.random.default_rng(8), (10, 7))
    out = empty((10, 7), "float32")
    tvm.build(s, [A, C])(a, out)
    close(out, a.astype(np.float64) * 2 + 1)


def _allocations(func):
    from tensorir.stmt import Allocate
    from tensorir.visitor import walk

    return [n.buffer for n in walk(func.body) if isinstance(n, Allocate)]


def test_set_scope_local_on_a_cpu_schedule():
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] + 1, name="B")
    C = te.compute((8,), lambda i: B[i] * 2, name="C")
    s = te.create_schedule(C.op)
    s[B].set_scope("local")
    assert _nest(s, [A, C]).splitlines()[1] == "  allocate B: float32[8] in local"
    a = uniform(np.random.default_rng(9), (8,))
    out = empty((8,), "float32")
    tvm.build(s, [A, C])(a, out)
    close(out, (a.astype(np.float64) + 1) * 2)


def test_a_group_without_its_inputs_computed_inside_a_split_loop():
    x = te.placeholder((16, 16), name="x")
    x1 = te.compute(x.shape, lambda *i: x(*i) + 1, name="x1")
    x2 = te.compute(x.shape, lambda *i: x1(*i) + 2, name="x2")
    x3 = te.compute(x.shape, lambda *i: x2(*i) + 3, name="x3")
    s = te.create_schedule(x3.op)
    g = s.create_group(outputs=x2, inputs=x, include_inputs=False)
    xo, xi = s[x3].split(x3.op.axis[0], factor=4)
    g.compute_at(s[x3], xo)
    assert s[x1].attach_type == s[x2].attach_type == 4
    bounds = tvm.te.schedule.InferBound(s)
    assert bounds[x1.op.axis[0]].extent.value == bounds[x2.op.axis[0]].extent.value == 4
    a = uniform(np.random.default_rng(10), (16, 16))
    out = empty((16, 16), "float32")
    tvm.build(s, [x, x3])(a, out)
    close(out, a.astype(np.float64) + 6)


def test_a_group_inlined_and_refused_arguments():
    x = te.placeholder((6,), name="x")
    x1 = te.compute(x.shape, lambda i: x[i] * 2, name="x1")
    x2 = te.compute(x.shape, lambda i: x1[i] + 1, name="x2")
    x3 = te.compute(x.shape, lambda i: x2[i] - x1[i], name="x3")
    s = te.create_schedule(x3.op)
    s.create_group(outputs=x2, inputs=x).compute_inline()
    assert s[x1].attach_type == s[x2].attach_type == 2
    out = empty((6,), "float32")
    tvm.build(s, [x, x3])(np.arange(6, dtype=np.float32), out)
    close(out, np.ones(6))
    with pytest.raises(te.ScheduleError, match=r"create_group: outputs must be a tensor or a list of tensors, got 3"):
        s.create_group(outputs=3)


def test_symbolic_shapes_with_var_and_size_var():
    n, m = te.var("n"), te.size_var("m")
    A = te.placeholder((n, m), name="A")
    B = te.compute((n, m), lambda i, j: A[i, j] * 3, name="B")
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[1], factor=4)
    f = tvm.build(s, [A, B])
    for shape in [(5, 6), (1, 9), (3, 4)]:
        a = uniform(np.random.default_rng(11), shape)
        out = empty(shape, "float32")
        f(a, out)
        close(out, 3 * a.astype(np.float64))


def test_a_compute_with_several_outputs():
    A = te.placeholder((4, 6), name="A")
    low, high = te.compute((4, 6), lambda i, j: (te.min(A[i, j], 0.0), te.max(A[i, j], 0.0)), name="split")
    k = te.reduce_axis((0, 6), name="k")
    total = te.compute((4,), lambda i: te.sum(high[i, k] + low[i, k], axis=k), name="total")
    s = te.create_schedule(total.op)
    s[low].compute_at(s[total], total.op.axis[0])
    a = uniform(np.random.default_rng(12), (4, 6))
    out = empty((4,), "float32")
    tvm.build(s, [A, total])(a, out)
    close(out, a.astype(np.float64).sum(axis=1), rtol=1e-5)


def test_operation_classes_as_tvm_names_them():
    m, n = te.size_var("m"), te.size_var("n")
    x, state = te.placeholder((m, n), name="x"), te.placeholder((m, n), name="state")
    init = te.compute((1, n), lambda _, i: x[0, i], name="init")
    update = te.compute((m, n), lambda t, i: state[t - 1, i] + x[t, i], name="update")
    res = te.scan(init, update, state)
    assert isinstance(x.op, te.PlaceholderOp) and isinstance(init.op, te.ComputeOp)
    assert isinstance(res.op, te.ScanOp) and res.value_index == 0
    assert res.op.output(0) == res and {res.op.output(0): 1}[res] == 1


def test_a_rank_zero_compute():
    A = te.placeholder((5,), name="A")
    k = te.reduce_axis((0, 5), name="k")
    B = te.compute((), lambda: te.sum(A[k] * A[k], axis=k), name="B")
    C = te.compute((5,), lambda i: A[i] / B(), name="C")
    assert tuple(B.shape) == ()
    s = te.create_schedule(C.op)
    a = uniform(np.random.default_rng(13), (5,))
    out = empty((5,), "float32")
    tvm.build(s, [A, C])(a, out)
    close(out, a / (a.astype(np.float64) ** 2).sum(), rtol=1e-5)


def test_extern_body_must_be_a_statement():
    """te.extern is supported (tests/conformance/test_te_extern.py); an fcompute that builds no
    statement is refused naming what it returned."""
    A = te.placeholder((8,), name="A")
    with pytest.raises(te.DefinitionError, match=r"extern\('B'\): fcompute returned NoneType; return the "
                       r"statement of the body \(ib.get\(\)\) or an expression"):
        te.extern((8,), [A], lambda ins, outs: None, name="B")


def test_hybrid_script_is_refused_with_what_to_write_instead():
    with pytest.raises(te.DefinitionError, match=r"hybrid.script\(outer_product\): hybrid scripts \(Python loops "
                       r"parsed into an operation\) are not supported; write each output element as an index "
                       r"expression with ns.compute"):
        @te.hybrid.script
        def outer_product(a, b):
            return a


def test_relations_and_loop_marks_as_tvm_names_them():
    m, n = te.size_var("m"), te.size_var("n")
    A = te.placeholder((m, n), name="A")
    T = te.compute((m, n), lambda i, j: A[i, j], name="T")
    s = te.create_schedule(T.op)
    xo, yo, xi, yi = s[T].tile(T.op.axis[0], T.op.axis[1], x_factor=10, y_factor=5)
    fused = s[T].fuse(xo, yo)
    assert any(isinstance(r, tvm.te.schedule.Fuse) for r in s[T].relations)
    assert sum(isinstance(r, tvm.te.schedule.Split) for r in s[T].relations) == 2
    assert tuple(s[T].leaf_iter_vars) == (fused, xi, yi)
    assert len(s[T].all_iter_vars) == 7  # i, j, their four halves, the fused loop
    s[T].vectorize(yi)
    s[T].unroll(xi)
    attrs = s[T].iter_var_attrs
    assert attrs[xi].iter_type == tvm.te.schedule.IterVar.Unrolled
    assert attrs[yi].iter_type == tvm.te.schedule.IterVar.Vectorized
    assert fused not in attrs
    with pytest.raises(te.ScheduleError, match=r"s\[T\]\.reorder\(j.inner, i.inner, j.inner\): j.inner is listed more "
                       r"than once; list each loop once"):
        s[T].reorder(yi, xi, yi)

    S = te.compute((), lambda: A[0, 0] + 1, name="S")
    s = te.create_schedule(S.op)
    fused = s[S].fuse()
    assert any(isinstance(r, tvm.te.schedule.Singleton) for r in s[S].relations)
    assert tuple(s[S].leaf_iter_vars) == (fused,)


def test_rfactor_of_one_of_two_reduction_axes():
    n = te.size_var("n")
    k1, k2 = te.reduce_axis((0, n), name="k1"), te.reduce_axis((0, n), name="k2")
    A = te.placeholder((n, n, n), name="A")
    B = te.compute((n,), lambda i: te.sum(A[i, k1, k2], axis=[k1, k2]), name="B")
    s = te.create_schedule(B.op)
    BF = s.rfactor(B, k1)
    assert tuple(BF.shape) == (n, n)
    assert len(s[B].all_iter_vars) == 2 and s[B].op.reduce_axis[0].dom.extent == n
    a = uniform(np.random.default_rng(14), (3, 3, 3))
    out = empty((3,), "float32")
    tvm.build(s, [A, B])(a, out)
    close(out, a.astype(np.float64).sum(axis=(1, 2)), rtol=1e-5)


def test_the_lowered_module_indexed_by_function_name():
    A = te.placeholder((4,), name="A")
    B = te.compute((4,), lambda i: A[i] + 1.0, name="B")
    s = te.create_schedule(B.op)
    mod = tvm.lower(s, [A, B], name="addone")
    assert mod["main"] is mod and mod["addone"] is mod
    assert str(mod["main"].body).startswith("for i in 0..4:")
    with pytest.raises(te.LoweringError, match=r"lowered module: no function 'other'; it holds only 'addone' "
                       r"\(also reached as 'main'\)"):
        mod["other"]


def test_caches_of_a_tuple_compute_around_an_inlined_stage():
    shape = (10, 64)
    A, B = te.placeholder(shape, name="A"), te.placeholder(shape, name="B")
    C = te.compute(shape, lambda *index: A(*index) + B(*index), name="C")
    F, E = te.compute(shape, lambda *index: (C(*index), C(*index) * B(*index)), name="F")
    s = te.create_schedule([F.op, E.op])
    s.cache_read(A, "local", [C])
    s.cache_read(B, "local", [C, E])
    s.cache_write(C, "local")
    s.cache_write([F, E], "local")
    s[C].compute_inline()
    assert str(tvm.te.schedule.ScheduleOps(s.normalize(), tvm.te.schedule.InferBound(s)))
    rng = np.random.default_rng(17)
    a, b = uniform(rng, shape), uniform(rng, shape)
    f, e = empty(shape, "float32"), empty(shape, "float32")
    tvm.build(s, [A, B, F, E])(a, b, f, e)
    wide = a.astype(np.float64) + b
    close(f, wide)
    close(e, wide * b)


@pytest.mark.parametrize("tag,scope", [("threadIdx.x", "local"), ("blockIdx.y", "shared")])
def test_a_stage_bound_to_the_thread_of_its_reader_needs_no_guard(tag, scope):
    A = te.placeholder((1, 3, 2), name="A")
    B = te.compute((1, 3, 2), lambda i, j, k: A[i, j, k], name="B")
    C = te.compute((1, 3, 2), lambda i, j, k: B[i, j, k], name="C")
    s = te.create_schedule(C.op)
    s[B].compute_at(s[C], s[C].op.axis[0])
    s[B].set_scope(scope)
    _, inner = s[B].split(s[B].op.axis[1], 3)
    thread = te.thread_axis(tag)
    s[C].bind(s[C].op.axis[0], te.thread_axis("blockIdx.x"))
    s[C].bind(s[C].op.axis[1], thread)
    s[B].bind(inner, thread)
    assert "if " not in str(tvm.lower(s, [A, C])["main"].body)
    a = uniform(np.random.default_rng(18), (1, 3, 2))
    out = empty((1, 3, 2), "float32")
    tvm.build(s, [A, C], "interp")(a, out)
    close(out, a)


def test_group_errors_name_the_tensor_and_the_fix():
    A = te.placeholder((3,), name="A")
    B = te.compute((3,), lambda i: A[i] + 1, name="B")
    C = te.compute((3,), lambda i: B[i] * 2, name="C")
    s = te.create_schedule(C.op)
    other = te.placeholder((3,), name="other")
    with pytest.raises(te.ScheduleError, match=r"create_group: other is not a tensor of this schedule; pass tensors "
                       r"the schedule's outputs are computed from"):
        s.create_group(outputs=other)
    with pytest.raises(te.ScheduleError, match=r"create_group: no compute stage lies between the inputs and the "
                       r"outputs; pass outputs computed from the inputs"):
        s.create_group(outputs=A)
    g = s.create_group(outputs=B, inputs=A)
    with pytest.raises(te.ScheduleError, match=r"group\(B\).compute_at\(s\[B\], ...\): B is a member of the group; "
                       r"attach the group inside a loop of a stage that reads it"):
        g.compute_at(s[B], B.op.axis[0])
