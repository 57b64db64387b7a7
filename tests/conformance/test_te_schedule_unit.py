"""TVM's schedule unit tests (tests/python/te/test_te_schedule.py and test_te_build_lower.py)
as programs through :mod:`te_shim`: the loops each primitive leaves (``leaf_iter_vars``,
``relations``, ``iter_var_attrs``), pickled schedules, pragma hints, rfactor's shapes and axes,
split with ``disable_predication``, a compute_at target split or fused afterwards (its producer
listed among the arguments too), and the calls TVM refuses (a duplicate reorder, fusing loops
that are not neighbours, vectorizing a reduction, attaching a stage to itself or in a cycle),
refused here at the call with the fix. Programs that compute are run against numpy."""

import pickle
import textwrap

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def _nest(s, args):
    return str(tvm.lower(s, args, simple_mode=True))


def _two_dims():
    m, n = te.size_var("m"), te.size_var("n")
    A = te.placeholder((m, n), name="A")
    T = te.compute((m, n), lambda i, j: A[i, j], name="T")
    return A, T


def test_a_scheduled_program_pickles_and_still_computes():
    m, n, w = te.size_var("m"), te.size_var("n"), te.size_var("w")
    A = te.placeholder((m, w), name="A")
    B = te.placeholder((n, w), name="B")
    AA = te.compute((m, w), lambda i, j: A[i, j], name="AA")
    T = te.compute((m, n, w), lambda i, j, k: AA(i, k) * B(j, k), name="T")
    s = te.create_schedule(T.op)
    s[AA].set_scope("shared")
    xo, xi = s[T].split(T.op.axis[0], factor=10)
    xi1, xi2 = s[T].split(xi, factor=2)
    s[AA].compute_at(s[T], xi1)
    s[AA].split(AA.op.axis[0], factor=10)
    s[T].reorder(xi2, xi1)
    assert T.op.axis[1] in s[T].leaf_iter_vars
    loaded = pickle.loads(pickle.dumps(s))
    assert isinstance(loaded, tvm.te.schedule.Schedule)
    assert str(loaded.outputs[0].body) == str(s.outputs[0].body)
    # the loaded schedule holds copies of the tensors: its program is built from its own
    T2 = loaded.outputs[0].output(0)
    AA2, B2 = T2.op.input_tensors
    rng = np.random.default_rng(0)
    a, b = uniform(rng, (13, 4)), uniform(rng, (3, 4))
    for schedule, args in ((s, [A, B, T]), (loaded, [AA2.op.input_tensors[0], B2, T2])):
        out = empty((13, 3, 4), "float32")
        tvm.build(schedule, args)(a, b, out)
        close(out, a[:, None, :] * b[None, :, :])


def test_reorder_sets_the_loop_order_and_refuses_a_loop_given_twice():
    m = te.size_var("m")
    A = te.placeholder((m,), name="A")
    T = te.compute((m - 1,), lambda i: A[i + 1], name="T")
    s = te.create_schedule(T.op)
    xo, xi = s[T].split(T.op.axis[0], factor=10)
    xi1, xi2 = s[T].split(xi, factor=2)
    order = (xi2, xi1, xo)
    assert tuple(s[T].leaf_iter_vars) != order
    s[T].reorder(*order)
    assert tuple(s[T].leaf_iter_vars) == order
    with pytest.raises(te.ScheduleError, match=r"s\[T\]\.reorder\(i\.inner\.inner, i\.inner\.outer, i\.inner\.inner\): "
                       r"i\.inner\.inner is listed more than once; list each loop once"):
        s[T].reorder(xi2, xi1, xi2)
    assert tuple(s[T].leaf_iter_vars) == order
    a = uniform(np.random.default_rng(1), (47,))
    out = empty((46,), "float32")
    tvm.build(s, [A, T])(a, out)
    close(out, a[1:])


def test_split_tile_and_fuse_leave_these_loops():
    A, T = _two_dims()
    s = te.create_schedule(T.op)
    xo, xi = s[T].split(T.op.axis[0], factor=10)
    assert tuple(s[T].leaf_iter_vars) == (xo, xi, T.op.axis[1])
    s = te.create_schedule(T.op)
    xo, yo, xi, yi = s[T].tile(T.op.axis[0], T.op.axis[1], x_factor=10, y_factor=5)
    assert tuple(s[T].leaf_iter_vars) == (xo, yo, xi, yi)
    fused = s[T].fuse(xo, yo)
    assert any(isinstance(r, tvm.te.schedule.Fuse) for r in s[T].relations)
    assert tuple(s[T].leaf_iter_vars) == (fused, xi, yi)
    s = te.create_schedule(T.op)
    xo, xi = s[T].split(T.op.axis[0], factor=10)
    fused = s[T].fuse(xi, T.op.axis[1])
    assert tuple(s[T].leaf_iter_vars) == (xo, fused)
    a = uniform(np.random.default_rng(2), (23, 7))
    out = empty((23, 7), "float32")
    tvm.build(s, [A, T])(a, out)
    close(out, a)


