"""Kernels with a symbolic batch: a training step at a new batch size compiles nothing, and every
value stays what numpy computes."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch, nn, ops
from frontend.ops.elementwise import Add, Elementwise
from frontend.ops.matmul import MatMul
from frontend.symbatch import BATCH, BatchKernel

IN, HIDDEN, CLASSES = 20, 24, 10


def _numpy_step(x, y, w1, b1, w2, b2):
    """Loss and gradients of the MLP ``relu(x W1 + b1) W2 + b2`` under mean softmax cross entropy."""
    z1 = x @ w1 + b1
    a = np.maximum(z1, 0)
    z2 = a @ w2 + b2
    shifted = z2 - z2.max(axis=1, keepdims=True)
    softmax = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    batch = len(y)
    loss = (np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(batch), y]).mean()
    dz2 = (softmax - np.eye(CLASSES)[y]) / batch
    dz1 = (dz2 @ w2.T) * (z1 > 0)
    return loss, [x.T @ dz1, dz1.sum(axis=0), a.T @ dz2, dz2.sum(axis=0)]


def _step(model, loss_fn, rng, batch):
    x = rng.standard_normal((batch, IN)).astype(np.float32)
    y = rng.integers(0, CLASSES, batch)
    for p in model.parameters():
        p.grad = None
    loss = loss_fn(model(nf.Tensor(x)), nf.Tensor(y))
    loss.backward()
    params = [p.numpy() for p in model.parameters()]
    expected_loss, expected_grads = _numpy_step(x.astype(np.float64), y, *(p.astype(np.float64) for p in params))
    np.testing.assert_allclose(loss.numpy(), expected_loss, rtol=1e-5)
    for p, expected in zip(model.parameters(), expected_grads):
        np.testing.assert_allclose(p.grad.numpy(), expected.reshape(p.shape), rtol=1e-4, atol=1e-6)


def test_a_training_step_at_a_new_batch_size_compiles_nothing(rng):
    model = nn.Sequential(nn.Linear(IN, HIDDEN, rng=rng), nn.ReLU(), nn.Linear(HIDDEN, CLASSES, rng=rng))
    loss_fn = nn.SoftmaxLoss()
    _step(model, loss_fn, rng, 32)
    compiled = dispatch.stats.compiled
    for batch in (13, 5, 70, 17):  # the last, smaller batch of an epoch; tails of vector loops
        _step(model, loss_fn, rng, batch)
    assert dispatch.stats.compiled == compiled


def test_the_step_compiles_again_with_symbolic_batches_off(rng):
    model = nn.Sequential(nn.Linear(IN, HIDDEN, rng=rng), nn.ReLU(), nn.Linear(HIDDEN, CLASSES, rng=rng))
    dispatch.cache.symbolic_batch = False
    try:
        _step(model, nn.SoftmaxLoss(), rng, 12)
        compiled = dispatch.stats.compiled
        _step(model, nn.SoftmaxLoss(), rng, 11)
        assert dispatch.stats.compiled > compiled
    finally:
        dispatch.cache.symbolic_batch = True


OPS = {
    "add": (lambda x, w: x + w[0], lambda x, w: x + w[0]),
    "relu": (lambda x, w: ops.relu(ops.reshape(x, (x.shape[0], 2, 3))),
             lambda x, w: np.maximum(x, 0).reshape(-1, 2, 3)),
    "sum0": (lambda x, w: ops.summation(x, 0), lambda x, w: x.sum(axis=0)),
    "sum1": (lambda x, w: ops.summation(x, 1), lambda x, w: x.sum(axis=1)),
    "mean": (lambda x, w: ops.mean(x), lambda x, w: x.mean()),
    "mean0": (lambda x, w: ops.mean(x, 0, keepdims=True), lambda x, w: x.mean(axis=0, keepdims=True)),
    "matmul": (lambda x, w: x @ w, lambda x, w: x @ w),
    "matmul_at": (lambda x, w: nf.transpose(x) @ x, lambda x, w: x.T @ x),
    "dot": (lambda x, w: x @ nf.Tensor(w.numpy()[:, :2].copy()), lambda x, w: x @ w[:, :2]),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_ops_serve_every_batch_size_with_one_kernel(rng, name):
    ours, reference = OPS[name]
    w = rng.standard_normal((6, 6)).astype(np.float32)
    compiled = None
    for batch in (9, 4, 33, 2, 21):
        x = rng.standard_normal((batch, 6)).astype(np.float32)
        out = ours(nf.Tensor(x), nf.Tensor(w))
        np.testing.assert_allclose(out.numpy(), reference(x, w), rtol=1e-5, atol=1e-5)
        compiled = dispatch.stats.compiled if compiled is None else compiled
    assert dispatch.stats.compiled == compiled, f"{name} compiled again for a new batch size"


def test_gradient_of_a_mean_over_the_batch(rng):
    for batch in (7, 3, 18):
        x = nf.Tensor(rng.standard_normal((batch, 5)), requires_grad=True)
        ops.mean(ops.multiply(x, x)).backward()
        np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() / x.numpy().size, rtol=1e-12)


def test_a_batch_of_one_stays_static_and_right(rng):
    x = rng.standard_normal((1, 6)).astype(np.float32)
    w = rng.standard_normal((6, 3)).astype(np.float32)
    np.testing.assert_allclose((nf.Tensor(x) @ nf.Tensor(w)).numpy(), x @ w, rtol=1e-5)
    kernel = next(k for r, k in dispatch.cache.kernels.items() if r.op == "matmul" and r.shapes[0] == (1, 6))
    assert not isinstance(kernel, BatchKernel)


def test_kernels_of_one_op_share_the_symbolic_request(rng):
    op = Add()
    for batch in (5, 8):
        op.forward(rng.standard_normal((batch, 3)), rng.standard_normal((1, 3)))
    kernels = [k for r, k in dispatch.cache.kernels.items() if r.op == "add" and r.shapes[1] == (1, 3)
               and r.dtypes[0] == "float64" and r.shapes[0][0] in (5, 8)]
    assert {k.batch for k in kernels} == {5, 8} and all(isinstance(k, BatchKernel) for k in kernels)
    assert len({id(k.module) for k in kernels}) == 1
    assert any(r.shapes == ((BATCH, 3), (1, 3)) for r, *_ in dispatch.cache.symbolic)


def test_a_registered_config_of_one_batch_size_builds_its_own_kernel(rng):
    a24, a17 = (rng.random((m, 40), dtype=np.float32) for m in (24, 17))
    b = rng.random((40, 32), dtype=np.float32)
    key, dtypes = ("matmul", False, False), ("float32", "float32")
    tuned = {"v1": 2, "v2": 16, "v3": 2, "b1": 8, "b2": 32}
    dispatch.clear()
    dispatch.register_config(key, ((24, 40), (40, 32)), dtypes, "cpu", tuned)
    try:
        np.testing.assert_allclose(MatMul().forward(a24, b), a24 @ b, rtol=1e-5)
        compiled = dispatch.stats.compiled
        np.testing.assert_allclose(MatMul().forward(a17, b), a17 @ b, rtol=1e-5)
        assert dispatch.stats.compiled == compiled + 1  # the defaults: a kernel of their own
        np.testing.assert_allclose(MatMul().forward(a24[:20], b), a24[:20] @ b, rtol=1e-5)
        assert dispatch.stats.compiled == compiled + 1  # 20 rows reuse the defaults' kernel
    finally:
        dispatch.clear_configs()
    by_rows = {r.shapes[0][0]: k for r, k in dispatch.cache.kernels.items() if r.op == "matmul"}
    assert {k: by_rows[24].config[k] for k in tuned} == tuned
    assert by_rows[24].task == ("matmul_cpu", (24, 32, 40), {"transpose_b": False, "parallel": False})
    assert by_rows[17].module is by_rows[20].module is not by_rows[24].module
    dispatch.clear()


class _NeedsStaticRows(Elementwise):
    """A schedule that branches on the row count in Python: it cannot take a symbolic batch."""

    name = "needs_static_rows"

    def scalar(self, x): return x * 2

    def schedule(self, request, s, outputs, config):
        if outputs[0].shape[0] > 4:
            super().schedule(request, s, outputs, config)


def test_an_op_whose_schedule_needs_static_extents_falls_back_to_static_kernels(rng):
    op = _NeedsStaticRows()
    for batch in (6, 3):
        x = rng.standard_normal((batch, 4)).astype(np.float32)
        np.testing.assert_allclose(op.forward(x), 2 * x)
    kernels = [k for r, k in dispatch.cache.kernels.items() if r.op == op.name]
    assert len(kernels) == 2 and not any(isinstance(k, BatchKernel) for k in kernels)
    assert [v for (r, *_), v in dispatch.cache.symbolic.items() if r.op == op.name] == [None]


def _conv_reference(x, w, padding):
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2)),
                                                       w.shape[2:], axis=(2, 3))
    return np.einsum("nchwrs,kcrs->nkhw", windows, w), windows


def test_convolutions_and_pooling_serve_every_batch_size_with_one_kernel(rng):
    w = rng.standard_normal((4, 3, 3, 3))
    compiled = None
    for batch in (6, 3, 11):
        x = rng.standard_normal((batch, 3, 8, 8))
        xt, wt = nf.Tensor(x, requires_grad=True), nf.Tensor(w, requires_grad=True)
        y = nf.ops.max_pool2d(nf.ops.conv2d(xt, wt, padding=1), 2)
        adjoint = rng.standard_normal(y.shape)
        nf.ops.summation(nf.ops.multiply(y, nf.Tensor(adjoint))).backward()
        conv, windows = _conv_reference(x, w, 1)
        pooled = conv.reshape(batch, 4, 4, 2, 4, 2).max(axis=(3, 5))
        np.testing.assert_allclose(y.numpy(), pooled, rtol=1e-10)
        winner = conv == np.repeat(np.repeat(pooled, 2, axis=2), 2, axis=3)
        dconv = winner * np.repeat(np.repeat(adjoint, 2, axis=2), 2, axis=3)
        np.testing.assert_allclose(wt.grad.numpy(), np.einsum("nchwrs,nkhw->kcrs", windows, dconv), rtol=1e-10)
        direction = rng.standard_normal(x.shape)
        moved = [_conv_reference(x + sign * 1e-6 * direction, w, 1)[0] for sign in (1, -1)]
        numeric = ((moved[0] - moved[1]) * dconv).sum() / 2e-6
        np.testing.assert_allclose((xt.grad.numpy() * direction).sum(), numeric, rtol=1e-6)
        compiled = dispatch.stats.compiled if compiled is None else compiled
    assert dispatch.stats.compiled == compiled
