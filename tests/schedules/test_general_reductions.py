"""General reductions lowered and run: where= and init= on sum/max/min, user reducers
(ns.comm_reducer: product, sum of squares, a logsumexp pair, complex product), tuple reducers
(argmax/argmin) and reductions over several axes; each against numpy on the interpreter and
llvm, with golden loop nests and trace round trips where the structure matters; and random
schedules of such operators (:mod:`tests.catalogue_reductions`)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nestor as ns
from nestor import ScheduleError
from tests.catalogue import random_array
from tests.catalogue_reductions import REDUCTIONS

from .helpers import check_roundtrip, nest
from .test_random_schedules import check_random_schedule

TARGETS = ("interp", "llvm")


def run(s, args, inputs, target):
    """The outputs (the arguments after ``inputs``) computed by ``target``, starting from junk."""
    module = ns.build(s, list(args), target=target)
    outputs = [np.full(t.shape, np.nan if t.dtype.is_float else -7, dtype=t.dtype.numpy)
               for t in args[len(inputs):]]
    module(*inputs, *outputs)
    return outputs


def check(s, args, inputs, want, rtol=1e-5):
    for target in TARGETS:
        got = run(s, args, inputs, target)
        for g, w in zip(got, want):
            if g.dtype.kind == "f":
                np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-5, err_msg=target)
            else:
                np.testing.assert_array_equal(g, w, err_msg=target)


def argmax_reducer(name="argmax", better=lambda a, b: a >= b, worst=ns.min_value):
    def fcombine(x, y):
        keep = better(x[1], y[1])
        return ns.if_then_else(keep, x[0], y[0]), ns.if_then_else(keep, x[1], y[1])

    return ns.comm_reducer(fcombine, lambda t0, t1: (ns.const(-1, t0), worst(t1)), name=name)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


# -- where= and init= -------------------------------------------------------------------------
def test_where_and_init_nest_and_values(rng):
    A = ns.placeholder((6, 8), name="A")
    B = ns.placeholder((6,), name="B")
    k = ns.reduce_axis(8, "k")
    C = ns.compute((6,), lambda i: ns.sum(A[i, k], axis=k, where=A[i, k] > 0, init=B[i]), name="C")
    s = ns.create_schedule(C)
    assert nest(s, [A, B, C]) == """\
