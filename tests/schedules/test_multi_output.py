"""Computes with several outputs: one stage (``s[T0] is s[T1]``) and one loop nest writing every
output; split/reorder/vectorize/parallel, compute_at, cache_write and cache_read on them,
compute_inline refused; golden nests, numpy on the interpreter and llvm, trace round trips."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from nestor import ScheduleError
from tests.catalogue import random_array

from .helpers import check_roundtrip, nest
from .test_general_reductions import check


def pair(rows=10, cols=8):
    A = ns.placeholder((rows, cols), name="A")
    T0, T1 = ns.compute((rows, cols), lambda i, j: (A[i, j] * 2.0, A[i, j] + 1.0), name="T")
    return A, T0, T1


@pytest.fixture
def a():
    return random_array(np.random.default_rng(3), (10, 8))


def test_one_stage_one_nest(a):
    A, T0, T1 = pair()
    s = ns.create_schedule(T0.op)  # an operation stands for all its outputs, as in TVM
    assert s.outputs == (T0.op,) and s.output_tensors == (T0, T1) and s[T0] is s[T1]
    assert ns.create_schedule([T0.op, T1.op, T1]).output_tensors == (T0, T1)
    i, j = T0.op.axis
    jo, ji = s[T1].split(j, 4)
    s[T0].reorder(jo, i, ji)
    s[T0].vectorize(ji)
    s[T1].parallel(jo)
    args = [A, T0, T1]
    assert nest(s, args) == """\
func f(A: float32[10, 8], T.v0: float32[10, 8], T.v1: float32[10, 8]) {
  parallel for j.outer in 0..2:
    for i in 0..10:
      vectorized for j.inner in 0..4:
        T.v0[i, j.outer * 4 + j.inner] = A[i, j.outer * 4 + j.inner] * 2.0
        T.v1[i, j.outer * 4 + j.inner] = A[i, j.outer * 4 + j.inner] + 1.0
}"""
    assert str(s.trace) == """\
j_outer, j_inner = s[T].split(j, factor=4)
s[T].reorder(j_outer, i, j_inner)
s[T].vectorize(j_inner)
s[T].parallel(j_outer)"""
    check(s, args, [a], [a * 2, a + 1])
    check_roundtrip(s, args)


def test_compute_at_allocates_every_output_over_the_region(a):
    A, T0, T1 = pair()
    D = ns.compute((10, 8), lambda i, j: T0[i, j] - T1[i, j] * T1[i, j], name="D")
    s = ns.create_schedule(D)
    xo, xi = s[D].split(D.op.axis[0], 4)
    s[T1].compute_at(s[D], xo)
    assert nest(s, [A, D]) == """\
func f(A: float32[10, 8], D: float32[10, 8]) {
  for i.outer in 0..3:
    allocate T.v0: float32[4, 8] in global
    allocate T.v1: float32[4, 8] in global
    for i in 0..4:
      if i.outer * 4 + i < 10:
        for j in 0..8:
          T.v0[i, j] = A[i.outer * 4 + i, j] * 2.0
          T.v1[i, j] = A[i.outer * 4 + i, j] + 1.0
    for i.inner in 0..4:
      if i.outer * 4 + i.inner < 10:
        for j in 0..8:
          D[i.outer * 4 + i.inner, j] = T.v0[i.inner, j] - T.v1[i.inner, j] * T.v1[i.inner, j]
}"""
    check(s, [A, D], [a], [a * 2 - (a + 1) ** 2])
    check_roundtrip(s, [A, D])


def test_intermediate_outputs_at_root(a):
    A, T0, T1 = pair()
    D = ns.compute((10, 8), lambda i, j: T0[i, j] + T1[i, 7 - j], name="D")
    s = ns.create_schedule(D)
    check(s, [A, D], [a], [a * 2 + (a + 1)[:, ::-1]])


def test_output_not_in_the_arguments_is_a_temporary(a):
    A, T0, T1 = pair()
    s = ns.create_schedule(T0)  # T1 is not an output of this schedule
    check(s, [A, T0], [a], [a * 2])


def test_cache_write_of_every_output(a):
    A, T0, T1 = pair()
    s = ns.create_schedule([T0, T1])
    L0, L1 = s.cache_write([T0, T1], "local")
    io, ii = s[T0].split(T0.op.axis[0], 4)
    s[L0].compute_at(s[T0], io)
    args = [A, T0, T1]
    assert nest(s, args) == """\
