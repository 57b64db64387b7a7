"""The frontend's scalar arithmetic keeps numpy's (and needle's) types while Nestor's own compute
expressions type Python literals as TVM does: a float32 tensor times a Python float stays float32,
an int32 tensor plus a Python int stays int32, and a float64 tensor times 0.1 uses the double 0.1."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf

CASES = {  # name: (array, frontend op, numpy reference)
    "float32_times_float": (np.array([1.5, -2.0, 3.25], np.float32), lambda x: x * 0.1, lambda a: a * 0.1),
    "float32_plus_int": (np.array([1.5, -2.0, 3.25], np.float32), lambda x: x + 3, lambda a: a + 3),
    "float64_times_tenth": (np.array([1.0, 3.0, 1e300]), lambda x: x * 0.1, lambda a: a * 0.1),
    "int32_plus_int": (np.array([2**31 - 1, -5, 7], np.int32), lambda x: x + 1, lambda a: a + np.int32(1)),
    "int64_times_int": (np.array([2**40, -5, 7], np.int64), lambda x: x * 3, lambda a: a * 3),
    "float32_divided_by_float": (np.array([1.0, 3.0, -7.0], np.float32), lambda x: x / 3.0, lambda a: a / 3.0),
}


@pytest.mark.parametrize("name", CASES)
def test_scalar_ops_keep_numpys_type_and_value(name):
    array, op, reference = CASES[name]
    got = op(nf.Tensor(array)).numpy()
    with np.errstate(over="ignore"):
        want = reference(array)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
