"""TVM's schedule-ops and bound-inference unit tests (test_te_schedule_ops.py,
test_te_schedule_bound_inference.py) as programs through :mod:`te_shim`, those the earlier
conformance files leave out: subscripts whose bounds TVM's simplifier cannot tighten (a
truncated division of the index among them), an argmax over an inlined stage, a pragma with a
value on the loop a producer is attached at, a fused loop split by a constant with its producer
inside; and the programs TVM takes that Nestor refuses at the call, with why. Values against
numpy, on the interpreter and LLVM."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm

_INDICES = np.arange(10)
#: TVM's subscripts of a tensor of two, each in 0..2 for every i in 0..10 though no interval
#: arithmetic shows it; with numpy's value of each
_SUBSCRIPTS = {
    "min3i4i+min-3i-2i": (lambda i: te.min(3 * i, 4 * i) + te.min(-3 * i, -2 * i), 0 * _INDICES),
    "min3i4i+max-3i-4i": (lambda i: te.min(3 * i, 4 * i) + te.max(-3 * i, -4 * i), 0 * _INDICES),
    "-2truncdiv(i,2)-min(i,-i)": (lambda i: -2 * te.truncdiv(i, 2) - te.min(i, 0 - i), _INDICES % 2),
    "i+(0-i)": (lambda i: i + (0 - i), 0 * _INDICES),
}


@pytest.mark.parametrize("target", ["interp", "llvm"])
@pytest.mark.parametrize("case", list(_SUBSCRIPTS))
def test_subscripts_no_simplifier_bounds_read_the_right_elements(case, target):
    subscript, want = _SUBSCRIPTS[case]
    A = te.compute((2,), lambda j: j * 10 + 7, "A")
    B = te.compute((10,), lambda i: A[subscript(i)], name="B")
    s = te.create_schedule(B.op).normalize()
    assert tvm.te.schedule.InferBound(s)[A.op.axis[0]].extent.value <= 2
    out, a = empty((10,), "int32"), empty((2,), "int32")
    tvm.build(s, [B, A], target=target)(out, a)
    np.testing.assert_array_equal(out, want * 10 + 7)


def test_truncated_division_and_remainder_of_an_index_by_an_int32_on_llvm():
    """The loop index is 64 bits wide in LLVM; ``truncdiv``/``truncmod`` of it by a 32-bit
    operand widen that operand (they used to reach LLVM with two types)."""
    A = te.placeholder((12,), "int32", name="A")
    B = te.compute((12,), lambda i: te.truncdiv(i, A[i]) * 100 + te.truncmod(i - 6, A[i]), name="B")
    a = np.array([1, 2, 3, 4, 5, 6, 7, -2, -3, 5, 4, 3], np.int32)
    out = empty((12,), "int32")
    tvm.build(te.create_schedule(B.op), [A, B], target="llvm")(a, out)
    i = np.arange(12)
    np.testing.assert_array_equal(out, np.trunc(i / a).astype(int) * 100 + np.fmod(i - 6, a))


def test_an_argmax_over_an_inlined_stage():
    def combine(x, y):
        keep = x[1] >= y[1]
        return te.Select(keep, x[0], y[0]), te.Select(keep, x[1], y[1])

    argmax = te.comm_reducer(combine, lambda it, vt: (tvm.tir.const(-1, it), te.min_value(vt)), name="argmax")
    m, n = te.var("m"), te.var("n")
    val = te.placeholder((m, n), name="val")
    val1 = te.compute((m, n), lambda i, j: val[i, j] + 1, name="val1")
    val2 = te.compute((m, n), lambda i, j: te.exp(val1[i, j]), name="val2")
    k = te.reduce_axis((0, n), "k")
    T_idx, T_val = te.compute((m,), lambda i: argmax((k.var, val2[i, k]), axis=k), name="T")
    s = te.create_schedule(T_idx.op)
    s[val1].compute_inline()
    s = s.normalize()
    assert "val1" not in str(tvm.te.schedule.ScheduleOps(s, tvm.te.schedule.InferBound(s)))
    a = uniform(np.random.default_rng(4), (4, 7))
    idx, best = empty((4,), "int32"), empty((4,), "float32")
    tvm.build(s, [val, T_idx, T_val])(a, idx, best)
    np.testing.assert_array_equal(idx, a.argmax(axis=1))
    close(best, np.exp(a.astype(np.float64) + 1).max(axis=1))


def test_a_pragma_with_a_value_on_the_loop_a_producer_is_attached_at():
    m, n = te.var("m"), te.var("l")
    A = te.placeholder((m, n), name="A")
    A1 = te.compute((m, n), lambda i, j: A[i, j], name="A1")
    A2 = te.compute((m, n), lambda i, j: A1[i, j] + 3, name="A2")
    s = te.create_schedule(A2.op)
    xo, _ = s[A2].split(A2.op.axis[0], 8)
    s[A2].pragma(xo, "auto_unroll_max_step", 10)
    s[A1].compute_at(s[A2], xo)
    assert isinstance(tvm.lower(s, [A, A2])["main"], tvm.tir.PrimFunc)
    bounds = tvm.te.schedule.InferBound(s)
    assert bounds[A1.op.axis[0]].extent.value == 8
    assert [k.value for k in s[A2].iter_var_attrs[xo].pragma_keys] == ["auto_unroll_max_step"]
    a = uniform(np.random.default_rng(5), (11, 3))
    out = empty((11, 3), "float32")
    tvm.build(s, [A, A2])(a, out)
    close(out, a.astype(np.float64) + 3)


def test_a_fused_loop_split_by_three_with_its_producer_inside():
    """TVM's test_bound_fusesplit2: rows of six split in threes, so at ``xo = 5`` the producer
    computes row 2, columns 3..6."""
    m = te.var("m")
    A = te.placeholder((m, 6), name="A")
    A1 = te.compute((m, 6), lambda i, j: A[i, j], name="A1")
    A2 = te.compute((m, 6), lambda i, j: A1[i, j] + 3, name="A2")
    s = te.create_schedule(A2.op)
    xo, _ = s[A2].split(s[A2].fuse(*A2.op.axis), 3)
    s[A1].compute_at(s[A2], xo)
    bounds = tvm.te.schedule.InferBound(s)
    assert [bounds[A1.op.axis[d]].extent.value for d in (0, 1)] == [1, 3]
    assert [str(bounds[A1.op.axis[d]].min) for d in (0, 1)] == [f"{xo.var} * 3 // 6", f"{xo.var} * 3 % 6"]
    a = uniform(np.random.default_rng(6), (5, 6))
    out = empty((5, 6), "float32")
    tvm.build(s, [A, A2])(a, out)
    close(out, a.astype(np.float64) + 3)


def test_programs_tvm_takes_that_are_refused_at_the_call():
    m, n = te.var("m"), te.var("n")
    state = te.placeholder((m, n), name="state")
    with pytest.raises(te.DefinitionError, match=(  # TVM's test_scan_inline2: column 2 of a state of n columns
            r"compute x2: the access state\[t - 1, 2\] may go out of bounds: its index 1, 2, is 2 at every point "
            r"when m=1, n=1, but dimension 1 of state \(shape \[m, n\]\) has the range 0..n; guard it with "
            r"if_then_else\(\.\.\.\) or shrink the ranges")):
        te.compute((m, n), lambda t, i: state[t - 1, 2] + 1, name="x2")
    X = te.placeholder((10,), name="x")

    def capturing(size):  # TVM's test_loop_dep_reduce_cache_write: the combiner reads the output index
        rv = te.reduce_axis((0, size))
        total = te.comm_reducer(lambda x, y: te.max(x + y, size.astype("float32")),
                                lambda dtype: tvm.tir.const(0, dtype), name="sum")
        return total(X[rv], axis=rv)

    with pytest.raises(te.DefinitionError, match=(
            r"sum: fcombine's result max\(x \+ y, float32\(size\)\) uses size, which is not one of its arguments; "
            r"combine only the two values it is given")):
        te.compute(X.shape, capturing, name="y")
    A = te.placeholder((4, 4), name="A")
    B = te.compute((4, 4), lambda i, j: A[i, j], name="B")
    s = te.create_schedule(te.compute((4, 4), lambda i, j: B[i, j] + 3, name="C").op)
    with pytest.raises(te.ScheduleError, match=r"s\[B\].set_scope\('warp'\): unknown scope 'warp'; use 'global', "
                       r"'shared' or 'local'"):
        s[B].set_scope("warp")
    with pytest.raises(te.ScheduleError, match=r"create_schedule: give at least one output tensor"):
        te.create_schedule([])
    with pytest.raises(te.ScheduleError, match=r"s\[B\].env_threads\(\['i'\]\): B is not a scan; env_threads is "
                       r"for the stage of a te.scan"):  # the loop is named (it used to show as '')
        s[B].env_threads([B.op.axis[0]])
