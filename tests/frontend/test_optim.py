"""Optimizer steps against the update rules computed by hand (seed Lec6/Lec7/Lec9)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import frontend as nf
from frontend import nn, optim

W0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.5, 1.0, -2.0])
G2 = np.array([-1.0, 0.25, 1.0])


def _param():
    return nn.Parameter(W0.copy(), dtype="float64")


def _step(optimizer, param, grad):
    param.grad = nf.Tensor(grad)
    optimizer.step()
    return param.numpy()


def test_sgd_with_weight_decay():
    p = _param()
    got = _step(optim.SGD([p], lr=0.1, weight_decay=0.01), p, G1)
    np.testing.assert_allclose(got, W0 - 0.1 * (G1 + 0.01 * W0), rtol=1e-12)


def test_momentum_with_bias_correction():
    p, beta, lr = _param(), 0.9, 0.1
    opt = optim.SGD([p], lr=lr, momentum=beta, bias_correction=True)
    w1 = _step(opt, p, G1)
    u1 = (1 - beta) * G1
    np.testing.assert_allclose(w1, W0 - lr * u1 / (1 - beta), rtol=1e-12)  # the first step is plain SGD
    w2 = _step(opt, p, G2)
    u2 = beta * u1 + (1 - beta) * G2
    np.testing.assert_allclose(w2, w1 - lr * u2 / (1 - beta ** 2), rtol=1e-12)


def test_momentum_without_bias_correction():
    p = _param()
    got = _step(optim.SGD([p], lr=0.1, momentum=0.9, bias_correction=False), p, G1)
    np.testing.assert_allclose(got, W0 - 0.1 * 0.1 * G1, rtol=1e-12)


def test_nesterov():
    p, beta, lr = _param(), 0.9, 0.1
    opt = optim.SGD([p], lr=lr, momentum=beta, nesterov=True, bias_correction=True)
    w1 = _step(opt, p, G1)
    u1 = (1 - beta) * G1
    np.testing.assert_allclose(w1, W0 - lr * (beta * u1 + (1 - beta) * G1) / (1 - beta), rtol=1e-12)


def test_one_adam_step():
    p = _param()
    got = _step(optim.Adam([p], lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8), p, G1)
    m, v = 0.1 * G1, 0.001 * G1 ** 2
    expected = W0 - 0.01 * (m / 0.1) / (np.sqrt(v / 0.001) + 1e-8)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_two_adam_steps_with_weight_decay():
    p, b1, b2, lr, wd = _param(), 0.9, 0.999, 0.01, 0.1
    opt = optim.Adam([p], lr=lr, weight_decay=wd)
    w, m, v = W0.copy(), 0.0, 0.0
    for t, g in enumerate((G1, G2), start=1):
        got = _step(opt, p, g)
        g = g + wd * w
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + 1e-8)
        np.testing.assert_allclose(got, w, rtol=1e-12)


def test_learning_rate_schedule_hook():
    p = _param()
    opt = optim.SGD([p], lr=1.0, lr_schedule=optim.step_schedule(every=1, gamma=0.5))
    w1 = _step(opt, p, G1)
    w2 = _step(opt, p, G1)
    np.testing.assert_allclose(w1, W0 - G1, rtol=1e-12)
    np.testing.assert_allclose(w2, w1 - 0.5 * G1, rtol=1e-12)
    cosine = optim.cosine_schedule(10, warmup=2)
    assert cosine(1) == 0.5 and cosine(2) == 1.0 and cosine(10) == pytest.approx(0.0)


def test_gradient_clipping():
    p, q = _param(), _param()
    p.grad, q.grad = nf.Tensor(np.array([3.0, 0.0, 0.0])), nf.Tensor(np.array([0.0, 4.0, 0.0]))
    norm = optim.clip_grad_norm([p, q], 1.0)
    assert norm == pytest.approx(5.0)
    total = math.sqrt(float((p.grad.numpy() ** 2).sum() + (q.grad.numpy() ** 2).sum()))
    assert total == pytest.approx(1.0, rel=1e-5)


def test_zero_grad_and_skipping_parameters_without_gradient():
    p, q = _param(), _param()
    opt = optim.SGD([p, q], lr=0.1)
    p.grad = nf.Tensor(G1)
    opt.step()
    np.testing.assert_array_equal(q.numpy(), W0)
    opt.zero_grad()
    assert p.grad is None and q.grad is None


# -- several parameters in one update kernel ------------------------------------------------------
def _numpy_rule(rule, w, g, state, t, lr=0.05, wd=0.01, beta=0.9, b2=0.999, eps=1e-8):
    """One step of ``rule`` in numpy (the oracle): ``(new w, new state)``."""
    g = g + wd * w
    if rule == "sgd":
        return w - lr * g, []
    if rule in ("momentum", "nesterov"):
        u = beta * state[0] + (1 - beta) * g
        step = u if rule == "momentum" else beta * u + (1 - beta) * g
        return w - lr * step / (1 - beta ** t), [u]
    m, v = beta * state[0] + (1 - beta) * g, b2 * state[1] + (1 - b2) * g * g
    return w - lr * (m / (1 - beta ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps), [m, v]


@pytest.mark.parametrize("rule", ["sgd", "momentum", "nesterov", "adam"])
def test_parameters_update_in_one_kernel_with_transposed_gradients_read_in_place(rule):
    """A matrix, a vector, a matrix whose gradient is a transposed view and a scalar: two steps
    of one kernel each (no copy of the transposed gradient), values equal to the rule's."""
    from frontend import dispatch

    rng = np.random.default_rng(1)
    values = [rng.standard_normal(s) for s in ((3, 5), (5,), (4, 6), ())]
    params = [nn.Parameter(v.copy(), dtype="float64") for v in values]
    kwargs = {"lr": 0.05, "weight_decay": 0.01}
    opt = (optim.Adam(params, beta1=0.9, **kwargs) if rule == "adam"
           else optim.SGD(params, momentum=0.0 if rule == "sgd" else 0.9, nesterov=rule == "nesterov",
                          bias_correction=True, **kwargs))
    want, states = [v.copy() for v in values], [[np.zeros_like(v)] * {"sgd": 0, "adam": 2}.get(rule, 1)
                                                 for v in values]
    for t in (1, 2):
        grads = [rng.standard_normal(v.shape) for v in values]
        for p, g in zip(params, grads):
            p.grad = nf.Tensor(g)
        params[2].grad = nf.Tensor(np.ascontiguousarray(grads[2].T)).transpose()
        assert not np.asarray(params[2].grad.data).flags.c_contiguous
        dispatch.stats.reset()
        opt.step()
        assert dispatch.stats.calls == 1
        for n, (w, g) in enumerate(zip(want, grads)):
            want[n], states[n] = _numpy_rule(rule, w, g, states[n], t)
        for p, w in zip(params, want):
            assert p.shape == w.shape
            np.testing.assert_allclose(p.numpy(), w, rtol=1e-12, atol=1e-14)


def test_update_kernels_group_by_dtype_and_size():
    """Parameters of different dtypes update in kernels of their own; more than UPDATE_GROUP
    parameters in several kernels; each value as plain SGD's."""
    from frontend import dispatch

    params = [nn.Parameter(W0.copy() * (n + 1), dtype="float64" if n % 2 else "float32")
              for n in range(2 * optim.UPDATE_GROUP + 2)]
    opt = optim.SGD(params, lr=0.1)
    for p in params:
        p.grad = nf.Tensor(G1.astype(p.dtype))
    dispatch.stats.reset()
    opt.step()
    assert dispatch.stats.calls == 4  # 9 of each dtype: a group of 8 and one of 1
    for n, p in enumerate(params):
        assert p.dtype == ("float64" if n % 2 else "float32")
        np.testing.assert_allclose(p.numpy(), W0 * (n + 1) - 0.1 * G1, rtol=1e-6)
