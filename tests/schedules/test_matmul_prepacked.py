"""B packed once and read by many products (schedules/templates/matmul_prepacked.py): the packing
kernel and the product over its output agree with numpy at odd sizes, static or symbolic rows,
B plain or stored transposed; no guard sits in the register tile; bad knobs are refused."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from schedules.templates.matmul_prepacked import matmul_prepacked, pack_b, packed_shape
from tensorir.errors import DefinitionError

from .helpers import vector_loops
from .test_matmul_whole import _operands, _stores

#: the frontend's knobs for a whole-k product (MatMul.default_config)
KNOBS = {"v1": 8, "v2": 32, "v3": 4, "b1": 8, "b2": 128}


def _packed(b: np.ndarray, n: int, k: int, transpose_b: bool) -> np.ndarray:
    packer = ns.build(*pack_b(n, k, v2=32, b2=128, transpose_b=transpose_b), target="llvm")
    packed = np.full(packed_shape(n, k, v2=32, b2=128), np.nan, np.float32)
    packer(b, packed)
    return packed


@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("n", [1, 33, 100, 256, 257, 1000])
def test_products_over_packed_b_are_exact(n, transpose_b):
    k = 45
    _, b, _ = _operands(1, n, k, transpose_b)
    packed = _packed(b, n, k, transpose_b)
    strips = packed.shape[0]
    assert packed.shape == (strips, k, 32) and strips * 32 >= n
    plain = b.T if transpose_b else b
    assert np.all(packed.transpose(1, 0, 2).reshape(k, -1)[:, n:] == 0)  # zero past the columns
    np.testing.assert_array_equal(packed.transpose(1, 0, 2).reshape(k, -1)[:, :n], plain)
    symbolic = ns.build(*matmul_prepacked(ns.size_var("M"), n, k, transpose_b=transpose_b, **KNOBS), target="llvm")
    for m in (1, 7, 8, 9, 130):
        a = np.random.default_rng(m).integers(-3, 4, (m, k)).astype(np.float32)
        want = (a.astype(np.float64) @ plain.astype(np.float64)).astype(np.float32)
        c = np.full((m, n), np.nan, np.float32)
        symbolic(a, packed, c)
        np.testing.assert_array_equal(c, want)
    static = ns.build(*matmul_prepacked(3, n, k, transpose_b=transpose_b, parallel=True, **KNOBS), target="llvm")
    c = np.full((3, n), np.nan, np.float32)
    static(a[:3].copy(), packed, c)
    np.testing.assert_array_equal(c, want[:3])


def test_no_guard_in_the_register_tile_and_no_packing_in_the_product():
    func = ns.lower(*matmul_prepacked(ns.size_var("M"), 100, 64, **KNOBS))
    stores = _stores(func.body)
    assert {buffer for buffer, _, _ in stores} == {"C.local", "C"}  # B.packed is an argument, never written
    updates = [conds for buffer, value, conds in stores if buffer == "C.local" and "C.local" in value]
    assert updates and all(cond.endswith("< M") for conds in updates for cond in conds)
    assert all(any(cond.endswith("< 100") for cond in conds) for buffer, _, conds in stores if buffer == "C")
    assert vector_loops(func.body) >= 3
    assert [p.name for p in func.params][:2] == ["A", "B.packed"]


def test_a_packed_b_of_another_layout_is_refused_at_the_call():
    module = ns.build(*matmul_prepacked(4, 100, 16, **KNOBS), target="llvm")
    with pytest.raises(ns.ArgumentError, match="B.packed"):
        module(np.zeros((4, 16), np.float32), np.zeros((3, 16, 32), np.float32), np.zeros((4, 100), np.float32))


@pytest.mark.parametrize("knobs, message", [
    ({"b1": 12}, r"cache tiles \(12, 128\) must be whole register tiles \(8, 32\); give b1 a multiple of v1"),
    ({"b2": 100}, r"cache tiles \(8, 100\) must be whole register tiles \(8, 32\)"),
])
def test_cache_tiles_off_the_register_tile_are_refused(knobs, message):
    with pytest.raises(DefinitionError, match=message):
        matmul_prepacked(8, 100, 16, **{**KNOBS, **knobs})


def test_a_packing_tile_off_the_register_tile_is_refused():
    with pytest.raises(DefinitionError, match=r"matmul_prepacked: the cache tile of b2=100 columns must be a whole "
                                              r"number of register tiles of v2=32; give b2 a multiple of v2"):
        pack_b(100, 16, v2=32, b2=100, transpose_b=False)


def test_symbolic_columns_cannot_be_packed_once():
    with pytest.raises(DefinitionError, match=r"matmul_prepacked: B's sizes must be integers to pack it once, "
                                              r"got n=N, k=16"):
        pack_b(ns.size_var("N"), 16, v2=32, b2=128, transpose_b=False)


def test_an_integer_b_is_packed_in_its_own_dtype():
    s, (b, packed) = pack_b(40, 8, v2=32, b2=128, transpose_b=False, dtype="int32")
    assert packed.dtype == b.dtype
    values = np.arange(320, dtype=np.int32).reshape(8, 40)
    out = np.zeros(packed_shape(40, 8, v2=32, b2=128), np.int32)
    ns.build(s, [b, packed], target="llvm")(values, out)
    np.testing.assert_array_equal(out.transpose(1, 0, 2).reshape(8, -1)[:, :40], values)
