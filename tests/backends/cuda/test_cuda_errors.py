"""Build-time refusals of the CUDA backend, one test per message: each names the kernel, the loop
or buffer, and the limit or rule."""

from __future__ import annotations

import pytest

import nestor as ns
from schedules.templates import matmul_gpu
from tensorir.buffer import Buffer, Scope
from tensorir.dtypes import DType
from tensorir.expr import BufferLoad, Var, const
from tensorir.passes.insert_barriers import barrier
from tensorir.stmt import Allocate, For, ForKind, IfThenElse, PrimFunc, Seq, Store
from tests.catalogue import by_name


def _fails(schedule_or_func, args=None, match: str = "", **options):
    with pytest.raises(ns.CodegenError, match=match):
        ns.build(schedule_or_func, args, target="cuda", name="k", **options)


def _grid_2d(shape, tags):
    """``Y = X + 1`` over ``shape`` with its two loops bound to ``tags`` (outer, inner)."""
    X = ns.placeholder(shape, name="X")
    Y = ns.compute(shape, lambda i, j: X[i, j] + 1.0, name="Y")
    s = ns.create_schedule(Y)
    for axis, tag in zip(Y.op.axis, tags):
        if tag:
            s[Y].bind(axis, tag)
    return s, [X, Y]


# schedules -----------------------------------------------------------------------------------
def test_unbound_loop_would_run_on_one_thread():
    op = by_name("matmul")
    _fails(ns.create_schedule(op.outputs), op.args,
           r"cuda kernel k: loop i \(extent 13\) is not bound to a GPU index and no bound loop "
           r"encloses it, so it would run serially on a single GPU thread; bind it")


def test_serial_loop_cannot_enclose_block_loops():
    _fails(*_grid_2d((7, 13), ("", "blockIdx.x")),
           r"loop i is not bound to a GPU index but encloses loop j bound to blockIdx.x; blocks run "
           r"in no order")


def test_parallel_loop_is_refused():
    s, args = _grid_2d((7, 13), ("", "threadIdx.x"))
    s[args[1]].parallel(args[1].op.axis[0])
    _fails(s, args, r"loop i is marked parallel, which means CPU threads and has no meaning on a "
                    r"GPU; bind it instead")


def test_too_many_threads_per_block():
    _fails(*_grid_2d((64, 32), ("threadIdx.y", "threadIdx.x")),
           r"cuda kernel k: 2048 threads per block \(threadIdx.x=32, threadIdx.y=64, threadIdx.z=1\) "
           r"exceed the limit of 1024")


def test_thread_limit_is_a_parameter():
    s, args = matmul_gpu(128, 128, 128)
    _fails(s, args, r"256 threads per block .* exceed the limit of 128", max_threads=128)


def test_thread_index_limit():
    _fails(*_grid_2d((128, 4), ("threadIdx.z", "threadIdx.x")),
           r"loop i bound to threadIdx.z has extent 128, over the limit of 64 threads for that index")


def test_grid_index_limit():
    _fails(*_grid_2d((70000, 2), ("blockIdx.y", "threadIdx.x")),
           r"loop i bound to blockIdx.y has extent 70000, over the limit of 65535 blocks")


def test_shared_memory_over_the_default_limit():
    s, args = matmul_gpu(256, 256, 256, L=128, S=64, V=8, double_buffer=False)
    _fails(s, args, r"cuda kernel k: 65536 bytes of shared memory \(A.shared: 32768, B.shared: "
                    r"32768\) exceed the limit of 49152 bytes per block")


def test_shared_memory_limit_is_a_parameter():
    s, args = matmul_gpu(256, 256, 256, L=128, S=64, V=8, double_buffer=False)
    module = ns.build(s, args, target="cuda", shared_memory_bytes=96 * 1024)
    assert module.launches[0].shared_bytes == module.launches[0].dynamic_shared_bytes == 65536
    assert "extern __shared__ __align__(16) unsigned char nestor_dynamic_shared[];" in module.source


