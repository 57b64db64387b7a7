"""The CPU matmul at sizes its tiles do not divide: zero-padded packing, no guard in the kernel."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nestor as ns
from schedules import templates
from schedules.templates.matmul_edges import balanced_chunk
from tensorir.errors import DefinitionError

from .helpers import check_numpy, check_roundtrip, nest


@pytest.mark.parametrize("m, n, k", [(37, 45, 23), (17, 64, 130), (64, 33, 64), (9, 9, 9)])
@pytest.mark.parametrize("transpose_b", [True, False])
def test_padded_product_matches_numpy(m, n, k, transpose_b):
    s, args = templates.matmul_cpu(m, n, k, v1=4, v2=16, v3=4, b1=8, b2=16, b3=32, transpose_b=transpose_b)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if transpose_b else (k, n), dtype=np.float32)
    c = np.full((m, n), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_allclose(c, a @ (b.T if transpose_b else b), rtol=1e-4, atol=1e-4)


def test_padded_nest_has_no_guard_in_the_kernel():
    s, args = templates.matmul_cpu(37, 45, 23, v1=4, v2=16, v3=4, b1=8, b2=16, b3=32, transpose_b=False,
                                   parallel=True)
    text = nest(s, args)
    # 48 padded columns, 40 padded rows: each tile of C.padded computed in its tile of C
    assert "parallel for j.outer in 0..3:" in text
    assert "    for i.outer in 0..5:\n      allocate C.padded: float32[8, 16]" in text
    assert "A.packed[io, kk, ii] = if_then_else(io * 4 + ii < 37 and kk < 23, A[io * 4 + ii, kk], 0.0)" in text
    kernel = text[text.index("allocate C.padded"):text.index("for i.inner in 0..8:")]
    assert "if " not in kernel and "if_then_else" not in kernel
    # the tile's part inside C written back in the same parallel region, guarded there only
    assert text.count("parallel for") == 2  # A packed, then B's panels, the product and C
    check_numpy(s, args, lambda a, b: a @ b, rtol=1e-4)
    check_roundtrip(s, args)


def test_divisible_sizes_keep_the_unpadded_nest():
    text = nest(*templates.matmul_cpu(32, 64, 64, v1=4, v2=16, v3=4, b1=8, b2=16, b3=32))
    assert "C.padded" not in text and "A.packed" not in text
    assert re.search(r"B.packed\[jo, kk, ji\] = B\[jo \* 16 \+ ji, kk\]", text)


def test_guard_edges_on_request():
    s, args = templates.matmul_cpu(37, 45, 23, v1=4, v2=16, v3=4, b1=8, b2=16, b3=32, edge="guard")
    assert "C.padded" not in nest(s, args)
    check_numpy(s, args, lambda a, b: a @ b.T, rtol=1e-4)


def test_unknown_edge_strategy():
    with pytest.raises(DefinitionError, match=re.escape("matmul_cpu: edge must be 'pad' or 'guard', got 'clip'")):
        templates.matmul_cpu(8, 8, 8, edge="clip")


def test_balanced_chunk_wastes_less_padding():
    assert [balanced_chunk(k, 64, 4) for k in (513, 1000, 64, 65, 23)] == [60, 64, 64, 36, 24]


def test_a_reduction_the_chunks_can_divide_needs_no_padding():
    text = nest(*templates.matmul_cpu(32, 64, 60, v1=4, v2=16, v3=4, b1=8, b2=16, b3=64))
    assert "C.padded" not in text and "if " not in text


def test_numpy_integer_sizes_are_padded_too():
    sizes = (np.int64(37), np.int64(45), np.int64(23))
    text = nest(*templates.matmul_cpu(*sizes, v1=4, v2=16, v3=4, b1=8, b2=16, b3=32))
    assert "for j.outer in 0..3:" in text and "for i.outer in 0..5:\n      allocate C.padded: float32[8, 16]" in text


def test_reduction_chunk_pads_the_least():
    from schedules.templates.matmul_edges import reduction_chunk

    assert [reduction_chunk(k, 64, 4) for k in (513, 1000, 64, 65, 23, 1024, 130)] == [52, 40, 64, 68, 24, 64, 44]


def test_template_chunks_pad_the_reduction_the_least():
    """k=513: ten chunks of 52 (520), not nine of 60 (540); k=1000 needs no padding at all."""
    text = nest(*templates.matmul_cpu(16, 32, 513, v1=8, v2=32, v3=4, b1=8, b2=32, b3=64))
    assert "allocate A.packed: float32[2, 520, 8] in global" in text
    text = nest(*templates.matmul_cpu(16, 40, 1000, v1=8, v2=32, v3=4, b1=8, b2=32, b3=64))
    # rows and the reduction divide (chunks of 40): A is read as stored, only B is padded
    assert "A.packed" not in text and "for k.outer in 0..25:" in text
    assert "+ A[i.outer * 8 + i.inner.inner, k.outer * 40 + k.inner.outer * 4 + k.inner.inner] * B.packed[" in text


@pytest.mark.parametrize("parallel", [True, False])
@pytest.mark.parametrize("transpose_b", [True, False])
def test_only_the_columns_overhang(parallel, transpose_b):
    """Rows and reduction divide the tiles: the product reads A as stored, B and C are padded."""
    m, n, k = 96, 70, 120
    s, args = templates.matmul_cpu(m, n, k, v1=8, v2=32, v3=4, b1=8, b2=32, b3=40, transpose_b=transpose_b,
                                   parallel=parallel)
    text = nest(s, args)
    assert "A.packed" not in text and "for j.outer in 0..3:" in text  # 96 padded columns
    assert "allocate C.padded: float32[8, 32] in global" in text
    assert ("parallel for" in text) == parallel
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if transpose_b else (k, n), dtype=np.float32)
    c = np.full((m, n), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_allclose(c, a @ (b.T if transpose_b else b), rtol=1e-4, atol=1e-4)


def test_a_plain_1000_cube_packs_only_b(monkeypatch, tmp_path):
    monkeypatch.setenv("NESTOR_TUNING_DB", str(tmp_path / "empty.db"))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    text = nest(*templates.matmul_cpu(1000, 1000, 1000, transpose_b=False))
    assert "A.packed" not in text
    # each column tile's panel of B packed by the thread that computes it, in the product's region
    assert "parallel for j.outer in 0..32:\n    allocate B.packed: float32[1, 1000, 32] in global" in text
    assert text.count("parallel for") == 1  # C's tiles: B's panels, the product, the copy to C


@pytest.mark.parametrize("parallel", [True, False])
@pytest.mark.parametrize("transpose_b", [True, False])
def test_rows_past_the_matrix_read_its_last_row(parallel, transpose_b):
    """The chunks divide k and only rows and columns overhang: A is read as stored, the rows
    of the padded product past m read row m - 1 (in bounds) and are never written to C."""
    m, n, k = 37, 45, 48
    s, args = templates.matmul_cpu(m, n, k, v1=4, v2=16, v3=4, b1=8, b2=16, b3=24, transpose_b=transpose_b,
                                   parallel=parallel)
    text = nest(s, args)
    assert "A.packed" not in text and "A[min(i.outer * 8 + i.inner.outer * 4 + i.inner.inner, 36), " in text
    rng = np.random.default_rng(2)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if transpose_b else (k, n), dtype=np.float32)
    c = np.full((m, n), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_allclose(c, a @ (b.T if transpose_b else b), rtol=1e-4, atol=1e-4)
    check_roundtrip(s, args)


def test_cache_tile_pads_the_least():
    from schedules.templates.matmul_edges import cache_tile

    # 784 rows: tiles of 56 (none padded), not 64 (832); 257 columns in 32-wide registers: 96 (288), not 128 (384)
    assert [cache_tile(784, 64, 8), cache_tile(257, 128, 32), cache_tile(768, 64, 8), cache_tile(37, 64, 8)] \
        == [56, 96, 64, 40]


def test_overhanging_cache_tiles_shrink_to_the_register_tile():
    """784x256x128 in 64-row cache tiles: 14 tiles of 56 rows, so the padded product computes no
    row past 784 (a last 64-row tile computed 48 rows of padding); 257 columns in 3 tiles of 96."""
    s, args = templates.matmul_cpu(784, 257, 128, v1=8, v2=32, v3=4, b1=64, b2=128, b3=64, transpose_b=False,
                                   parallel=False)
    text = nest(s, args)
    assert "for j.outer in 0..3:" in text and "for i.outer in 0..14:" in text
    assert "allocate C.padded: float32[56, 96]" in text
    rng = np.random.default_rng(0)
    a, b = (rng.integers(-4, 5, shape).astype(np.float32) for shape in ((784, 128), (128, 257)))
    c = np.full((784, 257), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_array_equal(c, a @ b)


@pytest.mark.parametrize("m, n, k", [(65, 63, 67), (127, 129, 61), (97, 31, 129)])
def test_odd_sizes_with_explicit_cache_tiles_match_numpy_exactly(m, n, k):
    s, args = templates.matmul_cpu(m, n, k, v1=8, v2=16, v3=4, b1=32, b2=64, b3=32, transpose_b=True)
    rng = np.random.default_rng(1)
    a, b = (rng.integers(-4, 5, shape).astype(np.float32) for shape in ((m, k), (n, k)))
    c = np.full((m, n), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_array_equal(c, a @ b.T)


@pytest.mark.parametrize("transpose_a", [False, True])
def test_whole_reduction_tiles_lose_their_guards_where_a_tile_divides(transpose_a):
    """b3=None (the frontend's form) at 784 rows in 64-row tiles: 14 tiles of 56, no guard, two
    threads get 7 whole tiles each (13 tiles guarded before)."""
    s, args = templates.matmul_cpu(784, 256, 128, v1=8, v2=32, v3=4, b1=64, b2=128, b3=None, pack_b=False,
                                   transpose_b=False, transpose_a=transpose_a, parallel=True)
    text = nest(s, args)
    assert "parallel for i.outer in 0..14:" in text and "if " not in text
    rng = np.random.default_rng(2)
    a, b = (rng.integers(-4, 5, shape).astype(np.float32) for shape in ((784, 128), (128, 256)))
    c = np.full((784, 256), np.nan, np.float32)
    ns.build(s, args, target="llvm")(np.ascontiguousarray(a.T) if transpose_a else a, b, c)
    np.testing.assert_array_equal(c, a @ b)


def test_whole_reduction_tiles_are_kept_where_no_tile_divides():
    # 776 = 8 x 97: no multiple of 8 between 32 and 128 divides it, so the 64-row tiles and their guard stay
    text = nest(*templates.matmul_cpu(776, 256, 128, v1=8, v2=32, v3=4, b1=64, b2=128, b3=None, pack_b=False,
                                      transpose_b=False, parallel=True))
    assert "parallel for i.outer in 0..13:" in text and "< 776" in text


def test_static_rows_lose_their_guard_beside_a_symbolic_reduction():
    """The frontend's weight gradient X^T @ dZ over a symbolic batch: k symbolic, 784 rows static."""
    k = ns.var("k")
    s, args = templates.matmul_cpu(784, 256, k, v1=8, v2=32, v3=4, b1=64, b2=128, b3=None, pack_b=False,
                                   transpose_b=False, transpose_a=True, parallel=False)
    text = nest(s, args)
    assert "for i.outer in 0..14:" in text and "< 784" not in text
    rng = np.random.default_rng(3)
    a_t, b = (rng.integers(-4, 5, shape).astype(np.float32) for shape in ((129, 784), (129, 256)))
    c = np.full((784, 256), np.nan, np.float32)
    ns.build(s, args, target="llvm")(a_t, b, c)
    np.testing.assert_array_equal(c, a_t.T @ b)
