"""Cross-thread reductions with user-defined reducers (TVM's allreduce with any
``te.comm_reducer``) through :mod:`te_shim`: argmax over an (index, value) tuple after rfactor
with threadIdx.y groups and a store predicate (TVM's test_rfactor_argmax), a product with
``where=``, a custom max with ``init=``, a custom sum in groups of threads, a bitwise or of ints.
Each runs on the interpreter (CUDA's semantics) and as CUDA C on the host CPU against numpy; the
CUDA source compiles with nvcc."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cuda.nvcc import compile_cuda, find_nvcc
from tests.backends.cuda import host_emulation

from .helpers import close, empty
from .te_shim import te, tvm


def _argmax_combine(x, y):
    lhs = te.if_then_else((x[1] >= y[1]), x[0], y[0])
    rhs = te.if_then_else((x[1] >= y[1]), x[1], y[1])
    return lhs, rhs


def _argmax_identity(t0, t1):
    return te.const(-1, t0), te.min_value(t1)


def rfactor_argmax(n=36, m=10, nthread=16):
    argmax = te.comm_reducer(_argmax_combine, _argmax_identity, name="argmax")
    A0 = te.placeholder((n, m), name="A0", dtype="int32")
    A1 = te.placeholder((n, m), name="A1", dtype="float32")
    k = te.reduce_axis((0, m))
    B0, B1 = te.compute((n,), lambda i: argmax((A0[i, k], A1[i, k]), axis=k), name="B")
    s = te.create_schedule(B0.op)
    ko, kf = s[B0].split(k, factor=nthread)
    BF0, BF1 = s.rfactor(B0, kf)
    bx, ty = s[B0].split(s[B0].op.axis[0], factor=nthread)
    s[B0].bind(bx, te.thread_axis("blockIdx.x"))
    s[B0].bind(ty, te.thread_axis("threadIdx.y"))
    tx = s[B0].op.reduce_axis[0]
    thread_x = te.thread_axis("threadIdx.x")
    s[B0].bind(tx, thread_x)
    s[BF0.op].compute_at(s[B0], tx)
    s[B0].set_store_predicate(thread_x.var.equal(0))

    def inputs(rng):
        return [np.tile(np.arange(m, dtype="int32"), (n, 1)), rng.uniform(-1, 1, (n, m)).astype("float32")]

    def reference(a0, a1):
        return a1.argmax(axis=1).astype("int32"), a1.max(axis=1)

    return s, [A0, A1, B0, B1], inputs, reference


def product_where(n=4, m=100):
    prod = te.comm_reducer(lambda x, y: x * y, lambda t: te.const(1, dtype=t), name="prod")
    A = te.placeholder((n, m), name="A")
    k = te.reduce_axis((0, m), name="k")
    B = te.compute((n,), lambda i: prod(A[i, k], axis=k, where=A[i, k] > 0.95), name="B")
    s = te.create_schedule(B.op)
    _, ki = s[B].split(k, factor=64)
    s[B].bind(B.op.axis[0], te.thread_axis("blockIdx.x"))
    s[B].bind(ki, te.thread_axis("threadIdx.x"))

    def inputs(rng):
        return [rng.uniform(0.9, 1.1, (n, m)).astype("float32")]

    return s, [A, B], inputs, lambda a: (np.where(a > 0.95, a, 1.0).prod(axis=1),)


def custom_max_init(n=5, m=70):
    mymax = te.comm_reducer(lambda x, y: te.max(x, y), lambda t: te.min_value(t), name="mymax")
    A = te.placeholder((n, m), name="A")
    C = te.placeholder((n,), name="C")
    k = te.reduce_axis((0, m), name="k")
    B = te.compute((n,), lambda i: mymax(A[i, k], axis=k, init=C[i]), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(k, factor=32)
    s[B].bind(B.op.axis[0], te.thread_axis("blockIdx.x"))
    s[B].bind(ki, te.thread_axis("threadIdx.x"))

    def inputs(rng):
        return [rng.uniform(-1, 1, (n, m)).astype("float32"), rng.uniform(0, 1.5, (n,)).astype("float32")]

    return s, [A, C, B], inputs, lambda a, c: (np.maximum(a.max(axis=1), c),)


def grouped_sum(n=8, m=40):
    """Rows on threadIdx.y, the reduction on threadIdx.x: each row's threads form a group."""
    mysum = te.comm_reducer(lambda x, y: x + y, lambda t: te.const(0, dtype=t), name="mysum")
    A = te.placeholder((n, m), name="A")
    k = te.reduce_axis((0, m), name="k")
    B = te.compute((n,), lambda i: mysum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    bx, ty = s[B].split(B.op.axis[0], factor=4)
    _, tx = s[B].split(k, factor=16)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(ty, te.thread_axis("threadIdx.y"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))

    def inputs(rng):
        return [rng.uniform(-1, 1, (n, m)).astype("float32")]

    return s, [A, B], inputs, lambda a: (a.sum(axis=1),)


def bitwise_or(n=3, m=48):
    bor = te.comm_reducer(lambda x, y: x | y, lambda t: te.const(0, dtype=t), name="bor")
    A = te.placeholder((n, m), name="A", dtype="int32")
    k = te.reduce_axis((0, m), name="k")
    B = te.compute((n,), lambda i: bor(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    s[B].bind(B.op.axis[0], te.thread_axis("blockIdx.x"))
    s[B].bind(k, te.thread_axis("threadIdx.x"))

    def inputs(rng):
        return [(1 << rng.integers(0, 31, (n, m))).astype("int32")]

    return s, [A, B], inputs, lambda a: (np.bitwise_or.reduce(a, axis=1),)


PROGRAMS = {"rfactor_argmax": rfactor_argmax, "product_where": product_where,
            "custom_max_init": custom_max_init, "grouped_sum": grouped_sum, "bitwise_or": bitwise_or}


def _outputs(args, n_in):
    return [empty(t.shape, t.dtype) for t in args[n_in:]]


def _check(run, program, rng):
    s, args, inputs, reference = program
    ins = inputs(rng)
    outs = _outputs(args, len(ins))
    run(*ins, *outs)
    for got, want in zip(outs, reference(*[x.astype(np.float64) if x.dtype.kind == "f" else x for x in ins])):
        close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", PROGRAMS)
def test_interpreter_combines_threads_with_a_user_reducer(name, rng):
    program = PROGRAMS[name]()
    s, args, _, _ = program
    _check(tvm.build(s, args, target="interp"), program, rng)


@pytest.fixture(scope="module")
def cuda_modules():
    built = {}
    for name, make in PROGRAMS.items():
        program = make()
        built[name] = (tvm.build(program[0], program[1], target="cuda", name=name), program)
    return built


@pytest.fixture(scope="module")
def host_modules(cuda_modules):
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    hosts = host_emulation.compile_host([module for module, _ in cuda_modules.values()])
    return {name: (host, program) for (name, (_, program)), host in zip(cuda_modules.items(), hosts)}


@pytest.mark.parametrize("name", PROGRAMS)
def test_cuda_source_combines_threads_with_a_user_reducer_on_the_host(name, host_modules, rng):
    host, program = host_modules[name]
    _check(host, program, rng)


def test_the_cuda_sources_compile_with_nvcc(cuda_modules):
    if find_nvcc() is None:
        pytest.skip("nvcc is not installed")
    compile_cuda("\n".join(module.source for module, _ in cuda_modules.values()))


def test_a_tuple_reducer_across_threads_prints_one_combination_per_element():
    s, args, _, _ = rfactor_argmax()
    text = str(tvm.lower(s, args))
    assert "B.v0.red[0] = thread_allreduce_argmax((B.v0.acc[0], B.v1.acc[0]), threadIdx.x < 10)[0]" in text
    assert "B.v1.red[0] = thread_allreduce_argmax((B.v0.acc[0], B.v1.acc[0]), threadIdx.x < 10)[1]" in text
