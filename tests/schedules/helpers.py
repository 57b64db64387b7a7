"""Checks that every schedule test makes: the printed nest, numpy agreement through the
interpreter, and the trace replayed through JSON."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import nestor as ns
from nestor import Tensor
from tests.catalogue import assert_outputs_match, random_array


def imperfect(extent: int, factor: int) -> bool:
    """Whether splitting ``extent`` by ``factor`` needs a guard: the factor does not divide the
    extent, and is smaller than it (a larger factor makes the inner loop the extent itself)."""
    return factor < extent and extent % factor != 0


def nest(s: ns.Schedule, args: Sequence[Tensor], name: str = "f") -> str:
    """The printed loop nest of ``s``."""
    return str(ns.lower(s, list(args), name=name))


def run(s: ns.Schedule, args: Sequence[Tensor], inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The outputs (the arguments after ``inputs``) that the interpreter computes, starting from NaN."""
    module = ns.build(s, list(args), target="interp")
    outputs = [np.full(t.shape, np.nan if t.dtype.is_float else -7, dtype=t.dtype.numpy)
               for t in args[len(inputs):]]
    module(*inputs, *outputs)
    return outputs


def check_numpy(s: ns.Schedule, args: Sequence[Tensor], reference: Callable[..., object],
                seed: int = 0, rtol: float = 1e-5) -> None:
    """Run ``s`` on random inputs and compare with ``reference(*inputs)`` (one array or a tuple)."""
    rng = np.random.default_rng(seed)
    n_out = len(s.output_tensors)
    inputs = [random_array(rng, t.shape, t.dtype.value) for t in args[:len(args) - n_out]]
    want = reference(*[a.astype(np.float64) if a.dtype.kind == "f" else a for a in inputs])
    want = list(want) if isinstance(want, tuple) else [want]
    got = run(s, args, inputs)
    assert_outputs_match(got, [np.asarray(w).astype(g.dtype) for w, g in zip(want, got)], rtol=rtol)


def check_roundtrip(s: ns.Schedule, args: Sequence[Tensor]) -> None:
    """The trace of ``s``, through JSON and replayed on a fresh schedule, lowers to the same text."""
    replayed = ns.Schedule.from_trace(list(s.output_tensors), s.trace.to_json())
    assert str(replayed.trace) == str(s.trace)
    assert nest(replayed, args) == nest(s, args)


def vector_loops(stmt) -> int:
    """How many vectorized loops a lowered nest holds (anywhere: under guards, allocations)."""
    from tensorir.stmt import For, ForKind
    from tensorir.visitor import walk

    return sum(isinstance(node, For) and node.kind is ForKind.VECTORIZED for node in walk(stmt))
