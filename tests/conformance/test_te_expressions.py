"""TVM te's expression language as TVM programs write it (through :mod:`te_shim`): dtype rules,
``te.const``, ``te.min_value``/``max_value``, ``te.if_then_else`` with ``te.all``/``te.any``,
``floordiv``/``floormod``/``indexdiv``/``truncdiv``, math intrinsics, symbolic shapes built
from ``te.var``; on LLVM (and the interpreter where noted) against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def run(outputs, inputs, arrays, target="llvm"):
    s = te.create_schedule([t.op for t in outputs])
    results = [empty(t.shape, t.dtype) for t in outputs]
    tvm.build(s, [*inputs, *outputs], target=target)(*arrays, *results)
    return results


def test_binary_dtype_rules():
    A8 = te.placeholder((4,), name="A8", dtype="int8")
    A32 = te.placeholder((4,), name="A32", dtype="int32")
    A64 = te.placeholder((4,), name="A64", dtype="int64")
    F16 = te.placeholder((4,), name="F16", dtype="float16")
    F32 = te.placeholder((4,), name="F32")
    F64 = te.placeholder((4,), name="F64", dtype="float64")
    cases = {
        # a Python int is TVM's int32 literal, a float its float32 one, then promoted
        "int32": [lambda i: A8[i] + A32[i], lambda i: A32[i] * 2, lambda i: i + A32[i], lambda i: A8[i] * 2],
        "int64": [lambda i: A32[i] - A64[i], lambda i: te.const(2**40) + A32[i], lambda i: A32[i] + 2**40],
        "int8": [lambda i: A8[i] + te.const(1, "int8"), lambda i: A8[i] & 1],
        "float32": [lambda i: A32[i] + F32[i], lambda i: A32[i] + 1.5, lambda i: F16[i] * F32[i],
                    lambda i: A8[i].astype("float32") / 3, lambda i: i * F32[i], lambda i: F16[i] * 2.0],
        "float64": [lambda i: F32[i] + F64[i], lambda i: F64[i] * 0.5],
        "float16": [lambda i: F16[i] * 2, lambda i: F16[i] + F16[i], lambda i: F16[i] * te.const(2.0, "float16")],
        "bool": [lambda i: F32[i] > 0, lambda i: te.all(A32[i] > 0, F32[i] < 1)],
    }
    for dtype, bodies in cases.items():
        for body in bodies:
            assert te.compute((4,), body).dtype == dtype


def test_const_and_extreme_values():
    assert (te.const(1).dtype, te.const(1.5).dtype, te.const(True).dtype) == ("int32", "float32", "bool")
    assert te.const(2**40).dtype == "int64" and te.const(3, "float64").dtype == "float64"
    for dtype in ("int8", "uint8", "int32", "int64", "uint32"):
        info = np.iinfo(dtype)
        assert (te.min_value(dtype).value, te.max_value(dtype).value) == (info.min, info.max)
        assert te.max_value(dtype).dtype == dtype
    for dtype in ("float16", "float32", "float64"):
        info = np.finfo(dtype)
        assert (te.min_value(dtype).value, te.max_value(dtype).value) == (float(info.min), float(info.max))


def test_mixed_dtypes_compute_in_the_promoted_type(rng):
    A8 = te.placeholder((8,), name="A8", dtype="int8")
    F16 = te.placeholder((8,), name="F16", dtype="float16")
    F32 = te.placeholder((8,), name="F32")
    C = te.compute((8,), lambda i: A8[i] * te.const(100, "int8"), name="C")  # wraps in int8, as TVM and numpy do
    D = te.compute((8,), lambda i: F16[i] * F32[i] + A8[i], name="D")
    E = te.compute((8,), lambda i: (F32[i] * 1000).astype("int32") // 7, name="E")
    a8 = np.array([-128, -3, 0, 1, 2, 50, 100, 127], "int8")
    f16, f32 = uniform(rng, 8, "float16"), uniform(rng, 8)
    W = te.compute((8,), lambda i: A8[i] * 100, name="W")  # TVM's int32 literal: int32, no wrap
    c, d, e, w = run([C, D, E, W], [A8, F16, F32], [a8, f16, f32])
    close(c, (a8 * np.int8(100)).astype("int8"))
    assert w.dtype == np.int32
    close(w, a8.astype(np.int32) * 100)
    close(d, f16.astype(np.float32) * f32 + a8)
    close(e, (f32 * 1000).astype("int32") // 7)


def test_if_then_else_padding_with_all_and_any(rng):
    n = 6
    A = te.placeholder((n, n), name="A")
    P = te.compute((n + 2, n + 2), lambda i, j: te.if_then_else(
        te.all(i >= 1, i <= n, j >= 1, j <= n), A[i - 1, j - 1], 0.0), name="P")
    Q = te.compute((n + 2, n + 2), lambda i, j: te.if_then_else(
        te.any(i < 1, i > n, j < 1, j > n), te.const(0, "float32"), A[i - 1, j - 1]), name="Q")
    a = uniform(rng, (n, n))
    for target in ("llvm", "interp"):
        p, q = run([P, Q], [A], [a], target)
        close(p, np.pad(a, 1))
        close(q, np.pad(a, 1))


def test_integer_division_flavours(rng):
    n = 16
    A = te.placeholder((n,), name="A", dtype="int32")
    C = te.compute((n,), lambda i: te.floordiv(A[i], 3) * 100 + te.floormod(A[i], 3), name="C")
    D = te.compute((n,), lambda i: te.truncdiv(A[i], 3) * 100 + te.truncmod(A[i], 3), name="D")
    E = te.compute((n,), lambda i: te.indexdiv(i, 4) * 10 + te.indexmod(i, 4), name="E")
    F = te.compute((n,), lambda i: A[i] // -3 * 100 + A[i] % -3, name="F")
    G = te.compute((n,), lambda i: te.div(A[i], 4), name="G")
    a = np.arange(-8, 8).astype("int32")
    c, d, e, f, g = run([C, D, E, F, G], [A], [a])
    close(c, a // 3 * 100 + a % 3)
    close(d, np.trunc(a / 3).astype("int32") * 100 + np.fmod(a, 3))
    close(e, np.arange(n) // 4 * 10 + np.arange(n) % 4)
    close(f, a // -3 * 100 + a % -3)
    close(g, np.trunc(a / 4).astype("int32"))


MATH = {
    "exp": (te.exp, np.exp), "log": (lambda x: te.log(x + 2), lambda x: np.log(x + 2)),
    "sqrt": (lambda x: te.sqrt(x + 1), lambda x: np.sqrt(x + 1)),
    "rsqrt": (lambda x: te.rsqrt(x + 2), lambda x: 1 / np.sqrt(x + 2)),
    "sigmoid": (te.sigmoid, lambda x: 1 / (1 + np.exp(-x))), "tanh": (te.tanh, np.tanh),
    "power": (lambda x: te.power(x + 1, 2.5), lambda x: (x + 1) ** 2.5),
    "erf": (te.erf, np.vectorize(math.erf)), "abs": (te.abs, np.abs),
    "floor": (lambda x: te.floor(x * 10), lambda x: np.floor(x * 10)),
    "ceil": (lambda x: te.ceil(x * 10), lambda x: np.ceil(x * 10)),
    "round": (lambda x: te.round(x * 10), lambda x: np.round(x * 10)),
    "trunc": (lambda x: te.trunc(x * 10), lambda x: np.trunc(x * 10)),
    "fmod": (lambda x: te.fmod(x * 10, 3.0), lambda x: np.fmod(x * 10, 3)),
    "log2": (lambda x: te.log2(x + 2), lambda x: np.log2(x + 2)),
    "log10": (lambda x: te.log10(x + 2), lambda x: np.log10(x + 2)), "log1p": (te.log1p, np.log1p),
    "exp2": (te.exp2, np.exp2), "exp10": (te.exp10, lambda x: 10.0 ** x),
    "sin": (te.sin, np.sin), "cos": (te.cos, np.cos), "tan": (te.tan, np.tan),
    "asin": (te.asin, np.arcsin), "atan": (te.atan, np.arctan), "cosh": (te.cosh, np.cosh),
    "max": (lambda x: te.max(x, 0.25), lambda x: np.maximum(x, 0.25)),
    "min": (lambda x: te.min(x, 0.25), lambda x: np.minimum(x, 0.25)),
}


def test_math_intrinsics(rng):
    A = te.placeholder((32,), name="A")

    def elementwise(name, f):
        return te.compute((32,), lambda i: f(A[i]), name=name)

    outputs = [elementwise(name, f) for name, (f, _) in MATH.items()]
    a = uniform(rng, 32, low=-0.9, high=0.9)
    for got, (name, (_, reference)) in zip(run(outputs, [A], [a]), MATH.items()):
        np.testing.assert_allclose(got, reference(a.astype(np.float64)), rtol=2e-6, atol=2e-6, err_msg=name)


def test_integer_and_classifying_intrinsics():
    B = te.placeholder((6,), name="B", dtype="int32")
    X = te.placeholder((6,), name="X")
    P = te.compute((6,), lambda i: te.popcount(B[i]), name="P")
    N = te.compute((6,), lambda i: te.isnan(X[i]), name="N")
    F = te.compute((6,), lambda i: te.isfinite(X[i]) & ~te.isinf(X[i]), name="F")
    b = np.array([0, 1, 7, 255, -1, 1 << 20], "int32")
    x = np.array([0.0, np.nan, np.inf, -np.inf, 1.0, -2.0], "float32")
    p, nan, finite = run([P, N, F], [B, X], [b, x])
    close(p, [bin(int(v) & 0xFFFFFFFF).count("1") for v in b])
    close(nan, np.isnan(x))
    close(finite, np.isfinite(x))


def test_symbolic_shapes_one_kernel_every_size(rng):
    n = te.var("n")
    A = te.placeholder((n, n), name="A")
    B = te.compute((n, n), lambda i, j: A[j, i] * 2 + (i - j).astype("float32"), name="B")
    f = tvm.build(te.create_schedule(B.op), [A, B])
    for size in (1, 3, 17):
        a = uniform(rng, (size, size))
        b = empty((size, size), "float32")
        f(a, b)
        rows, cols = np.indices((size, size))
        close(b, a.T.astype(np.float64) * 2 + rows - cols)


def test_a_reshape_over_symbolic_sizes(rng):
    # the division by a size is not affine: its subscripts are checked when the kernel runs
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n, m), name="A")
    B = te.compute((n * m,), lambda i: A[i // m, i % m], name="B")
    for target in ("llvm", "interp"):
        f = tvm.build(te.create_schedule(B.op), [A, B], target=target)
        a = uniform(rng, (3, 4))
        b = empty((12,), "float32")
        f(a, b)
        close(b, a.ravel())


@pytest.mark.parametrize("target", ["llvm", "interp"])
def test_a_gather_from_a_symbolic_tensor_is_checked(target):
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n,), name="A")
    Idx = te.placeholder((m,), name="Idx", dtype="int32")
    B = te.compute((m,), lambda i: A[Idx[i]], name="B")
    f = tvm.build(te.create_schedule(B.op), [A, Idx, B], target=target)
    a = np.arange(5, dtype="float32") * 1.5
    b = empty((3,), "float32")
    f(a, np.array([4, 0, 2], "int32"), b)
    close(b, a[[4, 0, 2]])
    last = "4"  # n is 5 in this call
    with pytest.raises(te.OutOfBoundsError, match=rf"{target}: compute B: the access A\[Idx\[i\]\] reads "
                       rf"dimension 0 of A \(shape \[n\]\) at index Idx\[i\] = 5, outside 0..{last}; guard it"):
        f(a, np.array([4, 5, 0], "int32"), b)


def test_a_gather_from_a_symbolic_tensor_compiles_for_cuda():
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n,), name="A")
    Idx = te.placeholder((m,), name="Idx", dtype="int32")
    B = te.compute((m,), lambda i: A[Idx[i]], name="B")
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=64)
    s[B].bind(xo, te.thread_axis("blockIdx.x"))
    s[B].bind(xi, te.thread_axis("threadIdx.x"))
    source = tvm.build(s, [A, Idx, B], target="cuda").source
    assert "nestor_checked(" in source and "(long long)(n)" in source


def test_a_float_scalar_argument_may_be_a_rank0_tensor(rng):
    n = te.var("n")
    alpha = te.placeholder((), "float32", "alpha")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * alpha(), name="B")
    a = uniform(rng, 6)
    b = empty((6,), "float32")
    tvm.build(te.create_schedule(B.op), [A, alpha, B])(a, np.array(2.5, "float32"), b)
    close(b, 2.5 * a)