def test_nested_thread_loop_wider_than_its_enclosing_loop():
    A = ns.placeholder((74,), name="A")
    r = ns.reduce_axis(5, "r")
    B = ns.compute((70,), lambda i: ns.sum(A[i + r], axis=r), name="B")
    s = ns.create_schedule(B)
    cache = s.cache_read(A, "shared", [B])
    io, ii = s[B].split(B.op.axis[0], factor=32)
    s[B].bind(io, "blockIdx.x")
    s[B].bind(ii, "threadIdx.x")
    s[cache].compute_at(s[B], ii)
    s[cache].bind(s[cache].split(s[cache].op.axis[0], factor=64)[1], "threadIdx.x")
    # the factor 64 exceeds the 36 elements the block needs: the loop is 36 long, still over 32
    _fails(s, [A, B], r"loop ax0.inner bound to threadIdx.x \(extent 36\) is nested in loop i.inner "
                      r"bound to the same index with the smaller extent 32")


# hand-built IR -----------------------------------------------------------------------------
def _buffer(name="A", size=64, scope=Scope.GLOBAL) -> Buffer:
    return Buffer(name, (size,), DType.FLOAT32, scope)


def _loop(name: str, extent: int, make_body, tag: str = "", kind=None) -> For:
    var = Var(name)
    kind = kind or (ForKind.THREAD_BINDING if tag else ForKind.SERIAL)
    return For(var, const(0), const(extent), kind, make_body(var), tag)


def _store(buffer: Buffer, index, value=1.0) -> Store:
    return Store(buffer, (index,), const(value, DType.FLOAT32))


def _func(body, *params) -> PrimFunc:
    return PrimFunc("k", params or (_buffer(),), body)


def test_guarded_thread_loop_cannot_hold_a_barrier():
    A = _buffer()
    body = _loop("b", 2, lambda b: Seq((
        _loop("t", 32, lambda t: _store(A, t), "threadIdx.x"),
        _loop("u", 16, lambda u: Seq((barrier(), _store(A, u))), "threadIdx.x"))), "blockIdx.x")
    _fails(_func(body, A), match=r"loop u bound to threadIdx.x has extent 16 but the block has 32 "
                                 r"threads along threadIdx.x .* contains a barrier")


def test_barrier_under_a_thread_dependent_condition():
    A = _buffer()
    body = _loop("t", 32, lambda t: IfThenElse(t < 8,
                                               Seq((barrier(), _store(A, t)))), "threadIdx.x")
    _fails(_func(body, A), match=r"the condition t < 8 depends on the thread loop t and encloses a "
                                 r"barrier")


def test_global_buffer_inside_a_kernel():
    A, T = _buffer(), _buffer("T")
    body = _loop("b", 2, lambda b: Allocate(T, _loop("t", 8, lambda t: Seq((
        _store(T, t), Store(A, (t,), BufferLoad(T, (t,), DType.FLOAT32)))), "threadIdx.x")), "blockIdx.x")
    _fails(_func(body, A), match=r"buffer T of scope global is allocated inside loop b, so every "
                                 r"block would need its own copy; give it scope 'shared'")


def test_block_loop_beside_other_statements():
    A = _buffer()
    body = _loop("b", 2, lambda b: Seq((_loop("c", 2, lambda c: _store(A, c), "blockIdx.y"),
                                         _store(A, b))), "blockIdx.x")
    _fails(_func(body, A), match=r"loop c bound to blockIdx.y sits beside other statements outside "
                                 r"the blockIdx loops")


def test_block_index_bound_twice():
    A = _buffer()
    body = _loop("b", 2, lambda b: _loop("c", 2, lambda c: _store(A, c), "blockIdx.x"), "blockIdx.x")
    _fails(_func(body, A), match=r"loops b and c are both bound to blockIdx.x")


def test_block_loop_inside_a_thread_loop():
    A = _buffer()
    body = _loop("t", 2, lambda t: _loop("b", 2, lambda b: _store(A, b), "blockIdx.x"), "threadIdx.x")
    _fails(_func(body, A), match=r"loop b bound to blockIdx.x sits inside loop t bound to threadIdx.x")


def test_root_shared_buffer_used_by_two_kernels():
    A, S = _buffer(), _buffer("S", scope=Scope.SHARED)
    first = _loop("t", 8, lambda t: _store(S, t), "threadIdx.x")
    second = _loop("u", 8, lambda u: Store(A, (u,), BufferLoad(S, (u,), DType.FLOAT32)), "threadIdx.x")
    _fails(_func(Allocate(S, Seq((first, second))), A),
           match=r"buffer S of scope shared is allocated at the top of the function and used by "
                 r"kernels k_S, k_A")
