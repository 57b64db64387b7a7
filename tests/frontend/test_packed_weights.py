"""Right operands packed once and reused while unchanged (frontend/packed_weights.py,
frontend/ops/matmul_packed.py): every product equals numpy's before, while and after a copy is
kept; writes through the frontend, optimizer steps and storage handed to the user never let a
stale copy be read; gradients through the kept copies match central differences."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import nn, optim
from frontend.ops import matmul_packed
from frontend.packed_weights import cache
from tensorir.errors import ConfigurationError


@pytest.fixture(autouse=True)
def _every_operand_kept(monkeypatch):
    """Small operands (fast to compile) take the kept-copy path too; each test starts afresh."""
    monkeypatch.setattr(matmul_packed, "SMALL_OPERAND", 0)
    monkeypatch.setattr(matmul_packed, "UNPACKED_MIN_ROWS", 1)
    monkeypatch.delenv("NESTOR_PACKED_WEIGHTS_MB", raising=False)
    matmul_packed._PLANS.clear()
    cache.clear()
    yield
    matmul_packed._PLANS.clear()
    cache.clear()


def _ints(rng, shape) -> np.ndarray:
    return rng.integers(-3, 4, shape).astype(np.float32)  # every sum exact in float32


def _exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)


def _products_hit(weight: nf.Tensor, b: np.ndarray, rows: tuple[int, ...], k: int, rng, transposed=False):
    """Three products per batch size (the first packs as it goes, the second keeps a copy, the
    third reads it), each equal to numpy's."""
    for m in rows:
        a = _ints(rng, (m, k))
        for _ in range(3):
            got = (nf.Tensor(a) @ (weight.T if transposed else weight)).numpy()
            np.testing.assert_array_equal(got, _exact(a, b.T if transposed else b))


@pytest.mark.parametrize("n", [33, 100, 257, 1000])
def test_products_on_a_kept_copy_equal_numpy(n):
    rng = np.random.default_rng(n)
    b = _ints(rng, (24, n))
    weight = nf.Tensor(b, requires_grad=False)
    _products_hit(weight, b, (1, 7, 130), 24, rng)
    assert cache.stats.hits >= 3 and len(cache) == 1
    del weight  # the copy lives as long as the storage
    assert len(cache) == 0


@pytest.mark.parametrize("n", [33, 1000])
def test_a_transposed_weight_is_kept_in_its_own_layout(n):
    rng = np.random.default_rng(n)
    stored = _ints(rng, (n, 20))  # the product reads stored.T: a layer's dX = dZ @ W^T
    _products_hit(nf.Tensor(stored, requires_grad=False), stored, (1, 9), 20, rng, transposed=True)
    assert cache.stats.hits >= 2


@pytest.mark.slow
@pytest.mark.parametrize("n", [16, 17, 31, 32, 33, 63, 100, 128, 255, 256, 257, 300, 511, 1000, 1023, 1100])
def test_products_on_a_kept_copy_at_many_shapes(n):
    rng = np.random.default_rng(n)
    b = _ints(rng, (40, n))
    _products_hit(nf.Tensor(b, requires_grad=False), b, (1, 2, 7, 8, 9, 33, 64, 65, 130, 300), 40, rng)
    _products_hit(nf.Tensor(b.T.copy(), requires_grad=False), b.T.copy(), (1, 9, 300), 40, rng, transposed=True)


def _kept(weight: nf.Tensor, x: nf.Tensor) -> None:
    for _ in range(2):
        (x @ weight).numpy()
    assert len(cache) == 1


def test_a_write_through_the_frontend_drops_the_kept_copy(rng):
    b, a = _ints(rng, (16, 300)), _ints(rng, (2, 16))
    weight, x = nf.Tensor(b, requires_grad=False), nf.Tensor(a)
    _kept(weight, x)
    weight[3:5] = 2.0  # t[index] = value writes into the storage
    b[3:5] = 2.0
    np.testing.assert_array_equal((x @ weight).numpy(), _exact(a, b))
    parameter = nn.Parameter(b.copy())
    _kept(parameter, x)
    parameter.data[:, 7] = -1.0  # needle's in-place update of a parameter's values
    b[:, 7] = -1.0
    for _ in range(3):
        np.testing.assert_array_equal((x @ parameter).numpy(), _exact(a, b))


