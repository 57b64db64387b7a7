"""TVM's remaining expression names (floordiv/floormod, indexdiv/indexmod, div, nearbyint,
all/any, add/subtract/multiply) against numpy on interp and llvm."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from nestor import DefinitionError


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_names_compute_numpys_values(target):
    a = np.array([-7, -3, 0, 5, 9, 13], "int32")
    b = np.array([2, -4, 3, 3, -5, 4], "int32")
    x = np.array([-2.5, -0.5, 0.5, 1.5, 2.5, 3.7], "float32")
    A, B = ns.placeholder((6,), "int32", "A"), ns.placeholder((6,), "int32", "B")
    X = ns.placeholder((6,), "float32", "X")
    bodies = {
        "fd": (lambda i: ns.floordiv(A[i], B[i]), np.floor_divide(a, b)),
        "fm": (lambda i: ns.floormod(A[i], B[i]), np.mod(a, b)),
        "id": (lambda i: ns.indexdiv(A[i], B[i]) + ns.indexmod(A[i], B[i]), a // b + a % b),
        "td": (lambda i: ns.div(A[i], B[i]), np.trunc(a / b).astype("int32")),
        "fdv": (lambda i: ns.div(X[i], 2.0), x / 2),
        "nb": (lambda i: ns.nearbyint(X[i]), np.round(x)),
        "al": (lambda i: ns.all(A[i] > -5, B[i] > 0, X[i] < 3), (a > -5) & (b > 0) & (x < 3)),
        "an": (lambda i: ns.any(A[i] > 10, B[i] < -4), (a > 10) | (b < -4)),
        "ar": (lambda i: ns.multiply(ns.add(X[i], 1), ns.subtract(X[i], 1)), (x + 1) * (x - 1)),
    }
    outs = [ns.compute((6,), body, name=name) for name, (body, _) in bodies.items()]
    results = [np.zeros(6, o.dtype) for o in outs]
    ns.build(ns.create_schedule([o.op for o in outs]), [A, B, X, *outs], target=target)(a, b, x, *results)
    for (name, (_, want)), got in zip(bodies.items(), results):
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=name)


def test_all_and_any_need_bool_conditions():
    A = ns.placeholder((6,), "int32", "A")
    with pytest.raises(DefinitionError, match=r"all\(\): give at least one condition"):
        ns.all()
    with pytest.raises(DefinitionError, match=r"any\(...\): the condition A\[0\] has type int32"):
        ns.any(A[0] > 1, A[0])
