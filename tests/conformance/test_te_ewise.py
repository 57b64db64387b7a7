"""TVM's element-wise integration programs (tests/python/integration/test_ewise.py) through
:mod:`te_shim`: ``exp`` on GPU threads built with ``target_host``, ``fmod``, ``cache_write`` of a
tuple compute attached under GPU threads, ``power(log(x), 2)`` timed with ``time_evaluator``,
``popcount`` of unsigned ints, and an addition vectorized inside thread loops in four dtypes.
GPU programs run on the interpreter (CUDA's semantics) and as CUDA C on the host; the others on
LLVM; all against numpy."""

import numpy as np
import pytest

from tests.backends.cuda import host_emulation

from .helpers import close, empty
from .te_shim import te, tvm


def _on_gpu_backends(s, args, inputs, want, rtol=1e-5, host=True):
    """The interpreter and (``host``: the sizes are constants) the CUDA source on the host CPU."""
    runs = [tvm.build(s, args, "interp")]
    module = tvm.build(s, args, target="cuda", target_host="llvm")
    if host and host_emulation.available():
        runs += host_emulation.compile_host([module])
    for run in runs:
        out = empty(want.shape, args[-1].dtype)
        run(*inputs, out)
        close(out, want, rtol=rtol)


def test_exp_on_gpu_threads_with_a_host_target():
    A = te.placeholder((64,), name="A")
    B = te.compute(A.shape, lambda *i: te.exp(A(*i)), name="B")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=8)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    module = tvm.build(s, [A, B], "cuda", "llvm", name="myexp")
    assert "myexp" in module.source
    a = np.random.default_rng(0).uniform(size=64).astype("float32")
    _on_gpu_backends(s, [A, B], [a], np.exp(a.astype(np.float64)))
    with pytest.raises(te.LoweringError, match=r"build: target_host='cuda' is not a host target; pass 'llvm'"):
        tvm.build(s, [A, B], "cuda", "cuda")


def test_fmod_of_a_symbolic_length():
    n = te.size_var("n")
    A = te.placeholder((n,), name="A")
    B = te.placeholder((n,), name="B")
    C = te.compute(A.shape, lambda *i: te.fmod(A(*i), B(*i)), name="C")
    s = te.create_schedule(C.op)
    s[C].split(C.op.axis[0], factor=8)
    rng = np.random.default_rng(1)
    a, b = (rng.uniform(size=100) * 256).astype("float32"), (rng.uniform(size=100) * 256).astype("float32")
    out = empty((100,), "float32")
    tvm.build(s, [A, B, C], "llvm", name="myfmod")(a, b, out)
    close(out, np.fmod(a, b))


def test_cache_write_of_a_tuple_compute_attached_under_gpu_blocks():
    n = 64
    A0, A1 = te.placeholder((n,), name="A0"), te.placeholder((n,), name="A1")
    B0, B1 = te.compute((n,), lambda *i: (A0(*i) + A1(*i), A0(*i) * A1(*i)), name="B")
    C = te.compute((n,), lambda *i: B0(*i) + B1(*i), name="C")
    s = te.create_schedule(C.op)
    B0_cache, _ = s.cache_write([B0, B1], "local")
    bx, tx = s[C].split(C.op.axis[0], factor=8)
    s[B0].compute_at(s[C], bx)
    s[B0_cache].compute_at(s[C], bx)
    s[C].bind(bx, te.thread_axis("blockIdx.x"))
    s[C].bind(tx, te.thread_axis("threadIdx.x"))
    rng = np.random.default_rng(2)
    a0, a1 = rng.uniform(size=n).astype("float32"), rng.uniform(size=n).astype("float32")
    _on_gpu_backends(s, [A0, A1, C], [a0, a1], a0 + a1 + a0.astype(np.float64) * a1)


def test_power_of_log_timed_with_time_evaluator():
    n = te.size_var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute(A.shape, lambda *i: te.power(te.log(A(*i)), 2.0), name="B")
    s = te.create_schedule(B.op)
    s[B].split(B.op.axis[0], factor=32)
    f = tvm.build(s, [A, B], "llvm", name="mylog")
    a = np.random.default_rng(3).uniform(0.1, 1.0, size=1028).astype("float32")
    out = empty((1028,), "float32")
    result = f.time_evaluator(f.entry_name, tvm.cpu(0), number=1, repeat=3)(a, out)
    assert len(result.results) == 3
    close(out, np.power(np.log(a.astype(np.float64)), 2.0), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["uint32", "uint64"])
def test_popcount_of_unsigned_ints(dtype):
    A = te.placeholder((256,), name="A", dtype=dtype)
    B = te.compute(A.shape, lambda *i: te.popcount(A(*i)), name="B")
    s = te.create_schedule(B.op)
    s[B].split(B.op.axis[0], factor=8)
    a = np.random.default_rng(4).integers(0, 2**40 if dtype == "uint64" else 2**31, size=256).astype(dtype)
    out = empty((256,), B.dtype)
    tvm.build(s, [A, B], "llvm")(a, out)
    close(out, np.array([bin(int(x)).count("1") for x in a]))


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64", "uint64"])
def test_an_add_vectorized_inside_thread_loops(dtype):
    n = te.size_var("n")
    A = te.placeholder((n,), name="A", dtype=dtype)
    B = te.placeholder((n,), name="B", dtype=dtype)
    C = te.compute(A.shape, lambda *i: A(*i) + B(*i), name="C")
    s = te.create_schedule(C.op)
    bx, x = s[C].split(C.op.axis[0], factor=16 * 4)
    tx, x = s[C].split(x, nparts=16)
    _, x = s[C].split(x, factor=4)
    s[C].bind(bx, te.thread_axis("blockIdx.x"))
    s[C].bind(tx, te.thread_axis("threadIdx.x"))
    s[C].vectorize(x)
    rng = np.random.default_rng(5)
    a, b = (rng.uniform(size=200) * 256).astype(dtype), (rng.uniform(size=200) * 256).astype(dtype)
    _on_gpu_backends(s, [A, B, C], [a, b], a + b, rtol=1e-6, host=False)