def test_fuse_takes_only_neighbouring_loops_in_their_order():
    A, T = _two_dims()
    s = te.create_schedule(T.op)
    y = T.op.axis[1]
    xo, xi = s[T].split(T.op.axis[0], factor=10)
    with pytest.raises(te.ScheduleError, match=r"s\[T\]\.fuse\(i\.outer, j\): the loops \['i\.outer', 'j'\] are not "
                       r"adjacent and in this order \(loop order is \['i\.outer', 'i\.inner', 'j'\]\); reorder them"):
        s[T].fuse(xo, y)
    s[T].reorder(y, xo, xi)
    with pytest.raises(te.ScheduleError, match=r"s\[T\]\.fuse\(j, i\.inner\): the loops \['j', 'i\.inner'\] are not "
                       "adjacent"):
        s[T].fuse(y, xi)
    fused = s[T].fuse(y, xo)
    assert tuple(s[T].leaf_iter_vars) == (fused, xi)
    a = uniform(np.random.default_rng(3), (21, 4))
    out = empty((21, 4), "float32")
    tvm.build(s, [A, T])(a, out)
    close(out, a)


def test_fuse_of_no_loops_of_a_scalar_is_a_singleton_and_pickles():
    A = te.placeholder((), name="A")
    T = te.compute((), lambda: A() + 1, name="T")
    s = te.create_schedule(T.op)
    fused = s[T].fuse()
    assert any(isinstance(r, tvm.te.schedule.Singleton) for r in s[T].relations)
    assert tuple(s[T].leaf_iter_vars) == (fused,)
    loaded = pickle.loads(pickle.dumps(s))
    assert isinstance(loaded, tvm.te.schedule.Schedule)
    T2 = loaded.outputs[0].output(0)
    out = empty((), "float32")
    tvm.build(loaded, [T2.op.input_tensors[0], T2])(np.array(2.5, "float32"), out)
    close(out, np.array(3.5))


def test_unroll_and_vectorize_are_the_loops_iter_types_and_a_reduction_is_not_vectorized():
    A, T = _two_dims()
    s = te.create_schedule(T.op)
    xo, yo, xi, yi = s[T].tile(T.op.axis[0], T.op.axis[1], x_factor=10, y_factor=5)
    s[T].vectorize(yi)
    s[T].unroll(xi)
    IterVar = tvm.te.schedule.IterVar
    assert s[T].iter_var_attrs[xi].iter_type == IterVar.Unrolled
    assert s[T].iter_var_attrs[yi].iter_type == IterVar.Vectorized
    V = te.placeholder((128,), name="V")
    ax = te.reduce_axis((0, 128), name="ax")
    R = te.compute((1,), lambda _: te.sum(V[ax], axis=[ax]), name="O")
    s = te.create_schedule(R.op)
    with pytest.raises(te.ScheduleError, match=r"s\[O\]\.vectorize\(ax\): ax is a reduction loop; running its "
                       "iterations at the same time would race on the accumulator; mark a data-parallel loop"):
        s[R].vectorize(ax)


def test_pragma_records_its_hints_and_computes_the_same_values():
    A = te.placeholder((100,), name="A")
    T = te.compute((100,), lambda i: A[i] * 2, name="T")
    s = te.create_schedule(T.op)
    xo, xi = s[T].split(T.op.axis[0], factor=10)
    s[T].pragma(xo, "pragma1")
    s[T].pragma(xo, "auto_unroll_max_step", 16)
    s[T].pragma(xi, "vectorize")
    attrs = s[T].iter_var_attrs
    assert [key.value for key in attrs[xo].pragma_keys] == ["pragma1", "auto_unroll_max_step"]
    assert list(attrs[xo].pragma_values) == [None, 16]
    assert attrs[xo].iter_type == tvm.te.schedule.IterVar.DataPar
    assert attrs[xi].iter_type == tvm.te.schedule.IterVar.Vectorized
    assert attrs[xi].pragma_keys == ()
    a = uniform(np.random.default_rng(4), (100,))
    out = empty((100,), "float32")
    tvm.build(s, [A, T])(a, out)
    close(out, 2 * a)
    with pytest.raises(te.ScheduleError, match=r"s\[T\]\.pragma\(i\.outer, 3\): the pragma key must be a non-empty "
                       "string"):
        s[T].pragma(xo, 3)
    with pytest.raises(te.ScheduleError, match=r"s\[T\]\.pragma\(i\.outer, 'k'\): the pragma value \[1\] is a list; "
                       "give a number, a string or an expression"):
        s[T].pragma(xo, "k", [1])
    with pytest.raises(te.ScheduleError, match=r"s\[T\].*no loop named 'nope'"):
        s[T].pragma("nope", "pragma1")


