"""General reductions and computes with several outputs on CUDA: thread-bound schedules of
where=/init= reductions, user and tuple reducers (argmax, complex product through scratch
registers), and a multi-output elementwise stage; the source compiles with nvcc and, run on the
CPU by the host emulation, matches numpy."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import nestor as ns
from backends.cuda.nvcc import find_nvcc
from tests.backends.cuda import host_emulation
from tests.catalogue import random_array


def _bind_rows(s, stage_tensor, threads=32):
    outer, inner = s[stage_tensor].split(stage_tensor.op.axis[0], threads)
    s[stage_tensor].bind(outer, "blockIdx.x")
    s[stage_tensor].bind(inner, "threadIdx.x")
    return outer, inner


def _argmax():
    def fcombine(x, y):
        keep = x[1] >= y[1]
        return ns.if_then_else(keep, x[0], y[0]), ns.if_then_else(keep, x[1], y[1])

    return ns.comm_reducer(fcombine, lambda t0, t1: (ns.const(-1, t0), ns.min_value(t1)), name="argmax")


def argmax_where(rng):
    X = ns.placeholder((70, 12), name="X")
    k = ns.reduce_axis(12, "k")
    T0, T1 = ns.compute((70,), lambda i: _argmax()((k, X[i, k]), axis=k, where=X[i, k] < 0.5), name="T")
    s = ns.create_schedule([T0, T1])
    _bind_rows(s, T0)
    x = random_array(rng, (70, 12))
    masked = np.where(x < 0.5, x, -np.inf)
    index = np.where(np.isinf(masked).all(1), -1, masked.argmax(1)).astype(np.int32)
    best = np.where(np.isinf(masked).all(1), np.finfo(np.float32).min, masked.max(1)).astype(np.float32)
    return s, [X, T0, T1], [x], [index, best]


def argmax_register_tile(rng):
    X = ns.placeholder((40, 9), name="X")
    k = ns.reduce_axis(9, "k")
    T0, T1 = ns.compute((40,), lambda i: _argmax()((k, X[i, k]), axis=k), name="T")
    s = ns.create_schedule([T0, T1])
    L0, _ = s.cache_write([T0, T1], "local")
    outer, inner = _bind_rows(s, T0, 16)
    s[L0].compute_at(s[T0], inner)
    x = random_array(rng, (40, 9))
    return s, [X, T0, T1], [x], [x.argmax(1).astype(np.int32), x.max(1)]


def complex_product(rng):
    def fcombine(x, y):
        return x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0]

    cprod = ns.comm_reducer(fcombine, lambda t0, t1: (ns.const(1, t0), ns.const(0, t1)), name="cprod")
    R, Im = ns.placeholder((33, 4), name="R"), ns.placeholder((33, 4), name="Im")
    k = ns.reduce_axis(4, "k")
    P0, P1 = ns.compute((33,), lambda i: cprod((R[i, k], Im[i, k]), axis=k), name="P")
    s = ns.create_schedule([P0, P1])
    _bind_rows(s, P0)
    r, im = random_array(rng, (33, 4)), random_array(rng, (33, 4))
    z = np.prod(r.astype(np.float64) + 1j * im, axis=1)
    return s, [R, Im, P0, P1], [r, im], [z.real.astype(np.float32), z.imag.astype(np.float32)]


def product_with_init(rng):
    product = ns.comm_reducer(lambda x, y: x * y, lambda t: ns.const(1, t), name="product")
    A, B = ns.placeholder((50, 3), name="A"), ns.placeholder((50,), name="B")
    k = ns.reduce_axis(3, "k")
    P = ns.compute((50,), lambda i: product(A[i, k], axis=k, init=B[i]), name="P")
    s = ns.create_schedule(P)
    _bind_rows(s, P)
    a, b = random_array(rng, (50, 3)), random_array(rng, (50,))
    return s, [A, B, P], [a, b], [(b * a.astype(np.float64).prod(1)).astype(np.float32)]


def two_outputs(rng):
    A = ns.placeholder((37, 5), name="A")
    T0, T1 = ns.compute((37, 5), lambda i, j: (A[i, j] * 2.0, (A[i, j] > 0).astype("int32")), name="T")
    s = ns.create_schedule([T0, T1])
    _bind_rows(s, T1)
    a = random_array(rng, (37, 5))
    return s, [A, T0, T1], [a], [a * 2, (a > 0).astype(np.int32)]


CASES = [argmax_where, argmax_register_tile, complex_product, product_with_init, two_outputs]


@pytest.fixture(scope="module")
def built():
    rng = np.random.default_rng(11)
    out = {}
    for make in CASES:
        s, args, inputs, want = make(rng)
        out[make.__name__] = (ns.build(s, args, target="cuda", name=make.__name__), inputs, want)
    return out


def test_sources_compile_with_nvcc(built):
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    with tempfile.TemporaryDirectory(prefix="nestor_nvcc_") as folder:
        path = Path(folder) / "general_reductions.cu"
        path.write_text("\n".join(module.source for module, _, _ in built.values()))
        done = subprocess.run([nvcc, "-arch=sm_90", "-c", str(path), "-o", str(Path(folder) / "k.o")],
                              capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-4000:]


def test_sources_compute_numpy_on_the_host(built):
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    names = list(built)
    hosts = host_emulation.compile_host([built[name][0] for name in names])
    for name, host in zip(names, hosts):
        _, inputs, want = built[name]
        outputs = [np.full(w.shape, np.nan if w.dtype.kind == "f" else -7, w.dtype) for w in want]
        host(*inputs, *outputs)
        for got, expected in zip(outputs, want):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=name)