func f(A: float32[6, 8], B: float32[6], C: float32[6]) {
  for i in 0..6:
    C[i] = B[i]
    for k in 0..8:
      if A[i, k] > 0.0:
        C[i] = C[i] + A[i, k]
}"""
    a, b = random_array(rng, (6, 8)), random_array(rng, (6,))
    check(s, [A, B, C], [a, b], [b + np.where(a > 0, a, 0).sum(1)])


@pytest.mark.parametrize("reducer, numpy_reducer, fill", [
    (ns.sum, np.sum, 0.0), (ns.max, np.max, -np.inf), (ns.min, np.min, np.inf)])
def test_builtin_reducers_with_where_and_init(reducer, numpy_reducer, fill, rng):
    A = ns.placeholder((5, 7), name="A")
    k = ns.reduce_axis(7, "k")
    C = ns.compute((5,), lambda i: reducer(A[i, k], axis=k, where=k % 2 == i % 2, init=0.25), name="C")
    s = ns.create_schedule(C)
    a = random_array(rng, (5, 7))
    mask = (np.arange(7)[None, :] % 2) == (np.arange(5)[:, None] % 2)
    picked = numpy_reducer(np.where(mask, a, fill), axis=1)
    want = picked + 0.25 if reducer is ns.sum else (np.maximum if reducer is ns.max else np.minimum)(picked, 0.25)
    check(s, [A, C], [a], [want.astype(np.float32)])


def test_where_excluding_every_point_leaves_the_init(rng):
    # TVM's te.max starts from min_value(float32), the finite lowest float, not -inf
    A = ns.placeholder((4, 3), name="A")
    k = ns.reduce_axis(3, "k")
    C = ns.compute((4,), lambda i: ns.max(A[i, k], axis=k, where=i > 1), name="C")
    a = random_array(rng, (4, 3))
    want = np.concatenate([np.full(2, np.finfo(np.float32).min, np.float32), a[2:].max(1)])
    check(ns.create_schedule(C), [A, C], [a], [want])


def test_where_guards_an_access_past_the_end(rng):
    A = ns.placeholder((9,), name="A")
    r = ns.reduce_axis(3, "r")
    C = ns.compute((9,), lambda i: ns.sum(A[i + r], axis=r, where=i + r < 9), name="C")
    a = random_array(rng, (9,))
    padded = np.concatenate([a, np.zeros(2, np.float32)])
    check(ns.create_schedule(C), [A, C], [a], [padded[:9] + padded[1:10] + padded[2:11]])


def test_reduction_over_two_axes_with_where(rng):
    A = ns.placeholder((3, 5, 5), name="A")
    k1, k2 = ns.reduce_axis(5, "k1"), ns.reduce_axis(5, "k2")
    C = ns.compute((3,), lambda i: ns.sum(A[i, k1, k2], axis=[k1, k2], where=k1 != k2), name="C")
    s = ns.create_schedule(C)
    ko, ki = s[C].split(k2, 2)
    s[C].reorder(k1, ko, ki)
    a = random_array(rng, (3, 5, 5))
    off_diagonal = ~np.eye(5, dtype=bool)
    check(s, [A, C], [a], [(a * off_diagonal).sum((1, 2))])
    check_roundtrip(s, [A, C])


def test_integer_init_from_a_tensor(rng):
    A = ns.placeholder((4, 6), dtype="int32", name="A")
    B = ns.placeholder((4,), dtype="int32", name="B")
    k = ns.reduce_axis(6, "k")
    C = ns.compute((4,), lambda i: ns.min(A[i, k], axis=k, init=B[i]), name="C")
    a, b = random_array(rng, (4, 6), "int32"), random_array(rng, (4,), "int32")
    check(ns.create_schedule(C), [A, B, C], [a, b], [np.minimum(a.min(1), b)])


def test_init_of_a_cache_written_after_a_split_reads_nothing_past_the_end(rng):
    # TVM's relayout: the cache spans the split's 2 x 4 tiles of 6 rows; its init= reads B only
    # where a row exists (B[6] and B[7] were read for the cache's last two entries)
    X, B = ns.placeholder((6, 9), name="X"), ns.placeholder((6,), name="B")
    k = ns.reduce_axis(9, "k")
    S = ns.compute((6,), lambda i: ns.sum(X[i, k], axis=k, where=X[i, k] > 0, init=B[i]), name="S")
    s = ns.create_schedule(S)
    s[S].split(S.op.axis[0], factor=4)
    s.cache_write(S, "global")
    assert "S.global[i.outer.c, i.inner.c] = if_then_else(i.outer.c * 4 + i.inner.c < 6, B[" in nest(s, [X, B, S])
    x, b = random_array(rng, (6, 9)), random_array(rng, (6,))
    check(s, [X, B, S], [x, b], [b + np.where(x > 0, x, 0).sum(1)])


def test_init_read_from_a_stage_inside_the_reduction_loops(rng):
    """The copy of B the init reads is computed inside loop k: the accumulator starts at k == 0."""
    A, B = ns.placeholder((6, 9), name="A"), ns.placeholder((6,), name="B")
    k = ns.reduce_axis(9, "k")
    S = ns.compute((6,), lambda i: ns.sum(A[i, k], axis=k, where=A[i, k] > 0, init=B[i] * 2.0), name="S")
    s = ns.create_schedule(S)
    copy = s.cache_read(B, "local", [s[S]])
    ko, ki = s[S].split(k, 4)
    s[copy].compute_at(s[S], ki)
    assert nest(s, [A, B, S]) == """\
func f(A: float32[6, 9], B: float32[6], S: float32[6]) {
  for i in 0..6:
    for k.outer in 0..3:
      for k.inner in 0..4:
        allocate B.local: float32[1] in local
        B.local[0] = B[i]
        if k.outer * 4 + k.inner < 9:
          if k.outer * 4 + k.inner == 0:
            S[i] = B.local[0] * 2.0
          if A[i, k.outer * 4 + k.inner] > 0.0:
            S[i] = S[i] + A[i, k.outer * 4 + k.inner]
}"""
    a, b = random_array(rng, (6, 9)), random_array(rng, (6,))
    check(s, [A, B, S], [a, b], [2 * b + np.where(a > 0, a, 0).sum(1)])
    check_roundtrip(s, [A, B, S])


# -- user reducers ----------------------------------------------------------------------------
def test_product_reducer(rng):
    product = ns.comm_reducer(lambda x, y: x * y, lambda t: ns.const(1, t), name="product")
    A = ns.placeholder((6, 5), name="A")
    k = ns.reduce_axis(5, "k")
    P = ns.compute((6,), lambda i: product(A[i, k] + 1.0, axis=k), name="P")
    s = ns.create_schedule(P)
    assert nest(s, [A, P]) == """\
