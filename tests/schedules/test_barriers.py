"""Barriers in GPU-bound nests through the interpreter: they are where threads exchange data
through shared memory, the results depend on them, and a barrier that only some threads of a
block reach is an error."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from backends.interp.runtime import BarrierDivergence
from schedules.templates import matmul_gpu, window_sum_gpu
from tensorir.buffer import Buffer, Scope
from tensorir.dtypes import DType
from tensorir.expr import BinaryOp, Call, Func, Var, binary, const
from tensorir.passes.insert_barriers import barrier
from tensorir.stmt import Allocate, Evaluate, For, ForKind, IfThenElse, PrimFunc, Store, seq
from tensorir.visitor import Mutator, walk

from .helpers import check_numpy


def _is_barrier(node) -> bool:
    return isinstance(node, Evaluate) and isinstance(node.value, Call) and node.value.func is Func.BARRIER


class DropBarriers(Mutator):
    def rewrite(self, node):
        return seq() if _is_barrier(node) else None


def barriers(func: PrimFunc) -> int:
    return sum(1 for node in walk(func.body) if _is_barrier(node))


def run_func(func: PrimFunc, inputs: list[np.ndarray], out_shape: tuple[int, ...]) -> np.ndarray:
    out = np.full(out_shape, np.nan, dtype=np.float32)
    ns.build(func, target="interp")(*inputs, out)
    return out


def window_case():
    n = 45
    s, args = window_sum_gpu(n, threads=16)
    a = np.random.default_rng(1).uniform(-1, 1, n + 4).astype(np.float32)
    return ns.lower(s, args), [a], (n,), sum(a[d:d + n] for d in range(5))


def matmul_case():
    s, args = matmul_gpu(19, 21, 9, L=8, S=4, V=4)
    rng = np.random.default_rng(2)
    a = rng.uniform(-1, 1, (19, 9)).astype(np.float32)
    b = rng.uniform(-1, 1, (9, 21)).astype(np.float32)
    return ns.lower(s, args), [a, b], (19, 21), a @ b


@pytest.mark.parametrize("case", [window_case, matmul_case], ids=["window_sum", "matmul"])
def test_results_need_the_barriers(case):
    func, inputs, shape, expected = case()
    assert barriers(func) >= 1
    np.testing.assert_allclose(run_func(func, inputs, shape), expected, rtol=1e-5, atol=1e-5)
    without = DropBarriers()(func)
    assert barriers(without) == 0
    got = run_func(without, inputs, shape)
    assert np.isnan(got).any() or not np.allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_barriers_in_a_nest_deeper_than_one_python_function_holds(monkeypatch):
    import backends.interp.pysource as pysource

    func, inputs, shape, expected = matmul_case()
    monkeypatch.setattr(pysource, "_MAX_NESTING", 3)
    module = ns.build(func, target="interp")
    assert "yield from _nest" in module.python
    out = np.full(shape, np.nan, dtype=np.float32)
    module(*inputs, out)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_window_sum_waits_once_between_copy_and_sum():
    func, *_ = window_case()
    assert str(func) == """\
func main(A: float32[49], B: float32[45]) {
  for i.outer in 0..3 [blockIdx.x]:
    allocate A.shared: float32[20] in shared
    for ax0.outer in 0..2:
      for ax0.inner in 0..16 [threadIdx.x]:
        if ax0.outer * 16 + ax0.inner < 20 and i.outer * 16 + ax0.outer * 16 + ax0.inner < 49:
          A.shared[ax0.outer * 16 + ax0.inner] = A[i.outer * 16 + ax0.outer * 16 + ax0.inner]
    barrier()
    for i.inner in 0..16 [threadIdx.x]:
      if i.outer * 16 + i.inner < 45:
        B[i.outer * 16 + i.inner] = 0.0
      if i.outer * 16 + i.inner < 45:
        for r in 0..5:
          B[i.outer * 16 + i.inner] = B[i.outer * 16 + i.inner] + A.shared[i.inner + r]
}"""


def test_shared_tile_reloaded_in_a_loop_waits_before_overwriting():
    func, *_ = matmul_case()
    text = str(func)
    # k.outer reloads the tiles: a barrier before the copy (others may still read the last
    # tiles) and one after it (others may not have written their part yet)
    body = text[text.index("for k.outer"):]
    assert body.index("barrier()") < body.index("A.shared[")
    assert body.count("barrier()") == 2


def test_serial_loop_around_a_thread_loop_repeats_the_exchange():
    X = ns.placeholder((7, 13), name="X")
    Y = ns.compute((13, 7), lambda i, j: X[j, i], name="Y")
    s = ns.create_schedule(Y)
    i, j = Y.op.axis
    s[Y].bind(j, "threadIdx.x")
    cache = s.cache_read(X, "shared", [Y])
    s[cache].compute_at(s[Y], j)
    text = str(ns.lower(s, [X, Y]))
    # every thread copies the column for row i, then reads its element; the next row's copy
    # must wait until every thread has read this one
    assert text.count("barrier()") == 2
    check_numpy(s, [X, Y], lambda x: x.T)


def _divergent_function() -> PrimFunc:
    out = Buffer("out", (4,), DType.FLOAT32)
    shared = Buffer("tmp", (4,), DType.FLOAT32, Scope.SHARED)
    t = Var("t")
    body = seq(Store(shared, (t,), const(1.0)),
               IfThenElse(binary(BinaryOp.LT, t, const(2)), barrier()),
               Store(out, (t,), const(2.0)))
    return PrimFunc("diverge", (out,), Allocate(shared, For(t, const(0), const(4), ForKind.THREAD_BINDING,
                                                           body, "threadIdx.x")))


def test_barrier_under_a_thread_dependent_condition_is_an_error():
    module = ns.build(_divergent_function(), target="interp")
    with pytest.raises(BarrierDivergence, match="2 threads of a block wait at a barrier that 2 threads never reach"):
        module(np.zeros(4, dtype=np.float32))


def test_barrier_under_a_uniform_condition_is_fine():
    out = Buffer("out", (4,), DType.FLOAT32)
    t = Var("t")
    body = seq(IfThenElse(binary(BinaryOp.LT, const(1), const(2)), barrier()), Store(out, (t,), const(2.0)))
    func = PrimFunc("uniform", (out,), For(t, const(0), const(4), ForKind.THREAD_BINDING, body, "threadIdx.x"))
    result = np.zeros(4, dtype=np.float32)
    ns.build(func, target="interp")(result)
    np.testing.assert_array_equal(result, 2.0)