def test_rfactor_shapes_and_axes_as_tvm_gives_them():
    n = te.size_var("n")
    k1, k2 = te.reduce_axis((0, n), name="k1"), te.reduce_axis((0, n), name="k2")
    A = te.placeholder((n, n, n), name="A")
    B = te.compute((n,), lambda i: te.sum(A[i, k1, k2], axis=[k1, k2]), name="B")
    s = te.create_schedule(B.op)
    BF = s.rfactor(B, k1)
    assert tuple(BF.shape) == (n, n)
    assert set(BF.op.body[0].axis) == {k2}
    assert s[B].op.body[0].axis[0].dom.extent == n
    assert len(s[B].all_iter_vars) == 2
    for factor_axis in (0, 1):
        s = te.create_schedule(B.op)
        ko, ki = s[B].split(k1, factor=4)
        s[B].split(B.op.axis[0], factor=8)  # dropped by rfactor, as in TVM
        BF = s.rfactor(B, ki, factor_axis)
        assert BF.shape[factor_axis].value == 4
        assert BF.shape[1 - factor_axis] == n
        assert BF.op.body[0].axis[0] == k2
        assert BF.op.body[0].axis[1].var == ko.var
        assert s[B].op.body[0].axis[0].dom.extent.value == 4
        rng = np.random.default_rng(5)
        a = uniform(rng, (6, 6, 6))
        out = empty((6,), "float32")
        tvm.build(s, [A, B])(a, out)
        close(out, a.astype(np.float64).sum(axis=(1, 2)), rtol=1e-4, atol=1e-5)


def test_a_compute_at_target_split_or_fused_afterwards_keeps_the_producer_inside():
    A = te.compute((10, 10), lambda i, j: 1.0, name="A")
    B = te.compute((10, 10), lambda i, j: A[i][j], name="B")
    s = te.create_schedule([B.op])
    s[A].compute_at(s[B], B.op.axis[1])
    s[B].split(B.op.axis[1], 2)
    assert _nest(s, [B]) == textwrap.dedent("""\
        func main(B: float32[10, 10]) {
          for i in 0..10:
            for j.outer in 0..5:
              for j.inner in 0..2:
                allocate A: float32[1, 1] in global
                A[0, 0] = 1.0
                B[i, j.outer * 2 + j.inner] = A[0, 0]
        }""")
    # listed among the arguments (as TVM's test lowers it), A is stored into the caller's array
    assert _nest(s, [A, B]) == textwrap.dedent("""\
        func main(A: float32[10, 10], B: float32[10, 10]) {
          for i in 0..10:
            for j.outer in 0..5:
              for j.inner in 0..2:
                A[i, j.outer * 2 + j.inner] = 1.0
                B[i, j.outer * 2 + j.inner] = A[i, j.outer * 2 + j.inner]
        }""")
    s = te.create_schedule([B.op])
    s[A].compute_at(s[B], B.op.axis[1])
    s[B].fuse(B.op.axis[0], B.op.axis[1])
    for target in ("llvm", "interp"):
        a, out = empty((10, 10), "float32"), empty((10, 10), "float32")
        tvm.build(s, [A, B], target=target)(a, out)
        close(a, np.ones((10, 10)))
        close(out, np.ones((10, 10)))


def test_a_stage_attached_to_itself_or_in_a_cycle_is_refused():
    def program():
        A = te.compute((16, 16), lambda *i: 1.0, name="A")
        B = te.compute((16, 16), lambda *i: 2.0, name="B")
        C = te.compute((16, 16), lambda *i: A(*i) + B(*i), name="C")
        return A, B, C, te.create_schedule(C.op)

    A, B, C, s = program()
    with pytest.raises(te.ScheduleError, match=r"s\[C\]\.compute_at\(s\[C\], i0\): C is an output of the schedule; "
                       "outputs are computed at root"):
        s[C].compute_at(s[C], C.op.axis[0])
    A, B, C, s = program()
    s[A].compute_at(s[C], C.op.axis[0])
    with pytest.raises(te.ScheduleError, match=r"s\[C\]\.compute_at\(s\[A\], i0\): C is an output"):
        s[C].compute_at(s[A], A.op.axis[0])
    out = empty((16, 16), "float32")
    tvm.build(s, [C])(out)  # the refused call changed nothing
    close(out, np.full((16, 16), 3.0))