func f(A: float32[6, 5], P: float32[6]) {
  for i in 0..6:
    P[i] = 1.0
    for k in 0..5:
      P[i] = P[i] * (A[i, k] + 1.0)
}"""
    a = random_array(rng, (6, 5))
    check(s, [A, P], [a], [np.prod(a.astype(np.float64) + 1, axis=1)])


def test_sum_of_squares_reducer_with_where_and_init(rng):
    squares = ns.comm_reducer(lambda x, y: x + y * y, lambda t: ns.const(0, t), name="sum_sq")
    A = ns.placeholder((4, 9), name="A")
    k = ns.reduce_axis(9, "k")
    S = ns.compute((4,), lambda i: squares(A[i, k], axis=k, where=k < 6, init=1.0), name="S")
    s = ns.create_schedule(S)
    io, ii = s[S].split(S.op.axis[0], 2)
    s[S].vectorize(ii)
    a = random_array(rng, (4, 9))
    check(s, [A, S], [a], [1.0 + (a[:, :6].astype(np.float64) ** 2).sum(1)])
    check_roundtrip(s, [A, S])


def test_integer_product_reducer(rng):
    product = ns.comm_reducer(lambda x, y: x * y, lambda t: ns.const(1, t), name="product")
    A = ns.placeholder((5, 4), dtype="int64", name="A")
    k = ns.reduce_axis(4, "k")
    P = ns.compute((5,), lambda i: product(A[i, k], axis=k), name="P")
    a = random_array(rng, (5, 4), "int64")
    check(ns.create_schedule(P), [A, P], [a], [np.prod(a, axis=1)])


def test_logsumexp_pair_reducer(rng):
    """A running (max, sum of exp relative to the max) pair: numerically safe logsumexp."""
    def fcombine(x, y):
        top = ns.maximum(x[0], y[0])
        return top, x[1] * ns.exp(x[0] - top) + y[1] * ns.exp(y[0] - top)

    pair = ns.comm_reducer(fcombine, lambda t0, t1: (ns.min_value(t0), ns.const(0, t1)), name="lse")
    X = ns.placeholder((5, 16), name="X")
    k = ns.reduce_axis(16, "k")
    M, S = ns.compute((5,), lambda i: pair((X[i, k] * 30.0, ns.const(1.0, "float32")), axis=k), name="MS")
    L = ns.compute((5,), lambda i: M[i] + ns.log(S[i]), name="L")
    s = ns.create_schedule(L)
    s[M].compute_at(s[L], L.op.axis[0])
    x = random_array(rng, (5, 16))
    scaled = x.astype(np.float64) * 30
    want = scaled.max(1) + np.log(np.exp(scaled - scaled.max(1, keepdims=True)).sum(1))
    check(s, [X, L], [x], [want], rtol=1e-4)


def test_complex_product_needs_scratch_registers(rng):
    """Each new value reads the other's old one: the update goes through scratch registers."""
    def fcombine(x, y):
        return x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0]

    cprod = ns.comm_reducer(fcombine, lambda t0, t1: (ns.const(1, t0), ns.const(0, t1)), name="cprod")
    R = ns.placeholder((3, 4), name="R")
    Im = ns.placeholder((3, 4), name="Im")
    k = ns.reduce_axis(4, "k")
    P0, P1 = ns.compute((3,), lambda i: cprod((R[i, k], Im[i, k]), axis=k), name="P")
    s = ns.create_schedule([P0, P1])
    assert nest(s, [R, Im, P0, P1]) == """\
func f(R: float32[3, 4], Im: float32[3, 4], P.v0: float32[3], P.v1: float32[3]) {
  for i in 0..3:
    P.v0[i] = 1.0
    P.v1[i] = 0.0
    for k in 0..4:
      allocate P.v1.next: float32[1] in local
      allocate P.v0.next: float32[1] in local
      P.v0.next[0] = P.v0[i] * R[i, k] - P.v1[i] * Im[i, k]
      P.v1.next[0] = P.v0[i] * Im[i, k] + P.v1[i] * R[i, k]
      P.v0[i] = P.v0.next[0]
      P.v1[i] = P.v1.next[0]
}"""
    r, im = random_array(rng, (3, 4)), random_array(rng, (3, 4))
    z = np.prod(r.astype(np.float64) + 1j * im, axis=1)
    check(s, [R, Im, P0, P1], [r, im], [z.real, z.imag])


