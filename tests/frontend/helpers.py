"""Gradient checks against finite differences (seed Lec4): for a random unit direction d,
``d . grad f(x) = (f(x + eps d) - f(x - eps d)) / (2 eps) + O(eps^2)``, in float64."""

from __future__ import annotations

import numpy as np

import frontend as nf


def as_tensors(arrays, requires_grad: bool = True):
    return [nf.Tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad) for a in arrays]


def gradient_check(fn, *arrays, eps: float = 1e-6, rtol: float = 1e-5, directions: int = 2, seed: int = 0,
                   check: tuple[int, ...] | None = None) -> None:
    """Check the gradients of ``sum(adjoint * fn(*arrays))`` with respect to each array (or those
    listed in ``check``) along random directions."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    tensors = as_tensors(arrays)
    out = fn(*tensors)
    adjoint = rng.standard_normal(out.shape)
    out.backward(nf.Tensor(adjoint))
    for k in (range(len(arrays)) if check is None else check):
        grad = tensors[k].grad
        assert grad is not None, f"input {k} got no gradient"
        assert grad.shape == arrays[k].shape, f"gradient {k} has shape {grad.shape}, input {arrays[k].shape}"
        for _ in range(directions):
            direction = rng.standard_normal(arrays[k].shape)
            direction /= np.linalg.norm(direction)
            values = []
            for sign in (1.0, -1.0):
                moved = [a + sign * eps * direction if j == k else a for j, a in enumerate(arrays)]
                with nf.no_grad():
                    values.append(fn(*as_tensors(moved, requires_grad=False)).numpy())
            numeric = float(((values[0] - values[1]) * adjoint).sum() / (2 * eps))
            analytic = float((grad.numpy() * direction).sum())
            assert abs(numeric - analytic) <= rtol * max(1.0, abs(numeric)), (
                f"input {k}: finite differences give {numeric}, backward gives {analytic}")
