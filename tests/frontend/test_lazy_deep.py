"""A pending graph of any depth (a Python loop applying ops without reading them) is realized
in layers, without deep recursion, with numpy's values."""

from __future__ import annotations

import sys

import numpy as np

import frontend as nf


def _chain(links: int) -> tuple[nf.Tensor, np.ndarray]:
    x, expected = nf.Tensor(np.linspace(0.0, 1.0, 8)), np.linspace(0.0, 1.0, 8)
    for _ in range(links):
        x = x * 0.999 + 0.001
        expected = expected * 0.999 + 0.001
    return x, expected


def test_a_deep_chain_is_realized_without_deep_recursion():
    warm, expected = _chain(3000)  # compiles the layers' kernels (compiling recurses on its own)
    np.testing.assert_allclose(warm.numpy(), expected, rtol=1e-12)
    deep, expected = _chain(6000)  # 12000 pending ops: 190 nested realizes before layers
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(250)
    try:
        values = deep.numpy()
    finally:
        sys.setrecursionlimit(limit)
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_a_deep_chain_keeps_what_a_variable_holds():
    x = nf.Tensor(np.ones(4))
    held = None
    for step in range(400):
        x = x * 1.001
        if step == 150:
            held = x
    np.testing.assert_allclose(x.numpy(), np.full(4, 1.001 ** 400), rtol=1e-12)
    np.testing.assert_allclose(held.numpy(), np.full(4, 1.001 ** 151), rtol=1e-12)
