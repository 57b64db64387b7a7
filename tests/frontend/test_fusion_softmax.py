"""Fused softmax and log-softmax (frontend/fusion_softmax.py): values against numpy, gradients
against finite differences, second derivatives, one kernel each way, and errors."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch
from frontend.fusion_softmax import log_softmax, softmax
from tensorir.errors import DefinitionError

from .helpers import gradient_check


def _numpy(kind, x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    logs = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return np.exp(logs) if kind == "softmax" else logs


FUNCTIONS = {"softmax": softmax, "log_softmax": log_softmax}


@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_values_and_gradients(kind, axis):
    x = np.random.default_rng(0).standard_normal((3, 4, 5)) * 3
    np.testing.assert_allclose(FUNCTIONS[kind](nf.Tensor(x), axis).numpy(), _numpy(kind, x, axis), rtol=1e-12,
                               atol=1e-15)
    gradient_check(lambda t: FUNCTIONS[kind](t, axis), x)


@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
def test_one_kernel_each_way(kind):
    x = nf.Tensor(np.random.default_rng(1).standard_normal((6, 10)), requires_grad=True)
    dispatch.stats.reset()
    y = FUNCTIONS[kind](x)
    assert dispatch.stats.calls == 1
    dispatch.stats.reset()
    y.backward(nf.Tensor(np.ones((6, 10))))
    assert dispatch.stats.calls == 1


@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
def test_second_derivative(kind):
    x = np.random.default_rng(2).standard_normal((2, 3))
    t = nf.Tensor(x, requires_grad=True)
    (first,) = nf.grad((FUNCTIONS[kind](t) ** 2).sum(), [t], create_graph=True)
    first.sum().backward()
    eps, found = 1e-6, np.zeros_like(x)
    for index in np.ndindex(x.shape):  # d/dx of sum(d/dx sum(f(x)^2)) by central differences
        step = np.zeros_like(x)
        step[index] = eps
        grads = []
        for sign in (1, -1):
            u = nf.Tensor(x + sign * step, requires_grad=True)
            (g,) = nf.grad((FUNCTIONS[kind](u) ** 2).sum(), [u])
            grads.append(g.numpy().sum())
        found[index] = (grads[0] - grads[1]) / (2 * eps)
    np.testing.assert_allclose(t.grad.numpy(), found, rtol=1e-5, atol=1e-7)


def test_errors():
    x = nf.Tensor(np.ones((2, 3)))
    with pytest.raises(DefinitionError, match=r"softmax: axis 2 is out of range for a tensor of 2 dimensions; "
                                              r"use an int in \[-2, 2\)"):
        softmax(x, 2)
    with pytest.raises(DefinitionError, match=r"log_softmax: a int32 tensor; cast it with .astype"):
        log_softmax(nf.Tensor(np.ones((2, 3), dtype=np.int32)))