# -- tuple reducers: argmax / argmin ------------------------------------------------------------
def test_argmax_nest_and_values(rng):
    X = ns.placeholder((10, 12), name="X")
    k = ns.reduce_axis(12, "k")
    T0, T1 = ns.compute((10,), lambda i: argmax_reducer()((k, X[i, k]), axis=k), name="T")
    s = ns.create_schedule([T0, T1])
    assert s[T0] is s[T1]
    io, ii = s[T0].split(T0.op.axis[0], 4)
    ko, ki = s[T1].split(k, 5)
    s[T0].reorder(io, ko, ii, ki)
    s[T0].parallel(io)
    args = [X, T0, T1]
    assert nest(s, args) == """\
func f(X: float32[10, 12], T.v0: int32[10], T.v1: float32[10]) {
  parallel for i.outer in 0..3:
    for i.inner in 0..4:
      if i.outer * 4 + i.inner < 10:
        T.v0[i.outer * 4 + i.inner] = -1
        T.v1[i.outer * 4 + i.inner] = -3.4028235e+38
    for k.outer in 0..3:
      for i.inner in 0..4:
        if i.outer * 4 + i.inner < 10:
          for k.inner in 0..5:
            if k.outer * 5 + k.inner < 12:
              T.v0[i.outer * 4 + i.inner] = if_then_else(T.v1[i.outer * 4 + i.inner] >= X[i.outer * 4 + i.inner, k.outer * 5 + k.inner], T.v0[i.outer * 4 + i.inner], k.outer * 5 + k.inner)
              let %0 = X[i.outer * 4 + i.inner, k.outer * 5 + k.inner]
              T.v1[i.outer * 4 + i.inner] = if_then_else(T.v1[i.outer * 4 + i.inner] >= %0, T.v1[i.outer * 4 + i.inner], %0)
}"""  # noqa: E501
    assert str(s.trace) == """\
i_outer, i_inner = s[T].split(i, factor=4)
k_outer, k_inner = s[T].split(k, factor=5)
s[T].reorder(i_outer, k_outer, i_inner, k_inner)
s[T].parallel(i_outer)"""
    x = random_array(rng, (10, 12))
    check(s, args, [x], [x.argmax(1).astype(np.int32), x.max(1)])
    check_roundtrip(s, args)


def test_argmin_over_index_and_value_tensors(rng):
    argmin = argmax_reducer("argmin", lambda a, b: a <= b, ns.max_value)
    Idx = ns.placeholder((6, 7), dtype="int32", name="I")
    V = ns.placeholder((6, 7), name="V")
    k = ns.reduce_axis(7, "k")
    T0, T1 = ns.compute((6,), lambda i: argmin((Idx[i, k], V[i, k]), axis=k, where=k > 0), name="T")
    s = ns.create_schedule([T0, T1])
    s[T0].unroll(k)
    idx = np.tile(np.arange(7, dtype=np.int32) * 10, (6, 1))
    v = random_array(rng, (6, 7))
    check(s, [Idx, V, T0, T1], [idx, v], [(v[:, 1:].argmin(1) + 1).astype(np.int32) * 10, v[:, 1:].min(1)])


def test_argmax_with_a_vectorized_spatial_loop(rng):
    X = ns.placeholder((8, 5), name="X")
    k = ns.reduce_axis(5, "k")
    T0, T1 = ns.compute((8,), lambda i: argmax_reducer()((k, X[i, k]), axis=k), name="T")
    s = ns.create_schedule([T0, T1])
    io, ii = s[T0].split(T0.op.axis[0], 4)
    s[T0].reorder(io, k, ii)
    s[T0].vectorize(ii)
    x = random_array(rng, (8, 5))
    check(s, [X, T0, T1], [x], [x.argmax(1).astype(np.int32), x.max(1)])
    check_roundtrip(s, [X, T0, T1])


