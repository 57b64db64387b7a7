"""Oracles of the needle conformance programs: needle's ``gradient_check`` recipe (central
differences of every stored element) and its convolution written as plain loops in numpy."""

from __future__ import annotations

import numpy as np

from .needle_shim import ndl


def _central_differences(f, args, position, kwargs, eps=1e-4):
    """d sum(f(args)) / d args[position], one stored element at a time (the storage is moved in
    place, through the tensor's ``realize_cached_data`` view, and put back)."""
    storage = args[position].realize_cached_data()
    slopes = np.zeros(storage.shape)
    for index in np.ndindex(storage.shape):
        original = storage[index].copy()
        values = []
        for step in (eps, -eps):
            storage[index] = original + step
            values.append(float(f(*args, **kwargs).numpy().sum()))
        storage[index] = original
        slopes[index] = (values[0] - values[1]) / (2 * eps)
    return slopes


def gradient_check(f, *args, tol=1e-6, backward=True, **kwargs):
    """The adjoints of ``sum(f(*args))`` against central differences (needle's check): through
    ``backward``, or (``backward=False``) through the op's ``gradient_as_tuple`` with an adjoint
    of ones, as needle's two paths do. Returns the computed gradients."""
    numeric = [_central_differences(f, args, k, kwargs) for k in range(len(args))]
    out = f(*args, **kwargs)
    if backward:
        out.sum().backward()
        computed = [a.grad.numpy() for a in args]
    else:
        computed = [g.numpy() for g in out.op.gradient_as_tuple(ndl.Tensor(np.ones(out.shape)), out)]
    error = sum(float(np.linalg.norm(c - n)) for c, n in zip(computed, numeric))
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
