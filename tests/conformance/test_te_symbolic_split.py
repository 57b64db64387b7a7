"""TVM's split by a symbolic factor or number of parts (``s[C].split(x, factor=f)`` with ``f`` a
``te.var``) through :mod:`te_shim`: the amount is bound when the kernel is called, the tail guard
is exact for every value, a non-positive amount is refused at the call before any loop runs,
and the trace records the variable by name."""

import numpy as np
import pytest

from tests.schedules.helpers import check_roundtrip

from .helpers import empty
from .te_shim import te, tvm

TARGETS = ["interp", "llvm"]


def _double():
    n, f = te.var("n"), te.var("f")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=f)
    return s, A, B, f, (xo, xi)


def test_the_nest_of_a_split_by_a_variable():
    s, A, B, f, _ = _double()
    assert str(tvm.lower(s, [A, B, f], simple_mode=True)) == """\
func main(A: float32[n], B: float32[n]) {
  for i.outer in 0..(n - 1) // f + 1:
    for i.inner in 0..f:
      if i.outer * f + i.inner < n:
        B[i.outer * f + i.inner] = A[i.outer * f + i.inner] * 2.0
}"""


@pytest.mark.parametrize("target", TARGETS)
def test_every_factor_bound_at_the_call_gives_numpys_values(target):
    s, A, B, f, _ = _double()
    module = tvm.build(s, [A, B, f], target=target)
    for n in (1, 7, 12):
        a = np.arange(n, dtype=np.float32) - 3
        for factor in (1, 2, 3, 5, n, n + 4, 1000):
            out = empty((n,), "float32")
            module(a, out, factor)
            np.testing.assert_array_equal(out, a * 2)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("factor", [0, -1, -(2**31)])
def test_a_factor_below_one_is_refused_at_the_call(target, factor):
    s, A, B, f, _ = _double()
    module = tvm.build(s, [A, B, f], target=target)
    a, out = np.ones(6, np.float32), empty((6,), "float32")
    with pytest.raises(te.ArgumentError) as info:
        module(a, out, factor)
    assert str(info.value) == (
        f"main: s[B].split(i, factor=f) needs f > 0, but f={factor}; a split runs no iteration (or "
        "divides by zero) otherwise, so pass a positive value")
    assert np.isnan(out).all()


def _matmul_nparts_and_factor():
    f, p = te.var("f"), te.size_var("p")
    A, W = te.placeholder((13, 7), name="A"), te.placeholder((7, 5), name="W")
    AA = te.compute((13, 7), lambda i, k: A[i, k] + 1.0, name="AA")
    k = te.reduce_axis((0, 7), name="k")
    C = te.compute((13, 5), lambda i, j: te.sum(AA[i, k] * W[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    io, ii = s[C].split(C.op.axis[0], nparts=p)
    ko, ki = s[C].split(k, factor=f)
    s[C].reorder(io, ko, ii, C.op.axis[1], ki)
    return s, [A, W, C, f, p], AA, io


@pytest.mark.parametrize("target", TARGETS)
def test_nparts_and_a_reduction_factor_as_variables(target):
    s, args, _, _ = _matmul_nparts_and_factor()
    module = tvm.build(s, args, target=target)
    rng = np.random.default_rng(5)
    a, w = rng.random((13, 7), dtype=np.float32), rng.random((7, 5), dtype=np.float32)
    for factor, parts in [(1, 1), (2, 3), (7, 13), (9, 20), (3, 4)]:
        out = empty((13, 5), "float32")
        module(a, w, out, factor, parts)
        np.testing.assert_allclose(out, (a + 1) @ w, rtol=1e-5)
    with pytest.raises(te.ArgumentError, match=r"s\[C\]\.split\(i, nparts=p\) needs p > 0, but p=0;"):
        module(a, w, empty((13, 5), "float32"), 2, 0)


def test_a_producer_attached_under_a_variable_split():
    f = te.var("f")
    A, W = te.placeholder((13, 7), name="A"), te.placeholder((7, 5), name="W")
    AA = te.compute((13, 7), lambda i, k: A[i, k] + 1.0, name="AA")
    k = te.reduce_axis((0, 7), name="k")
    C = te.compute((13, 5), lambda i, j: te.sum(AA[i, k] * W[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    io, _ = s[C].split(C.op.axis[0], factor=f)
    s[AA].compute_at(s[C], io)
    module = tvm.build(s, [A, W, C, f], target="llvm")
    rng = np.random.default_rng(6)
    a, w = rng.random((13, 7), dtype=np.float32), rng.random((7, 5), dtype=np.float32)
    for factor in (1, 4, 13, 20):
        out = empty((13, 5), "float32")
        module(a, w, out, factor)
        np.testing.assert_allclose(out, (a + 1) @ w, rtol=1e-5)


def test_the_outer_loop_of_a_variable_split_runs_in_parallel():
    s, A, B, f, (xo, _) = _double()
    s[B].parallel(xo)
    module = tvm.build(s, [A, B, f], target="llvm")
    a = np.arange(1000, dtype=np.float32)
    out = empty((1000,), "float32")
    module(a, out, 7)
    np.testing.assert_array_equal(out, a * 2)


def test_the_trace_records_the_variable_and_replays():
    s, A, B, f, _ = _double()
    assert s.trace.to_json() == ('[{"primitive": "split", "stage": "B", "args": {"axis": "i", "factor": '
                                 '{"size_var": "f"}, "nparts": null}, "results": ["i.outer", "i.inner"]}]')
    assert str(s.trace) == "i_outer, i_inner = s[B].split(i, factor=f)"
    n = te.var("n")
    A = te.placeholder((n, n), name="A")
    B = te.compute((n, n), lambda i, j: A[i, j] + 1.0, name="B")
    s = te.create_schedule(B.op)
    s[B].split(B.op.axis[1], factor=n)
    check_roundtrip(s, [A, B])


def test_replaying_a_variable_of_no_shape_is_refused():
    s, A, B, f, _ = _double()
    with pytest.raises(te.ScheduleError) as info:
        te.Schedule.from_trace([B], s.trace.to_json())
    assert str(info.value) == (
        "Schedule.from_trace: a split by the size variable 'f', which is no dimension of the schedule's "
        "tensors; replay it by calling split(..., factor=f) with the variable")


@pytest.mark.parametrize("make, shown", [
    (lambda B: B.op.axis[0], "axis(i, 0..0 + n)"),
    (lambda B: te.var("x", "float32"), "x[]"),
    (lambda B: te.var("n") > 2, "n > 2"),
    (lambda B: 2.5, "2.5"),
])
def test_a_split_by_no_integer_amount_is_refused(make, shown):
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    with pytest.raises(te.ScheduleError) as info:
        s[B].split(B.op.axis[0], factor=make(B))
    assert str(info.value).startswith(f"s[B].split(i, factor={shown}): factor must be a positive integer, got ")
    assert str(info.value).endswith("pass a whole number of iterations, e.g. factor=4, or a size variable "
                                    "(factor=ns.var('f')) bound when the kernel is called")


def test_vectorizing_the_variable_inner_loop_is_refused_with_the_fix():
    s, A, B, f, (_, xi) = _double()
    s[B].vectorize(xi)
    with pytest.raises(te.LoweringError) as info:
        tvm.lower(s, [A, B, f])
    assert str(info.value) == ("lower: loop i.inner of stage B is vectorized but its extent f is symbolic; split "
                               "it by a constant factor and vectorize the inner loop")