def test_user_reducer_axis_cannot_be_vectorized():
    X = ns.placeholder((8, 5), name="X")
    k = ns.reduce_axis(5, "k")
    T0, T1 = ns.compute((8,), lambda i: argmax_reducer()((k, X[i, k]), axis=k), name="T")
    s = ns.create_schedule([T0, T1])
    with pytest.raises(ScheduleError, match="s\\[T\\].vectorize\\(k\\): k is a reduction loop"):
        s[T1].vectorize(k)


def test_argmax_register_tile_with_cache_write(rng):
    X = ns.placeholder((9, 6), name="X")
    k = ns.reduce_axis(6, "k")
    T0, T1 = ns.compute((9,), lambda i: argmax_reducer()((k, X[i, k]), axis=k), name="T")
    s = ns.create_schedule([T0, T1])
    L0, L1 = s.cache_write([T0, T1], "local")
    assert s[L0] is s[L1]
    io, ii = s[T0].split(T0.op.axis[0], 4)
    s[L1].compute_at(s[T1], io)
    args = [X, T0, T1]
    assert nest(s, args) == """\
func f(X: float32[9, 6], T.v0: int32[9], T.v1: float32[9]) {
  for i.outer in 0..3:
    allocate T.local.v0: int32[4] in local
    allocate T.local.v1: float32[4] in local
    for i in 0..4:
      if i.outer * 4 + i < 9:
        T.local.v0[i] = -1
        T.local.v1[i] = -3.4028235e+38
      if i.outer * 4 + i < 9:
        for k in 0..6:
          T.local.v0[i] = if_then_else(T.local.v1[i] >= X[i.outer * 4 + i, k], T.local.v0[i], k)
          let %0 = X[i.outer * 4 + i, k]
          T.local.v1[i] = if_then_else(T.local.v1[i] >= %0, T.local.v1[i], %0)
    for i.inner in 0..4:
      if i.outer * 4 + i.inner < 9:
        T.v0[i.outer * 4 + i.inner] = T.local.v0[i.inner]
        T.v1[i.outer * 4 + i.inner] = T.local.v1[i.inner]
}"""
    x = random_array(rng, (9, 6))
    check(s, args, [x], [x.argmax(1).astype(np.int32), x.max(1)])
    check_roundtrip(s, args)


# -- random schedules ---------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::schedules.parallel.InnerParallelWarning")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_schedules_of_general_reductions(data):
    check_random_schedule(data, max_steps=8, operators=REDUCTIONS)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::schedules.parallel.InnerParallelWarning")
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_schedules_of_general_reductions_long(data):
    check_random_schedule(data, max_steps=16, operators=REDUCTIONS)


def test_bool_reducers_any_and_all(rng):
    any_of = ns.comm_reducer(lambda x, y: x | y, lambda t: ns.const(False, t), name="any")
    all_of = ns.comm_reducer(lambda x, y: x & y, lambda t: ns.const(True, t), name="all")
    A = ns.placeholder((6, 5), name="A")
    k = ns.reduce_axis(5, "k")
    Y = ns.compute((6,), lambda i: any_of(A[i, k] > 0.5, axis=k), name="Y")
    Z = ns.compute((6,), lambda i: all_of(A[i, k] > -0.5, axis=k), name="Z")
    a = random_array(rng, (6, 5))
    check(ns.create_schedule([Y, Z]), [A, Y, Z], [a], [(a > 0.5).any(1), (a > -0.5).all(1)])


def test_tuple_reducer_over_two_fused_axes(rng):
    """argmax over a 2-D window: the flat index of the maximum, the two reduce loops fused."""
    X = ns.placeholder((4, 3, 5), name="X")
    k1, k2 = ns.reduce_axis(3, "k1"), ns.reduce_axis(5, "k2")
    T0, T1 = ns.compute((4,), lambda i: argmax_reducer()((k1 * 5 + k2, X[i, k1, k2]), axis=[k1, k2]), name="T")
    s = ns.create_schedule([T0, T1])
    fused = s[T0].fuse(k1, k2)
    s[T0].split(fused, 4)
    x = random_array(rng, (4, 3, 5))
    flat = x.reshape(4, 15)
    check(s, [X, T0, T1], [x], [flat.argmax(1).astype(np.int32), flat.max(1)])
    check_roundtrip(s, [X, T0, T1])
