"""The C math library's one-operand functions (``ns.sin`` ... ``ns.cbrt``, TVM's ``te.sin`` ...),
``trunc``, ``rsqrt`` and ``isfinite``: numpy's values on interp and llvm (NaN outside the domain,
inf on overflow), scalar and vectorized, float16 through float, the string form, and CUDA source
that nvcc compiles."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import nestor as ns
from backends.cuda.nvcc import find_nvcc
from tensorir.intrinsics import LIBM

NAMES = [*LIBM, "trunc", "rsqrt"]
_NUMPY = {"asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "asinh": np.arcsinh,
          "acosh": np.arccosh, "atanh": np.arctanh, "exp10": lambda v: np.power(v.dtype.type(10), v),
          "rsqrt": lambda v: 1 / np.sqrt(v)}
X = np.array([-2.5, -1, -0.5, -0.0, 0, 0.3, 0.5, 1, 1.5, 2, 10, 100, np.inf, -np.inf, np.nan, 7], "float64")


def _reference(name: str, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return _NUMPY.get(name, getattr(np, name, None))(x)


def _apply(fn, A):
    return lambda i: fn(A[i])


def _schedule(dtype: str, vectorize: bool = False):
    A = ns.placeholder(X.shape, dtype, "A")
    outs = [ns.compute(X.shape, _apply(getattr(ns, n), A), name=n) for n in NAMES]
    s = ns.create_schedule([o.op for o in outs])
    if vectorize:
        for out in outs:
            s[out].vectorize(out.op.axis[0])
    return s, A, outs


@pytest.mark.parametrize("target", ["interp", "llvm"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_each_function_has_numpys_values(target, dtype):
    s, A, outs = _schedule(dtype, vectorize=target == "llvm" and dtype == "float32")
    x = X.astype(dtype)
    results = [np.zeros(X.shape, dtype) for _ in outs]
    ns.build(s, [A, *outs], target=target)(x, *results)
    tol = 2e-6 if dtype == "float32" else 1e-13
    for name, got in zip(NAMES, results):
        np.testing.assert_allclose(got, _reference(name, x), rtol=tol, atol=tol, equal_nan=True,
                                   err_msg=f"{name} {dtype} {target}")


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_float16_computes_in_float_and_rounds(target):
    x = np.array([-0.5, 0.3, 1.5, 2.0, 4.0], "float16")
    A = ns.placeholder(x.shape, "float16", "A")
    outs = [ns.compute(x.shape, _apply(getattr(ns, n), A), name=n) for n in ("sin", "log2", "expm1", "atan")]
    results = [np.zeros(x.shape, "float16") for _ in outs]
    ns.build(ns.create_schedule([o.op for o in outs]), [A, *outs], target=target)(x, *results)
    for out, got in zip(outs, results):
        want = _reference(out.name, x.astype("float32")).astype("float16")
        np.testing.assert_array_equal(got, want, err_msg=out.name)


def test_integers_are_converted_to_float32_and_isfinite_holds_for_them():
    A = ns.placeholder((4,), "int32", "A")
    S = ns.compute((4,), lambda i: ns.sin(A[i]), name="S")
    F = ns.compute((4,), lambda i: ns.isfinite(A[i]), name="F")
    assert S.dtype == "float32" and F.dtype == "bool"
    a = np.array([0, 1, 2, 3], "int32")
    s_out, f_out = np.zeros(4, "float32"), np.zeros(4, bool)
    ns.build(ns.create_schedule([S.op, F.op]), [A, S, F])(a, s_out, f_out)
    np.testing.assert_allclose(s_out, np.sin(a.astype("float32")), rtol=1e-6)
    assert f_out.all()


def test_isfinite_of_floats():
    x = np.array([1.0, np.inf, -np.inf, np.nan], "float32")
    A = ns.placeholder((4,), "float32", "A")
    F = ns.compute((4,), lambda i: ns.isfinite(A[i]), name="F")
    out = np.zeros(4, bool)
    ns.build(ns.create_schedule(F.op), [A, F])(x, out)
    np.testing.assert_array_equal(out, np.isfinite(x))


def test_string_form_knows_the_functions():
    A = ns.placeholder((3,), "float32", "A")
    B = ns.compute("B[i] = sin(A[i]) + log1p(A[i]) * trunc(A[i])", A=A)
    x = np.array([0.5, 1.5, 2.5], "float32")
    out = np.zeros(3, "float32")
    ns.build(ns.create_schedule(B.op), [A, B])(x, out)
    np.testing.assert_allclose(out, np.sin(x) + np.log1p(x) * np.trunc(x), rtol=1e-6)


def test_cuda_source_compiles_with_nvcc(tmp_path):
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    sources = []
    for dtype in ("float16", "float32", "float64"):
        s, A, outs = _schedule(dtype)
        for out in outs:
            bx, tx = s[out].split(out.op.axis[0], factor=8)
            s[out].bind(bx, "blockIdx.x")
            s[out].bind(tx, "threadIdx.x")
        sources.append(ns.build(s, [A, *outs], target="cuda", name=f"libm_{dtype}").source)
    assert "sinf(" in sources[1] and "cbrtf(" in sources[1] and "exp10(" in sources[2]
    path = tmp_path / "libm.cu"
    path.write_text("\n".join(sources))
    done = subprocess.run([nvcc, "-arch=sm_90", "-c", str(path), "-o", str(tmp_path / "libm.o")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
