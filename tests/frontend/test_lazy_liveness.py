"""Which members a fused kernel stores: calibrated reference counts, and the fallback that needs
none. A member either decision misses stays pending and is computed again when read (one more
launch), with the same values and gradients; never a wrong value or a missing intermediate."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch, lazy_liveness

from .helpers import gradient_check

X = np.linspace(-1.0, 1.0, 12).reshape(3, 4)


def _reads(fn):
    """``fn()``'s value and the kernels it ran."""
    dispatch.stats.reset()
    value = fn()
    return value, dispatch.stats.calls


def test_the_probe_finds_this_interpreter_counts_one_per_holder():
    baseline = lazy_liveness.calibrate()
    assert baseline is not None and baseline == lazy_liveness.BASELINE


def _held_intermediate():
    x = nf.Tensor(X, requires_grad=False)  # no gradient keeps h
    h = (x * 2.0).tanh()  # held by this variable
    z = (h + 1.0).exp()
    first, launched = _reads(z.numpy)
    np.testing.assert_allclose(first, np.exp(np.tanh(X * 2.0) + 1.0), rtol=1e-12)
    assert launched == 1
    second, again = _reads(h.numpy)
    np.testing.assert_allclose(second, np.tanh(X * 2.0), rtol=1e-12)
    return again


def test_counts_store_a_held_intermediate_with_the_root():
    assert _held_intermediate() == 0


@pytest.mark.parametrize("baseline", [None, 1000], ids=["fallback", "undercounting"])
def test_a_missed_intermediate_is_computed_again_when_read(monkeypatch, baseline):
    monkeypatch.setattr(lazy_liveness, "BASELINE", baseline)
    assert _held_intermediate() == 1


def test_counting_too_many_stores_more_and_changes_no_value(monkeypatch):
    monkeypatch.setattr(lazy_liveness, "BASELINE", 0)
    x = nf.Tensor(X)
    z = ((x * 2.0).tanh() + 1.0).exp()  # no intermediate is held: each is stored all the same
    np.testing.assert_allclose(z.numpy(), np.exp(np.tanh(X * 2.0) + 1.0), rtol=1e-12)


def test_the_fallback_stores_what_pending_ops_outside_the_group_read(monkeypatch):
    monkeypatch.setattr(lazy_liveness, "BASELINE", None)
    x = nf.Tensor(X, requires_grad=False)  # no autograd graph: ``other`` keeps no inputs once computed
    h = (x * 2.0).tanh()
    z, other = h + 1.0, h * 3.0  # ``other`` stays pending, outside z's group
    del h
    np.testing.assert_allclose(z.numpy(), np.tanh(X * 2.0) + 1.0, rtol=1e-12)
    value, launched = _reads(other.numpy)
    np.testing.assert_allclose(value, np.tanh(X * 2.0) * 3.0, rtol=1e-12)
    assert launched == 1 and other.inputs == () and other._lazy is None


@pytest.mark.parametrize("baseline", [None, 1000, 0], ids=["fallback", "undercounting", "overcounting"])
def test_gradients_are_right_whatever_the_counts_say(monkeypatch, baseline):
    monkeypatch.setattr(lazy_liveness, "BASELINE", baseline)
    gradient_check(lambda x, b: ((x * b).tanh() * x + b).sigmoid().sum(1, keepdims=True) * (x - b).exp(),
                   X, np.linspace(0.5, 1.5, 4))


@pytest.mark.parametrize("baseline", [None, 1000], ids=["fallback", "undercounting"])
def test_a_training_step_gives_the_same_weights(monkeypatch, baseline):
    monkeypatch.setattr(nf.init, "_default_rng", None)  # init.seed below: numpy's global generator again after
    def step():
        rng = np.random.default_rng(0)
        nf.init.seed(0)
        model = nf.nn.Sequential(nf.nn.Linear(4, 8), nf.nn.Tanh(), nf.nn.Linear(8, 3))
        optimizer = nf.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x, labels = nf.Tensor(rng.standard_normal((5, 4))), nf.Tensor(np.array([0, 2, 1, 1, 0]))
        for _ in range(2):
            optimizer.zero_grad()
            logits = model(x)
            hidden = (logits * logits).mean() + nf.nn.SoftmaxLoss()(logits, labels)
            hidden.backward()
            optimizer.step()
        return [p.numpy() for p in model.parameters()]

    expected = step()
    monkeypatch.setattr(lazy_liveness, "BASELINE", baseline)
    for ours, theirs in zip(step(), expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
