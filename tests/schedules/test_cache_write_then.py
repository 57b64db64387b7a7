"""cache_write keeps the stage's identity: after it, every other primitive still applies to the
stage of the written tensor, to the cache and to their producers and readers, and the schedule
lowers, computes the reference on the interpreter and with llvm, and replays from its trace."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import nestor as ns
from backends.cuda.nvcc import compile_cuda, find_nvcc
from tests.catalogue import assert_outputs_match, random_array

from .helpers import check_numpy, check_roundtrip, nest

M, N, K = 7, 10, 5


def workload():
    """``C = (A + 1) @ B`` with the sum ``P = A + 1`` as its own stage, and ``C``'s cache."""
    A = ns.placeholder((M, K), name="A")
    B = ns.placeholder((K, N), name="B")
    P = ns.compute((M, K), lambda i, k: A[i, k] + 1.0, name="P")
    k = ns.reduce_axis(K, "k")
    C = ns.compute((M, N), lambda i, j: ns.sum(P[i, k] * B[k, j], axis=k), name="C")
    s = ns.create_schedule(C)
    local = s.cache_write(C, "local")
    return s, [A, B, C], (A, B, P, C, local)


def reference(a, b):
    return (a + 1) @ b


def _split(s, t):
    A, B, P, C, local = t
    s[C].split(C.op.axis[0], factor=3)


def _tile(s, t):
    A, B, P, C, local = t
    s[C].tile(*C.op.axis, 4, 3)


def _fuse(s, t):
    A, B, P, C, local = t
    s[C].fuse(*C.op.axis)


def _reorder(s, t):
    A, B, P, C, local = t
    s[local].reorder(s[local].op.reduce_axis[0], *s[local].op.axis)


def _vectorize(s, t):
    A, B, P, C, local = t
    _, inner = s[C].split(C.op.axis[1], factor=4)
    s[C].vectorize(inner)


def _parallel(s, t):
    A, B, P, C, local = t
    s[C].parallel(C.op.axis[0])
    s[local].parallel(s[local].op.axis[0])


def _unroll(s, t):
    A, B, P, C, local = t
    _, inner = s[local].split(s[local].op.reduce_axis[0], factor=2)
    s[local].unroll(inner)


def _compute_at_cache(s, t):
    A, B, P, C, local = t
    _, jo, _, _ = s[C].tile(*C.op.axis, 4, 4)
    s[local].compute_at(s[C], jo)


def _compute_at_producer_into_cache(s, t):
    A, B, P, C, local = t
    s[P].compute_at(s[local], s[local].op.axis[0])


def _compute_inline_producer(s, t):
    A, B, P, C, local = t
    s[P].compute_inline()


def _cache_read_input(s, t):
    A, B, P, C, local = t
    shared = s.cache_read(B, "shared", [local])
    s[shared].compute_at(s[local], s[local].op.axis[0])


def _set_scope(s, t):
    A, B, P, C, local = t
    s[local].set_scope("global")
    s[P].set_scope("local")


def _all_together(s, t):
    A, B, P, C, local = t
    io, jo, ii, ji = s[C].tile(*C.op.axis, 4, 4)
    s[C].parallel(io)
    s[C].vectorize(ji)
    s[local].compute_at(s[C], jo)
    s[P].compute_inline()
    shared = s.cache_read(B, "local", [local])
    s[shared].compute_at(s[local], s[local].op.reduce_axis[0])
    s[local].unroll(s[local].op.axis[0])


SCHEDULES: dict[str, Callable] = {
    "split": _split, "tile": _tile, "fuse": _fuse, "reorder": _reorder, "vectorize": _vectorize,
    "parallel": _parallel, "unroll": _unroll, "compute_at_cache": _compute_at_cache,
    "compute_at_producer_into_cache": _compute_at_producer_into_cache,
    "compute_inline_producer": _compute_inline_producer, "cache_read_input": _cache_read_input,
    "set_scope": _set_scope, "all_together": _all_together,
}


def scheduled(name: str):
    s, args, tensors = workload()
    SCHEDULES[name](s, tensors)
    return s, args


def check_llvm(s: ns.Schedule, args) -> None:
    """The llvm module computes the reference too."""
    rng = np.random.default_rng(1)
    a, b = (random_array(rng, t.shape) for t in args[:2])
    c = np.full(args[2].shape, np.nan, dtype=np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    want = reference(a.astype(np.float64), b.astype(np.float64)).astype(np.float32)
    assert_outputs_match([c], [want])


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_primitive_after_cache_write(name):
    s, args = scheduled(name)
    assert s.trace[0].primitive == "cache_write"
    check_numpy(s, args, reference)
    check_llvm(s, args)
    check_roundtrip(s, args)


def test_the_written_tensor_and_its_readers_find_the_stage():
    s, args, (A, B, P, C, local) = workload()
    stage = s[C]
    assert s[stage.op.output] is stage and s.stage_of(C) is stage and s["C"] is stage
    assert s[local].producers == [s[P], s[B]]
    assert stage.producers == [s[local]]
    assert s.consumers(P) == [s[local]] and s.readers(local) == [stage]


def test_compute_at_of_the_cache_nest():
    s, args = scheduled("compute_at_cache")
    assert nest(s, args) == """\
func f(A: float32[7, 5], B: float32[5, 10], C: float32[7, 10]) {
  allocate P: float32[7, 5] in global
  for i in 0..7:
    for k in 0..5:
      P[i, k] = A[i, k] + 1.0
  for i.outer in 0..2:
    for j.outer in 0..3:
      allocate C.local: float32[4, 4] in local
      for i in 0..4:
        for j in 0..4:
          if i.outer * 4 + i < 7 and j.outer * 4 + j < 10:
            C.local[i, j] = 0.0
          if i.outer * 4 + i < 7 and j.outer * 4 + j < 10:
            for k in 0..5:
              C.local[i, j] = C.local[i, j] + P[i.outer * 4 + i, k] * B[k, j.outer * 4 + j]
      for i.inner in 0..4:
        if i.outer * 4 + i.inner < 7:
          for j.inner in 0..4:
            if j.outer * 4 + j.inner < 10:
              C[i.outer * 4 + i.inner, j.outer * 4 + j.inner] = C.local[i.inner, j.inner]
}"""


def bound():
    """cache_write, then the copy's loops on blocks and threads and the cache in each thread."""
    s, args, (A, B, P, C, local) = workload()
    fused = s[C].fuse(*C.op.axis)
    blocks, threads = s[C].split(fused, factor=32)
    s[C].bind(blocks, "blockIdx.x")
    s[C].bind(threads, "threadIdx.x")
    s[local].compute_at(s[C], threads)
    s[P].compute_inline()
    return s, args


def test_bind_after_cache_write_lowers_and_runs_its_threads():
    s, args = bound()
    text = nest(s, args)
    assert "[blockIdx.x]" in text and "[threadIdx.x]" in text
    assert "allocate C.local: float32[1, 1] in local" in text
    check_numpy(s, args, reference)
    check_roundtrip(s, args)


def test_bind_after_cache_write_compiles_with_nvcc():
    s, args = bound()
    source = ns.build(s, args, target="cuda", name="cache_write_then_bind").source
    assert "threadIdx.x" in source and "blockIdx.x" in source
    if find_nvcc() is None:
        pytest.skip("nvcc is not installed")
    assert compile_cuda(source, output="obj")
