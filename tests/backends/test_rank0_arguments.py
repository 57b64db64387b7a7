"""Built modules take a rank-0 tensor as a numpy 0-d array on every CPU backend, and refuse a
scalar or an array of the wrong rank with a message that says how to pass it."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns

TARGETS = ["interp", "llvm"]


def _scale_module(target: str):
    A = ns.placeholder((8,), name="A")
    P = ns.placeholder((), name="P")
    B = ns.compute((8,), lambda i: A[i] * P(), name="B")
    return ns.build(ns.create_schedule(B), [A, P, B], target=target, name="scale")


def _total_module(target: str):
    A = ns.placeholder((8,), name="A")
    k = ns.reduce_axis((0, 8), name="k")
    S = ns.compute((), lambda: ns.sum(A[k], axis=k), name="S")
    return ns.build(ns.create_schedule(S), [A, S], target=target, name="total")


@pytest.mark.parametrize("target", TARGETS)
def test_a_0d_array_is_read_and_written(target):
    a = np.arange(8, dtype=np.float32)
    out = np.zeros(8, np.float32)
    _scale_module(target)(a, np.array(1.5, np.float32), out)
    np.testing.assert_array_equal(out, a * np.float32(1.5))
    total = np.array(np.nan, np.float32)
    _total_module(target)(a, total)
    assert total.shape == () and total == a.sum()


@pytest.mark.parametrize("target", TARGETS)
def test_an_array_of_shape_1_is_not_a_scalar(target):
    with pytest.raises(ns.ArgumentError) as info:
        _scale_module(target)(np.zeros(8, np.float32), np.ones(1, np.float32), np.zeros(8, np.float32))
    assert str(info.value) == (
        "scale: argument 1 (P) has rank 1 (shape [1]) but the parameter has rank 0 (shape []); "
        "pass a 0-d array, e.g. np.array(x, dtype=...) or a.reshape(())")


@pytest.mark.parametrize("target", TARGETS)
def test_a_0d_array_is_not_a_vector(target):
    with pytest.raises(ns.ArgumentError) as info:
        _scale_module(target)(np.array(1.0, np.float32), np.array(1.0, np.float32), np.zeros(8, np.float32))
    assert str(info.value) == (
        "scale: argument 0 (A) has rank 0 (shape []) but the parameter has rank 1 (shape [8]); "
        "reshape it to [8]")


@pytest.mark.parametrize("value", [2.0, np.float32(2.0), 2])
def test_a_python_or_numpy_scalar_is_refused_with_the_fix(value):
    with pytest.raises(ns.ArgumentError) as info:
        _scale_module("interp")(np.zeros(8, np.float32), value, np.zeros(8, np.float32))
    shown = repr(value.item() if isinstance(value, np.generic) else value)
    assert str(info.value) == (
        f"scale: argument 1 (P) is a rank-0 tensor of float32; pass a 0-d numpy array, e.g. "
        f"np.array({shown}, dtype=np.float32), not the scalar {shown}")


def test_a_read_only_0d_output_is_refused():
    total = np.array(0.0, np.float32)
    total.flags.writeable = False
    with pytest.raises(ns.ArgumentError, match=r"argument 1 \(S\) is written by the kernel but the "
                       "array is read-only"):
        _total_module("llvm")(np.zeros(8, np.float32), total)
