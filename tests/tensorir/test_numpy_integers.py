"""numpy integer scalars are accepted wherever a Python int is: shapes, reduce axes, subscripts,
constants, split/tile factors, string-form ranges, template sizes and knobs, frontend reshape and
reduction axes; the trace stays JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

import frontend as nf
import nestor as ns
from schedules.templates import matmul_cpu
from tensorir.errors import DefinitionError
from tensorir.intmath import as_int

n = np.int64


def test_definitions_and_schedules_take_numpy_integers():
    A = ns.placeholder((n(4), np.int32(6)), name="A")
    k = ns.reduce_axis(n(6), "k")
    C = ns.compute((n(4),), lambda i: ns.sum(A[i, k] * n(2) + A[n(1), k], axis=k), name="C")
    D = ns.compute(n(4), lambda i: C[i] + np.float32(1.5) + A[i, np.uint8(0)], name="D")
    s = ns.create_schedule(D)
    s[D].split(D.op.axis[0], factor=n(2))
    s[C].split(C.op.axis[0], nparts=np.int32(2))
    s[C].split(k, factor=np.int16(3))
    assert ns.reduce_axis((n(0), n(6)), "k2").extent == 6
    json.loads(s.trace.to_json())
    a, d = np.arange(24, dtype=np.float32).reshape(4, 6), np.zeros(4, np.float32)
    ns.build(s, [A, D], target="llvm")(a, d)
    np.testing.assert_allclose(d, (a * 2 + a[1]).sum(1) + 1.5 + a[:, 0])


def test_tile_string_form_and_templates_take_numpy_integers():
    A = ns.placeholder((8, 8), name="A")
    C = ns.compute("C[i, j] = A[i, j] * c", A=A, c=n(3), ranges={"i": n(8)})
    s = ns.create_schedule(C)
    s[C].tile(C.op.axis[0], C.op.axis[1], n(4), n(2))
    json.loads(s.trace.to_json())
    a, c = np.ones((8, 8), np.float32), np.zeros((8, 8), np.float32)
    ns.build(s, [A, C], target="interp")(a, c)
    np.testing.assert_array_equal(c, 3 * a)
    s, args = matmul_cpu(n(16), n(16), n(16), v1=n(8), v2=n(16), v3=n(4), b1=n(8))
    json.loads(s.trace.to_json())
    ns.build(s, args, target="llvm")


def test_frontend_reshape_and_axes_take_numpy_integers():
    x = nf.Tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    assert nf.reshape(x, (n(6), n(4))).shape == (6, 4) and nf.reshape(x, n(24)).shape == (24,)
    np.testing.assert_allclose(x.sum(axis=n(1)).numpy(), x.numpy().sum(1))
    np.testing.assert_allclose(nf.mean(x, axis=(n(0), np.int32(2))).numpy(), x.numpy().mean((0, 2)))


@pytest.mark.parametrize("bad", [np.float64(4.0), True, np.bool_(True), n(0)])
def test_non_integers_are_still_refused(bad):
    with pytest.raises(DefinitionError, match="every dimension must be a positive int"):
        ns.placeholder((bad, 4), name="A")


def test_reshape_refuses_fractional_extents():
    with pytest.raises(DefinitionError, match="must hold positive integers"):
        nf.reshape(nf.Tensor(np.ones(4, np.float32)), (2.5, 2))


def test_as_int():
    assert type(as_int(n(4))) is int and as_int(True) is True and as_int(2.0) == 2.0
