"""Float32 vector sigmoid in straight-line IR (backends/llvm/vector_math.py): values against
numpy in float64 over the whole range, the edges (0, +-inf, NaN, past the clamps), a loop that
is not a multiple of the vector width, and float64 and scalar loops left to the C library."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from backends import build
from schedules import create_schedule, lower


def _sigmoid_kernel(n: int, dtype: str, vector: int | None):
    x = ns.placeholder((n,), dtype, name="x")
    y = ns.compute((n,), lambda i: ns.sigmoid(x[i]), name="y")
    s = create_schedule(y)
    if vector:
        outer, inner = s[y].split(y.op.axis[0], factor=vector)
        s[y].vectorize(inner)
    return build(lower(s, [x, y], "sigmoid"), "llvm")


def _reference(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


EDGES = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 87.0, -87.0, 88.5, -88.5, 89.0, -89.0, 104.0, -104.0]


@pytest.mark.parametrize("dtype, vector, rtol", [("float32", 16, 3e-7), ("float32", None, 3e-7),
                                                 ("float64", 8, 1e-15)])
def test_sigmoid_matches_numpy(dtype, vector, rtol):
    x = np.concatenate([np.linspace(-110, 110, 4003), np.geomspace(1e-6, 30, 500), -np.geomspace(1e-6, 30, 500),
                        EDGES]).astype(dtype)
    kernel = _sigmoid_kernel(len(x), dtype, vector)
    out = np.empty_like(x)
    kernel(x, out)
    want = _reference(x)
    assert np.isnan(out[np.isnan(x)]).all()
    finite = ~np.isnan(x)
    normal = finite & (want > np.finfo(dtype).tiny)
    np.testing.assert_allclose(out[normal], want[normal], rtol=rtol)
    np.testing.assert_allclose(out[finite], want[finite], rtol=rtol, atol=np.finfo(dtype).tiny)
    assert out[x == np.inf].tolist() == [1.0] and out[x == -np.inf].tolist() == [0.0]


def test_the_vector_loop_calls_no_c_library_exp():
    kernel = _sigmoid_kernel(64, "float32", 16)
    assert "expf" not in kernel.source and "llvm.exp" not in kernel.source
    assert "expf" in _sigmoid_kernel(64, "float32", None).source or "llvm.exp" in _sigmoid_kernel(
        64, "float32", None).source
