"""Schedules over rank-0 tensors (a scalar sum, a scalar parameter, a scalar compute) shared by
the schedule and CUDA tests, each with its numpy reference."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import nestor as ns
from nestor import Tensor


def total_and_normalize(n: int = 64):
    """``S = sum(A[k])`` (rank 0) and ``B[i] = A[i] / S()``."""
    A = ns.placeholder((n,), name="A")
    k = ns.reduce_axis((0, n), name="k")
    S = ns.compute((), lambda: ns.sum(A[k], axis=k), name="S")
    B = ns.compute((n,), lambda i: A[i] / S(), name="B")
    return A, S, B


def normalize_reference(a):
    return a / a.sum()


def scaled(n: int = 64):
    """``C = P() * 2`` of a rank-0 input ``P`` (rank 0) and ``B[i] = A[i] * C()``."""
    A = ns.placeholder((n,), name="A")
    P = ns.placeholder((), name="P")
    C = ns.compute((), lambda: P() * 2.0, name="C")
    B = ns.compute((n,), lambda i: A[i] * C(), name="B")
    return A, P, C, B


def scaled_reference(a, p):
    return a * p * 2


def inputs_for(args: Sequence[Tensor], count: int, seed: int = 0) -> list[np.ndarray]:
    """Random arrays (0-d ones included: always ndarrays) for the first ``count`` of ``args``."""
    rng = np.random.default_rng(seed)
    return [np.asarray(rng.uniform(0.5, 1.5, size=t.shape), dtype=t.dtype.numpy) for t in args[:count]]


def run_on(target: str, s: ns.Schedule, args: Sequence[Tensor], inputs: Sequence[np.ndarray]):
    """The outputs of ``s`` built for ``target``, each starting from NaN."""
    module = ns.build(s, list(args), target=target)
    outputs = [np.full(t.shape, np.nan, dtype=t.dtype.numpy) for t in args[len(inputs):]]
    module(*inputs, *outputs)
    return outputs