func f(A: float32[10, 8], T.v0: float32[10, 8], T.v1: float32[10, 8]) {
  for i.outer in 0..3:
    allocate T.local.v0: float32[4, 8] in local
    allocate T.local.v1: float32[4, 8] in local
    for i in 0..4:
      if i.outer * 4 + i < 10:
        for j in 0..8:
          T.local.v0[i, j] = A[i.outer * 4 + i, j] * 2.0
          T.local.v1[i, j] = A[i.outer * 4 + i, j] + 1.0
    for i.inner in 0..4:
      if i.outer * 4 + i.inner < 10:
        for j in 0..8:
          T.v0[i.outer * 4 + i.inner, j] = T.local.v0[i.inner, j]
          T.v1[i.outer * 4 + i.inner, j] = T.local.v1[i.inner, j]
}"""
    check(s, args, [a], [a * 2, a + 1])
    check_roundtrip(s, args)


def test_cache_read_of_one_output_copies_the_stage(a):
    A, T0, T1 = pair()
    D = ns.compute((10, 8), lambda i, j: T1[i, j] * 3.0 + T0[i, j], name="D")
    s = ns.create_schedule(D)
    cache = s.cache_read(T1, "local", [s[D]])
    assert cache.name == "T.local.v1"
    io, ii = s[D].split(D.op.axis[0], 5)
    s[cache].compute_at(s[D], io)
    check(s, [A, D], [a], [(a + 1) * 3 + a * 2])
    check_roundtrip(s, [A, D])


def test_compute_inline_is_refused():
    A, T0, T1 = pair()
    D = ns.compute((10, 8), lambda i, j: T0[i, j] + T1[i, j], name="D")
    s = ns.create_schedule(D)
    with pytest.raises(ScheduleError, match=re.escape(
            "s[T].compute_inline(): T has 2 outputs ['T.v0', 'T.v1'] computed in one loop nest")
            + ".*compute it at root or with compute_at"):
        s[T1].compute_inline()


def test_cache_write_list_must_be_the_outputs_in_order():
    A, T0, T1 = pair()
    B = ns.compute((10, 8), lambda i, j: A[i, j], name="B")
    s = ns.create_schedule([T0, T1, B])
    for wrong in ([T1, T0], [T0, B], [T0]):
        with pytest.raises(ScheduleError, match=re.escape("s.cache_write([") + ".*a list names all the "
                           "outputs of one compute, in order"):
            s.cache_write(wrong, "local")


def test_an_output_left_out_of_the_arguments_is_computed_into_a_temporary(a):
    """TVM's meaning (its ``test_schedule_scan`` lowers with only some tensors listed): the
    output not listed is stored in a buffer of the function, the listed one is written."""
    A, T0, T1 = pair()
    s = ns.create_schedule([T0, T1])
    assert str(ns.lower(s, [A, T0])) == """func main(A: float32[10, 8], T.v0: float32[10, 8]) {
  allocate T.v1: float32[10, 8] in global
  for i in 0..10:
    for j in 0..8:
      T.v0[i, j] = A[i, j] * 2.0
      T.v1[i, j] = A[i, j] + 1.0
}"""
    t0 = np.full((10, 8), np.nan, np.float32)
    ns.build(s, [A, T0])(a, t0)
    np.testing.assert_allclose(t0, a * 2.0)