@pytest.mark.parametrize("size", [43, 44])
def test_split_with_disable_predication_is_safe_at_every_size(size):
    A = te.placeholder((size,), name="A")
    B = te.compute(A.shape, lambda i: A[i] + 2, name="C")
    s = te.create_schedule(B.op)
    (i,) = s[B].op.axis
    s[B].split(i, factor=4, disable_predication=True)
    guarded = "if i.outer * 4 + i.inner < 43" in _nest(s, [A, B])
    assert guarded == (size == 43)  # kept only where the split overruns the loop
    a = uniform(np.random.default_rng(6), (size,))
    out = empty((size,), "float32")
    tvm.build(s, [A, B])(a, out)
    close(out, a + 2)
    with pytest.raises(te.ScheduleError, match=r"s\[C\]\.split\(i\.outer, disable_predication='yes'\): expected "
                       "True or False"):
        s[B].split(s[B].leaf_iter_vars[0], factor=2, disable_predication="yes")


def test_an_uneven_split_guards_its_body():
    a = te.placeholder((16, 16), name="a")
    b = te.placeholder((16, 16), name="b")
    c = te.compute((16, 16), lambda x, y: a[x, y] + b[x, y], name="c")
    s = te.create_schedule(c.op)
    s[c].split(c.op.axis[0], 5)
    assert _nest(s, [a, b, c]) == textwrap.dedent("""\
        func main(a: float32[16, 16], b: float32[16, 16], c: float32[16, 16]) {
          for x.outer in 0..4:
            for x.inner in 0..5:
              if x.outer * 5 + x.inner < 16:
                for y in 0..16:
                  c[x.outer * 5 + x.inner, y] = a[x.outer * 5 + x.inner, y] + b[x.outer * 5 + x.inner, y]
        }""")


def test_rfactor_then_thread_bound_final_reduction():
    n, m = te.size_var("n"), te.size_var("m")
    A = te.placeholder((n, m), name="A")
    k = te.reduce_axis((0, m), "k")
    B = te.compute((n,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=16)
    BF = s.rfactor(B, ki)
    xo, xi = s[B].split(s[B].op.axis[0], factor=32)
    s[B.op].bind(xo, te.thread_axis("blockIdx.x"))
    s[B.op].bind(xi, te.thread_axis("threadIdx.y"))
    s[B].bind(s[B].op.reduce_axis[0], te.thread_axis("threadIdx.x"))
    s[BF].compute_at(s[B], s[B].op.reduce_axis[0])
    tvm.lower(s, [A, B])
    a = uniform(np.random.default_rng(7), (37, 53))
    out = empty((37,), "float32")
    tvm.build(s, [A, B], target="interp")(a, out)
    close(out, a.astype(np.float64).sum(axis=1), rtol=1e-4, atol=1e-5)


def test_stage_and_axis_views_as_tvm_names_them():
    A = te.placeholder((4, 5), name="A")
    k = te.reduce_axis((0, 5), name="k")
    B = te.compute((4,), lambda i: te.sum(A[i, k], axis=k), name="B")
    C = te.compute((4,), lambda i: B[i] * 2, name="C")
    s = te.create_schedule(C.op)
    CC = s.cache_write(C, "local")
    assert s[C].origin_op is C.op and s[C].op is not C.op  # the stage copies from the cache now
    assert s[CC].origin_op is CC.op
    s[B].compute_at(s[CC], CC.op.axis[0])
    assert s[B].attach_stage is s[CC] and s[B].attach_ivar is CC.op.axis[0]
    assert s[C].attach_stage is None and s[C].attach_ivar is None
    assert s.stage_map[B.op] is s[B] and s.stage_map[A.op] is s[A] and s.stage_map[C.op] is s[C]
    assert isinstance(s[B], te.schedule.Stage)
    assert (k.iter_type, B.op.axis[0].iter_type, B.op.axis[0].thread_tag) == (2, 0, "")
    tx = te.thread_axis((0, 4), "threadIdx.x")
    assert (tx.iter_type, tx.thread_tag, tx.dom.extent) == (te.schedule.IterVar.ThreadIndex, "threadIdx.x", 4)
    out = empty((4,), "float32")
    a = uniform(np.random.default_rng(8), (4, 5))
    tvm.build(s, [A, C])(a, out)
    close(out, 2 * a.astype(np.float64).sum(axis=1), rtol=1e-5, atol=1e-5)
