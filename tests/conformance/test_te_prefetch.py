"""TVM's ``s[C].prefetch(tensor, var, offset)`` through :mod:`te_shim`: at the top of each
iteration of ``var``, a prefetch of the element that iteration ``var + offset`` starts reading
(clamped into the tensor); a real ``llvm.prefetch`` on the CPU, nothing on the interpreter and
in CUDA, and the same values everywhere."""

import numpy as np
import pytest

from tests.schedules.helpers import check_roundtrip

from .helpers import close, empty
from .te_shim import te, tvm


def _row_sums(offset=1):
    A = te.placeholder((64, 100), name="A")
    k = te.reduce_axis((0, 100), name="k")
    C = te.compute((64,), lambda i: te.sum(A[i, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    ko, ki = s[C].split(k, factor=16)
    s[C].prefetch(A, ko, offset)
    return s, A, C


def test_the_prefetch_sits_at_the_top_of_its_loop():
    s, A, C = _row_sums()
    assert str(tvm.lower(s, [A, C], simple_mode=True)) == """\
func main(A: float32[64, 100], C: float32[64]) {
  for i in 0..64:
    C[i] = 0.0
    for k.outer in 0..7:
      prefetch(A[max(min(i, 63), 0), max(min(k.outer * 16 + 16, 99), 0)])
      for k.inner in 0..16:
        if k.outer * 16 + k.inner < 100:
          C[i] = C[i] + A[i, k.outer * 16 + k.inner]
}"""


@pytest.mark.parametrize("target", ["interp", "llvm"])
@pytest.mark.parametrize("offset", [1, 3, 50, 0, -2])
def test_values_are_the_same_as_without_it(target, offset):
    s, A, C = _row_sums(offset)
    a = np.random.default_rng(offset + 10).random((64, 100), dtype=np.float32)
    out = empty((64,), "float32")
    tvm.build(s, [A, C], target=target)(a, out)
    close(out, a.astype(np.float64).sum(1), rtol=1e-5)


def test_the_cpu_kernel_calls_llvm_prefetch():
    s, A, C = _row_sums()
    source = tvm.build(s, [A, C], target="llvm").source
    assert source.count('call void @"llvm.prefetch.p0"(') == 1
    assert ", i32 0, i32 3, i32 1)" in source  # a read, all cache levels, data


def test_cuda_drops_the_hint():
    A = te.placeholder((64, 100), name="A")
    k = te.reduce_axis((0, 100), name="k")
    C = te.compute((64,), lambda i: te.sum(A[i, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    bx, tx = s[C].split(C.op.axis[0], factor=32)
    s[C].bind(bx, te.thread_axis("blockIdx.x"))
    s[C].bind(tx, te.thread_axis("threadIdx.x"))
    s[C].prefetch(A, C.op.reduce_axis[0], 2)
    assert "prefetch(A[" in str(tvm.lower(s, [A, C]))
    module = tvm.build(s, [A, C], target="cuda")
    assert "prefetch" not in module.source
    a = np.random.default_rng(2).random((64, 100), dtype=np.float32)
    out = empty((64,), "float32")
    tvm.build(s, [A, C], target="interp")(a, out)
    close(out, a.astype(np.float64).sum(1), rtol=1e-5)


def test_one_prefetch_per_distinct_access_of_a_symbolic_tensor():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n - 1,), lambda i: A[i] + A[i + 1], name="B")
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=8)
    s[B].prefetch(A, xo, 2)
    text = str(tvm.lower(s, [A, B]))
    # the whole steps and the guarded last one are separate loops, each with both prefetches
    assert text.count("prefetch(") == 4
    assert """\
  for i.outer in 0..(n - 1) // 8:
    prefetch(A[max(min(i.outer * 8 + 16, n - 1), 0)])
    prefetch(A[max(min(i.outer * 8 + 17, n - 1), 0)])
    for i.inner in 0..8:""" in text
    module = tvm.build(s, [A, B], target="llvm")
    for size in (2, 9, 40):
        a = np.arange(size, dtype=np.float32)
        out = empty((size - 1,), "float32")
        module(a, out)
        close(out, a[:-1] + a[1:])


def test_the_trace_replays_the_prefetch():
    s, A, C = _row_sums()
    assert str(s.trace).splitlines()[-1] == "s[C].prefetch(A, k_outer, 1)"
    check_roundtrip(s, [A, C])


def test_prefetching_a_tensor_the_stage_does_not_read_is_refused():
    s, A, C = _row_sums()
    other = te.placeholder((4,), name="other")
    with pytest.raises(te.ScheduleError) as info:
        s[C].prefetch(other, C.op.axis[0], 1)
    assert str(info.value) == ("s[C].prefetch(other, i, 1): C does not read other (it reads ['A']); prefetch a "
                               "tensor the stage reads")


def test_a_fractional_offset_is_refused():
    s, A, C = _row_sums()
    with pytest.raises(te.ScheduleError) as info:
        s[C].prefetch(A, C.op.axis[0], 1.5)
    assert str(info.value) == ("s[C].prefetch(A, i, 1.5): the offset must be an integer number of iterations, "
                               "got 1.5; e.g. prefetch(A, i, 1)")


def test_a_loop_of_another_stage_is_refused():
    s, A, C = _row_sums()
    D = te.compute((64,), lambda i: C[i] * 2.0, name="D")
    s = te.create_schedule(D.op)
    with pytest.raises(te.ScheduleError, match=r"s\[C\]\.prefetch\(A, i, 1\): "):
        s[C].prefetch(A, D.op.axis[0], 1)


def test_a_prefetch_at_a_vector_loop_is_refused_with_the_fix():
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=8)
    s[B].vectorize(xi)
    s[B].prefetch(A, xi, 1)
    with pytest.raises(te.LoweringError) as info:
        tvm.lower(s, [A, B])
    assert str(info.value) == ("lower: s[B].prefetch(A, i.inner, 1): loop i.inner is vectorized; prefetch at a "
                               "loop outside the vector loop")


def test_an_inlined_tensor_has_nothing_to_prefetch():
    A = te.placeholder((32,), name="A")
    B = te.compute((32,), lambda i: A[i] + 1.0, name="B")
    C = te.compute((32,), lambda i: B[i] * 2.0, name="C")
    s = te.create_schedule(C.op)
    xo, _ = s[C].split(C.op.axis[0], factor=8)
    s[C].prefetch(B, xo, 1)
    s[B].compute_inline()
    assert "prefetch" not in str(tvm.lower(s, [A, C]))
    a = np.arange(32, dtype=np.float32)
    out = empty((32,), "float32")
    tvm.build(s, [A, C], target="llvm")(a, out)
    close(out, (a + 1) * 2)


def test_a_cached_tensor_is_prefetched_from_its_cache():
    A = te.placeholder((32, 16), name="A")
    k = te.reduce_axis((0, 16), name="k")
    C = te.compute((32,), lambda i: te.sum(A[i, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    s[C].prefetch(A, C.op.axis[0], 1)
    AA = s.cache_read(A, "global", [C])
    assert "prefetch(A.global[" in str(tvm.lower(s, [A, C]))
    a = np.random.default_rng(1).random((32, 16), dtype=np.float32)
    out = empty((32,), "float32")
    tvm.build(s, [A, C], target="llvm")(a, out)
    close(out, a.astype(np.float64).sum(1), rtol=1e-5)
    assert AA.name == "A.global"
