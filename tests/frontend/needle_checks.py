"""Oracles of the needle conformance programs: needle's ``gradient_check`` recipe (central
differences of every stored element) and its convolution written as plain loops in numpy."""

from __future__ import annotations

import numpy as np

from .needle_shim import ndl


def gradient_check(f, *args, tol=1e-6, backward=True, **kwargs):
    """needle's ``gradient_check``: every element of every argument moved by +-eps in its stored
    array, against ``backward`` of the summed output, or (``backward=False``) against the op's
    ``gradient_as_tuple`` with an adjoint of ones."""
    eps = 1e-4
    numerical = [np.zeros(a.shape) for a in args]
    for i, a in enumerate(args):
        for j in range(a.realize_cached_data().size):
            a.realize_cached_data().flat[j] += eps
            f1 = float(f(*args, **kwargs).numpy().sum())
            a.realize_cached_data().flat[j] -= 2 * eps
            f2 = float(f(*args, **kwargs).numpy().sum())
            a.realize_cached_data().flat[j] += eps
            numerical[i].flat[j] = (f1 - f2) / (2 * eps)
    if not backward:
        out = f(*args, **kwargs)
        computed = [x.numpy() for x in out.op.gradient_as_tuple(ndl.Tensor(np.ones(out.shape)), out)]
    else:
        out = f(*args, **kwargs).sum()
        out.backward()
        computed = [a.grad.numpy() for a in args]
    error = sum(np.linalg.norm(computed[i] - numerical[i]) for i in range(len(args)))
    assert error < tol, f"gradient error {error}"
    return computed


def conv_reference(x, w, stride=1, padding=0):
    """NHWC image, (K, K, C_in, C_out) weight: needle's conv in plain loops."""
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    k = w.shape[0]
    rows, cols = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], rows, cols, w.shape[3]))
    for i in range(rows):
        for j in range(cols):
            patch = x[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
            out[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    return out
