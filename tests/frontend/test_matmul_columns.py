"""The frontend's products at column counts off a multiple of 32 (frontend/ops/matmul.py): the
whole-reduction form packs B zero-padded past 256 columns (its register tile then carries no
column guard, schedules/templates/matmul_whole.py) and keeps B unpacked up to 256; every batch
of one symbolic kernel exact against numpy, the adjoints too."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch
from frontend.ops.matmul import UNPACKED_N_MAX, MatMul


def _config(m: int, k: int, n: int) -> dict:
    op = MatMul()
    arrays = [np.zeros((m, k), np.float32), np.zeros((k, n), np.float32)]
    return op.default_config(op.request(arrays, "cpu", (False, False)))


def test_columns_off_32_pack_b_past_256_and_keep_it_unpacked_below():
    for n in (300, 1000, 1023, 1024):
        config = _config(128, 784, n)
        assert config["b3"] is None and config["pack_b"]
    for n in (33, 100, UNPACKED_N_MAX):
        assert not _config(128, 784, n)["pack_b"]


@pytest.mark.parametrize("n", [33, 300, 1000])
def test_products_off_32_columns_are_exact_at_every_batch(n):
    rng = np.random.default_rng(n)
    b = rng.integers(-3, 4, (50, n)).astype(np.float32)
    compiled = None
    for m in (1, 7, 70, 130):
        a = rng.integers(-3, 4, (m, 50)).astype(np.float32)
        dispatch.stats.reset()
        out = nf.ops.matmul(nf.Tensor(a), nf.Tensor(b)).numpy()
        np.testing.assert_array_equal(out, (a.astype(np.float64) @ b).astype(np.float32))
        if m > 1:  # one symbolic kernel serves every batch past the first (a batch of one may build its own)
            compiled = dispatch.stats.compiled if compiled is None else compiled + dispatch.stats.compiled
    assert compiled <= 1


def test_gradients_of_a_1000_column_product_match_numpy():
    rng = np.random.default_rng(7)
    a, b, g = (rng.standard_normal(shape).astype(np.float32) for shape in ((9, 40), (40, 1000), (9, 1000)))
    x, w = nf.Tensor(a, requires_grad=True), nf.Tensor(b, requires_grad=True)
    (x @ w).backward(nf.Tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), g.astype(np.float64) @ b.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w.grad.numpy(), a.T.astype(np.float64) @ g, rtol=1e-4, atol=1e-4)