def test_storage_handed_to_the_user_is_never_read_from_a_kept_copy(rng):
    b, a = _ints(rng, (16, 300)), _ints(rng, (2, 16))
    weight, x = nf.Tensor(b, requires_grad=False), nf.Tensor(a)
    _kept(weight, x)
    held = np.asarray(weight.data)  # the stored array itself: the user may write into it at any time
    held *= 2
    for step in range(3):
        np.testing.assert_array_equal((x @ weight).numpy(), _exact(a, 2 * b + step))
        held += 1
    assert len(cache) == 0
    wrapped = b.copy()
    view = nf.Tensor.wrap(wrapped)  # no copy: the caller keeps the array
    for step in range(3):
        np.testing.assert_array_equal((x @ view).numpy(), _exact(a, wrapped))
        wrapped[:, step] = 5.0
    assigned = b.copy()
    weight.data = assigned  # shared with the caller from now on
    for step in range(3):
        np.testing.assert_array_equal((x @ weight).numpy(), _exact(a, assigned))
        assigned[step] = -2.0
    assert len(cache) == 0


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.5, momentum=0.9), lambda ps: optim.Adam(ps, lr=0.1)])
def test_an_optimizer_step_is_seen_by_the_next_product(make, rng):
    layer = nn.Linear(24, 300, rng=rng)
    opt = make(layer.parameters())
    x = _ints(rng, (1, 24))
    for _ in range(3):
        for _ in range(3):  # inference between steps: the third product reads a kept copy
            w, bias = layer.weight.numpy(), layer.bias.numpy()
            with nf.no_grad():
                np.testing.assert_allclose(layer(nf.Tensor(x)).numpy(), x @ w + bias, rtol=1e-5, atol=1e-5)
        opt.reset_grad()
        layer(nf.Tensor(x)).sum().backward()
        opt.step()
        assert not np.array_equal(layer.weight.numpy(), w)
    assert cache.stats.hits >= 3


def test_gradients_through_kept_copies_match_central_differences(rng):
    layer = nn.Linear(20, 300, dtype="float64", rng=rng)
    x = nf.Tensor(rng.standard_normal((3, 20)), dtype="float64")
    g = rng.standard_normal((3, 300))

    def loss(w: np.ndarray, xs: np.ndarray) -> float:
        return float((np.maximum(xs @ w + layer.bias.numpy(), 0) * g).sum())

    for _ in range(3):  # the weight unchanged: its products read kept copies (W, and W^T in the backward)
        layer.weight.grad = x.grad = None
        (nf.relu(layer(x)) * nf.Tensor(g)).sum().backward()
    assert cache.stats.hits >= 2
    w0, x0, eps = layer.weight.numpy(), x.numpy(), 1e-6
    for i, j in ((0, 0), (5, 17), (19, 299)):
        step = np.zeros_like(w0)
        step[i, j] = eps
        numeric = (loss(w0 + step, x0) - loss(w0 - step, x0)) / (2 * eps)
        assert layer.weight.grad.numpy()[i, j] == pytest.approx(numeric, rel=1e-5, abs=1e-7)
    for i, j in ((0, 0), (2, 19)):
        step = np.zeros_like(x0)
        step[i, j] = eps
        numeric = (loss(w0, x0 + step) - loss(w0, x0 - step)) / (2 * eps)
        assert x.grad.numpy()[i, j] == pytest.approx(numeric, rel=1e-5, abs=1e-7)


def test_the_budget_bounds_what_is_kept(monkeypatch, rng):
    a = _ints(rng, (1, 300))
    weights = [_ints(rng, (300, 1000)) for _ in range(2)]  # 1.2 MB packed each
    monkeypatch.setenv("NESTOR_PACKED_WEIGHTS_MB", "0")
    tensors = [nf.Tensor(b, requires_grad=False) for b in weights]
    for tensor, b in zip(tensors, weights):
        for _ in range(3):
            np.testing.assert_array_equal((nf.Tensor(a) @ tensor).numpy(), _exact(a, b))
    assert len(cache) == 0
    monkeypatch.setenv("NESTOR_PACKED_WEIGHTS_MB", "2")
    for tensor, b in zip(tensors, weights):
        for _ in range(3):
            np.testing.assert_array_equal((nf.Tensor(a) @ tensor).numpy(), _exact(a, b))
    assert len(cache) == 1 and cache.nbytes <= 2 << 20  # the older copy made room


def test_a_bad_budget_is_reported_with_its_variable(monkeypatch, rng):
    monkeypatch.setenv("NESTOR_PACKED_WEIGHTS_MB", "lots")
    b = nf.Tensor(_ints(rng, (16, 300)), requires_grad=False)
    with pytest.raises(ConfigurationError, match=r"NESTOR_PACKED_WEIGHTS_MB='lots': .*MiB of matrix-product right "
                                                  r"operands .*unset NESTOR_PACKED_WEIGHTS_MB for the default"):
        (nf.Tensor(_ints(rng, (1, 16))) @ b).numpy()


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_products_keep_their_dtype_packed_or_kept(dtype, rng):
    """B packed zero-padded (300 columns, or stored transposed) was padded with a float 0.0, which
    made an integer product's result float32; its kept copy must be of B's dtype too."""
    a = rng.integers(-3, 4, (2, 20)).astype(dtype)
    for b, transposed in ((rng.integers(-3, 4, (20, 300)).astype(dtype), False),
                          (rng.integers(-3, 4, (100, 20)).astype(dtype), True)):
        weight = nf.Tensor(b, requires_grad=False)
        for _ in range(3):
            got = (nf.Tensor(a) @ (weight.T if transposed else weight)).numpy()
            assert got.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(got, a @ (b.T if transposed else b))
    assert cache.stats.hits >= 2
