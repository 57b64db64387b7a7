"""Structural keys and hashes of IR: equal for rebuilt identical IR, different for any change."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tensorir.buffer import Buffer, Scope
from tensorir.dtypes import DType
from tensorir.expr import BufferLoad, Var, const
from tensorir.stmt import For, ForKind, PrimFunc, Store
from tensorir.structural import identity_key, structural_equal, structural_hash, structural_key

F32 = DType.FLOAT32


def _scale(name="i", factor=2.0, offset=0, dtype=F32, kind=ForKind.SERIAL, scope=Scope.GLOBAL,
           extent=4, buffer_names=("A", "B")):
    """``for i in 0..extent: B[i + offset] = A[i] * factor``, built afresh on every call."""
    A = Buffer(buffer_names[0], (8,), dtype, scope)
    B = Buffer(buffer_names[1], (8,), dtype)
    i = Var(name)
    body = For(i, const(0), const(extent), kind,
               Store(B, (i + offset,), BufferLoad(A, (i,), dtype) * factor))
    return PrimFunc("scale", (A, B), body)


def test_rebuilt_identical_ir_is_structurally_equal():
    a, b = _scale(), _scale()
    assert a is not b
    assert structural_equal(a, b)
    assert structural_key(a) == structural_key(b)
    assert structural_hash(a) == structural_hash(b)


def test_variable_and_buffer_names_do_not_matter():
    assert structural_hash(_scale()) == structural_hash(_scale(name="k", buffer_names=("X", "Y")))


@pytest.mark.parametrize("change", [
    {"factor": 3.0}, {"offset": 1}, {"dtype": DType.FLOAT64}, {"kind": ForKind.UNROLLED},
    {"scope": Scope.SHARED}, {"extent": 5},
])
def test_any_change_changes_the_hash(change):
    assert not structural_equal(_scale(), _scale(**change))
    assert structural_hash(_scale()) != structural_hash(_scale(**change))


def test_constants_keep_their_type():
    assert not structural_equal(const(1), const(1.0, F32))
    assert not structural_equal(const(1), const(True))


def test_distinct_variables_are_not_merged():
    a, b = Var("a"), Var("b")
    assert structural_equal(a + b, Var("x") + Var("y"))
    assert not structural_equal(a + a, a + b)
    assert identity_key(a + b) != identity_key(b + a)
    assert identity_key(a + 1) == identity_key(a + 1)
    assert identity_key(a + 1) != identity_key(b + 1)


def test_hash_is_stable_across_processes():
    script = ("from tests.tensorir.test_structural import _scale\n"
              "from tensorir.structural import structural_hash\n"
              "print(structural_hash(_scale()))")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2")}
    assert runs == {structural_hash(_scale())}
