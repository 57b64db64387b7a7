"""Integer ``//`` and ``%`` by zero in data, and ``INT_MIN // -1``, give numpy's results on every
backend (0, and the wrapped INT_MIN) instead of killing the process with SIGFPE; divisors that are
provably safe (``i // 4``) carry no guard. See :mod:`tensorir.dtypes`."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nestor as ns
from tests.backends.subprocess_run import run_python

DIVISION_PROGRAM = """
    import json, numpy as np, nestor as ns
    results = {{}}
    for dtype in ("int32", "int64", "float32"):
        a = ns.placeholder((8,), dtype=dtype, name="a")
        b = ns.placeholder((8,), dtype=dtype, name="b")
        q = ns.compute((8,), lambda i: a[i] // b[i], name="q")
        r = ns.compute((8,), lambda i: a[i] % b[i], name="r")
        low = np.iinfo(dtype).min if dtype != "float32" else -8
        x = np.array([7, -7, 0, low, low, 5, -9, 12], dtype=dtype)
        y = np.array([0, 0, 0, -1, 0, -2, 4, -1], dtype=dtype)
        for out in (q, r):
            got = np.zeros(8, dtype)
            s = ns.create_schedule(out)
            outer, inner = s[out].split(out.op.axis[0], factor=4)
            s[out].parallel(outer)
            s[out].vectorize(inner)
            ns.build(s, [a, b, out], target={target!r})(x, y, got)
            results[dtype + out.name] = got.tolist()
    print(json.dumps(results))
"""


def _numpy_results() -> dict:
    results = {}
    for dtype in ("int32", "int64", "float32"):
        low = np.iinfo(dtype).min if dtype != "float32" else -8
        x = np.array([7, -7, 0, low, low, 5, -9, 12], dtype=dtype)
        y = np.array([0, 0, 0, -1, 0, -2, 4, -1], dtype=dtype)
        with np.errstate(all="ignore"):
            for name, f in (("q", np.floor_divide), ("r", np.remainder)):
                results[dtype + name] = f(x, y).tolist()
    return results


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_division_by_zero_and_overflow_match_numpy_and_the_process_lives(target):
    done = run_python(DIVISION_PROGRAM.format(target=target))
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    got, want = json.loads(done.stdout.strip().splitlines()[-1]), _numpy_results()
    assert got.keys() == want.keys()
    for key in want:  # exact integers; floats equal up to the sign of zero, nan where nan
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_provably_safe_divisors_carry_no_guard():
    a = ns.placeholder((8,), dtype="int32", name="a")
    b = ns.placeholder((8,), dtype="int32", name="b")
    by_four = ns.compute((8,), lambda i: a[i] // 4 + a[i] % 4, name="by_four")
    by_data = ns.compute((8,), lambda i: a[i] // b[i], name="by_data")
    int_min = str(np.iinfo("int32").min)
    four = ns.build(ns.create_schedule(by_four), [a, by_four], target="llvm")
    data = ns.build(ns.create_schedule(by_data), [a, b, by_data], target="llvm")
    assert int_min not in four.source and int_min in data.source
    four_py = ns.build(ns.create_schedule(by_four), [a, by_four], target="interp").python
    data_py = ns.build(ns.create_schedule(by_data), [a, b, by_data], target="interp").python
    assert "_floordiv" not in four_py and "_floordiv(" in data_py
