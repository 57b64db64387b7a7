"""TVM's reduction integration programs (tests/python/integration/test_reduce.py) through
:mod:`te_shim`: sum/min/max over rows with a ``where=`` that reads an inlined stage, on GPU
indices; rfactor of a split reduction into parallel partial sums, lowered first and then built
from the lowered function (``tvm.build(tvm.lower(s, args), target=, name=)``); rfactor across
``threadIdx.x`` with a store predicate; and the one program of that file Nestor refuses, with
why. GPU programs run on the interpreter (CUDA's semantics); values against numpy."""

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


@pytest.mark.parametrize("reducer, np_reducer", [(te.sum, np.sum), (te.min, np.amin), (te.max, np.amax)])
def test_a_row_reduction_where_an_inlined_stage_says(reducer, np_reducer):
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n, m), name="A")
    R = te.compute((n,), lambda i: tvm.tir.Select(i > 1, 1, 0), name="R")
    k = te.reduce_axis((0, m))
    B = te.compute((n,), lambda i: reducer(A[i, k], axis=k, where=(R[i] == 1)), name="B")
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=1)
    s[B].bind(xo, te.thread_axis("blockIdx.x"))
    s[B].bind(xi, te.thread_axis("threadIdx.x"))
    s[R].compute_inline()
    f = tvm.build(s, args=[A, B], target="interp", target_host="llvm", name="myreduce")
    x = uniform(np.random.default_rng(0), (20, 13))
    out = empty((20,), "float32")
    f(x, out)
    want = np_reducer(x.astype(np.float64), axis=1)
    close(out[2:], want[2:], rtol=1e-5)
    # rows 0 and 1 combine nothing: the reducer's start value (TVM's test masks them out); te.max
    # starts from min_value(float32), te.min from max_value(float32), the finite extremes
    lowest, highest = np.finfo(np.float32).min, np.finfo(np.float32).max
    np.testing.assert_array_equal(out[:2], {te.sum: 0.0, te.min: highest, te.max: lowest}[reducer])


@pytest.mark.parametrize("factor_axis", [0, 1])
def test_rfactor_into_parallel_partial_sums_built_from_the_lowered_function(factor_axis):
    n = 1027
    A = te.placeholder((n,), name="A")
    k = te.reduce_axis((0, n))
    B = te.compute((1,), lambda i: te.sum(A[k], axis=k), name="B")
    s = te.create_schedule(B.op)
    kf, _ = s[B].split(k, nparts=4)
    BF = s.rfactor(B, kf, factor_axis)
    s[BF].parallel(BF.op.axis[0])
    fsum = tvm.build(tvm.lower(s, args=[A, B]), target="llvm", name="mysum")
    a = uniform(np.random.default_rng(1), (n,))
    out = empty((1,), "float32")
    fsum(a, out)
    close(out, [a.astype(np.float64).sum()], rtol=1e-4)


def test_rfactor_across_thread_x_with_a_store_predicate():
    nn, mm = 101, 10
    A = te.placeholder((mm, nn), name="A")
    k = te.reduce_axis((0, nn))
    B = te.compute((mm,), lambda i: te.sum(A[i, k], axis=k, where=(i > 1)), name="B")
    s = te.create_schedule(B.op)
    _, kf = s[B].split(k, factor=16)
    BF = s.rfactor(B, kf)
    bx, ty = s[B].split(s[B].op.axis[0], factor=16)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(ty, te.thread_axis("threadIdx.y"))
    thread_x = te.thread_axis("threadIdx.x")
    s[B].bind(s[B].op.reduce_axis[0], thread_x)
    s[BF].compute_at(s[B], s[B].op.reduce_axis[0])
    s[B].set_store_predicate(thread_x.var.equal(0))
    fsum = tvm.build(tvm.lower(s, args=[A, B]), target="interp", name="mysum")
    a = uniform(np.random.default_rng(2), (mm, nn))
    out = empty((mm,), "float32")
    fsum(a, out)
    want = a.astype(np.float64).sum(axis=1)
    want[:2] = 0
    close(out, want, rtol=1e-4, atol=1e-5)


def test_a_store_predicate_over_a_thread_index_only_a_producer_binds_is_refused():
    """TVM's test_rfactor_elemwise_threads predicates C's store on threadIdx.x, which only the
    reduction attached inside C binds; Nestor's predicate names the stage's own bound loops."""
    n, m = 65, 10
    A = te.placeholder((m, n), name="A")
    k = te.reduce_axis((0, n))
    B = te.compute((m,), lambda i: te.sum(A[i, k], axis=k), name="B")
    C = te.compute((m,), lambda i: B[i] + 2, name="C")
    s = te.create_schedule(C.op)
    bx, ty = s[C].split(s[C].op.axis[0], factor=16)
    _, kf = s[B].split(k, factor=16)
    BF = s.rfactor(B, kf)
    s[B].compute_at(s[C], ty)
    s[C].bind(bx, te.thread_axis("blockIdx.x"))
    s[C].bind(ty, te.thread_axis("threadIdx.y"))
    thread_x = te.thread_axis("threadIdx.x")
    s[B].bind(s[B].op.reduce_axis[0], thread_x)
    s[BF].compute_at(s[B], s[B].op.reduce_axis[0])
    s[B].set_store_predicate(thread_x.var.equal(0))
    s[C].set_store_predicate(thread_x.var.equal(0))
    with pytest.raises(te.LoweringError, match=r"the store predicate threadIdx.x == 0 of C uses threadIdx.x, but no "
                       "loop of C is bound to it; bind one, or drop it from the predicate"):
        tvm.lower(s, [A, C])
