"""TVM's "how to optimize GEMM on CPU" tutorial, step by step, as TVM programs (through
:mod:`te_shim`) on the LLVM backend against numpy: blocking, vectorization, loop permutation,
array packing, a write cache, parallel. Odd sizes too (the tutorial's 1024 is too slow for a
test; 64 and 72 x 40 x 56 keep the steps exact and imperfect)."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm

BN, KFACTOR = 16, 4


def gemm(M, N, K):
    k = te.reduce_axis((0, K), "k")
    A = te.placeholder((M, K), name="A")
    B = te.placeholder((K, N), name="B")
    C = te.compute((M, N), lambda x, y: te.sum(A[x, k] * B[k, y], axis=k), name="C")
    return A, B, C


def check(s, A, B, C, rng, name="mmult"):
    a, b = uniform(rng, A.shape), uniform(rng, B.shape)
    c = empty(C.shape, C.dtype)
    tvm.build(s, [A, B, C], target="llvm", name=name)(a, b, c)
    close(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-5)


SHAPES = [(64, 64, 64), (72, 40, 56)]


@pytest.mark.parametrize("shape", SHAPES)
def test_default_schedule(shape, rng):
    A, B, C = gemm(*shape)
    check(te.create_schedule(C.op), A, B, C, rng)


def blocked(A, B, C, order):
    s = te.create_schedule(C.op)
    mo, no, mi, ni = s[C].tile(C.op.axis[0], C.op.axis[1], BN, BN)
    (kaxis,) = s[C].op.reduce_axis
    ko, ki = s[C].split(kaxis, factor=KFACTOR)
    loops = {"mo": mo, "no": no, "mi": mi, "ni": ni, "ko": ko, "ki": ki}
    s[C].reorder(*[loops[name] for name in order])
    return s, loops


@pytest.mark.parametrize("shape", SHAPES)
def test_blocking(shape, rng):
    A, B, C = gemm(*shape)
    s, _ = blocked(A, B, C, ["mo", "no", "ko", "ki", "mi", "ni"])
    check(s, A, B, C, rng)


@pytest.mark.parametrize("shape", SHAPES)
def test_vectorization(shape, rng):
    A, B, C = gemm(*shape)
    s, loops = blocked(A, B, C, ["mo", "no", "ko", "ki", "mi", "ni"])
    s[C].vectorize(loops["ni"])
    check(s, A, B, C, rng)


@pytest.mark.parametrize("shape", SHAPES)
def test_loop_permutation(shape, rng):
    A, B, C = gemm(*shape)
    s, loops = blocked(A, B, C, ["mo", "no", "ko", "mi", "ki", "ni"])
    s[C].vectorize(loops["ni"])
    check(s, A, B, C, rng)


def packed(M, N, K):
    k = te.reduce_axis((0, K), "k")
    A = te.placeholder((M, K), name="A")
    B = te.placeholder((K, N), name="B")
    packedB = te.compute((N / BN, K, BN), lambda bigN, k, littleN: B[k, bigN * BN + littleN], name="packedB")
    C = te.compute((M, N), lambda m, n: te.sum(A[m, k] * packedB[n // BN, k, te.indexmod(n, BN)], axis=k),
                   name="C")
    return A, B, packedB, C


def test_array_packing(rng):
    A, B, packedB, C = packed(64, 64, 64)
    s, loops = blocked(A, B, C, ["mo", "no", "ko", "mi", "ki", "ni"])
    s[C].vectorize(loops["ni"])
    bigN, _, littleN = s[packedB].op.axis
    s[packedB].vectorize(littleN)
    s[packedB].parallel(bigN)
    check(s, A, B, C, rng)


def test_write_cache_and_parallel(rng):
    A, B, packedB, C = packed(64, 48, 40)
    s = te.create_schedule(C.op)
    CC = s.cache_write(C, "global")
    mo, no, mi, ni = s[C].tile(C.op.axis[0], C.op.axis[1], BN, BN)
    s[CC].compute_at(s[C], no)
    mc, nc = s[CC].op.axis
    (kaxis,) = s[CC].op.reduce_axis
    ko, ki = s[CC].split(kaxis, factor=KFACTOR)
    s[CC].reorder(ko, mc, ki, nc)
    s[CC].vectorize(nc)
    s[CC].unroll(ki)
    s[C].parallel(mo)
    bigN, _, littleN = s[packedB].op.axis
    s[packedB].vectorize(littleN)
    s[packedB].parallel(bigN)
    text = str(tvm.lower(s, [A, B, C], simple_mode=True))
    assert "allocate C.global: float32[16, 16] in global" in text
    assert "allocate packedB: float32[3, 40, 16] in global" in text
    check(s, A, B, C, rng, name="mmult_parallel")


def test_symbolic_m_with_blocking(rng):
    m = te.var("m")
    A, B, C = gemm(m, 48, 40)
    s, loops = blocked(A, B, C, ["mo", "no", "ko", "mi", "ki", "ni"])
    s[C].vectorize(loops["ni"])
    s[C].parallel(loops["mo"])
    f = tvm.build(s, [A, B, C])
    for rows in (1, 17, 40):
        a, b = uniform(rng, (rows, 40)), uniform(rng, (40, 48))
        c = empty((rows, 48), "float32")
        f(a, b, c)
        close(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-5)
