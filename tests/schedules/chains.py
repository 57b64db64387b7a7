"""Long random schedule chains: 20+ primitives mixing caches, inlining, attachment, fuse, split
(factor and nparts, small and huge), reorder, tile and loop marks, over operators whose
producers are read through non-trivial affine subscripts (reversed, strided, offset), as well
as the catalogue's.

A chain is drawn through a :class:`Chooser`, so the same generator serves hypothesis (which
shrinks a failure to a short chain) and a plain seeded ``random.Random`` (fast enough for
thousands of chains). Every primitive call either succeeds or raises ScheduleError; the schedule
that results must lower and agree with numpy (once producers still waiting for their readers,
compute_at accepted in one of TVM's orders, are settled: see :func:`settle`). Any other
exception is a failure.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import numpy as np
import pytest

import nestor as ns
from nestor import LoweringError, ScheduleError
from schedules.attachment import waiting
from schedules.relations import At
from tensorir.tensor import ComputeOp
from tests.catalogue import CATALOGUE, Operator, _operator, assert_outputs_match, run_module

T = TypeVar("T")


class Chooser(Protocol):
    def choice(self, options: Sequence[T], label: str) -> T: ...

    def integer(self, low: int, high: int, label: str) -> int: ...


class RandomChooser:
    """Choices from a seeded ``random.Random``."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def choice(self, options, label):
        return self.rng.choice(list(options))

    def integer(self, low, high, label):
        return self.rng.randint(low, high)


class DataChooser:
    """Choices drawn from hypothesis' ``st.data()``."""

    def __init__(self, data):
        self.data = data

    def choice(self, options, label):
        from hypothesis import strategies as st
        return self.data.draw(st.sampled_from(list(options)), label=label)

    def integer(self, low, high, label):
        from hypothesis import strategies as st
        return self.data.draw(st.integers(low, high), label=label)


# operators read through affine subscripts ---------------------------------------------------
def reversed_columns() -> Operator:
    """``C[i, j] = T[i, 30 - j] + 1`` of ``T = 2 * A``: a producer read backwards."""
    A = ns.placeholder((8, 31), name="A")
    T_ = ns.compute((8, 31), lambda i, j: A[i, j] * 2.0, name="T")
    C = ns.compute((8, 31), lambda i, j: T_[i, 30 - j] + 1.0, name="C")
    return _operator("reversed_columns", [A], [C], lambda a: 2.0 * a[:, ::-1] + 1.0)


def strided_pairs() -> Operator:
    """``C[i, j] = T[i, 2j] * T[i, 2j + 1]``: a producer read with stride 2, twice."""
    A = ns.placeholder((6, 20), name="A")
    T_ = ns.compute((6, 20), lambda i, j: A[i, j] + 1.0, name="T")
    C = ns.compute((6, 10), lambda i, j: T_[i, 2 * j] * T_[i, 2 * j + 1], name="C")
    return _operator("strided_pairs", [A], [C], lambda a: (a[:, 0::2] + 1.0) * (a[:, 1::2] + 1.0))


def offset_stencil() -> Operator:
    """``C[i, j] = T[i + 2, j] + T[i, j + 2] - T[i + 1, j + 1]``: reads at offsets."""
    A = ns.placeholder((9, 12), name="A")
    T_ = ns.compute((9, 12), lambda i, j: A[i, j] * A[i, j], name="T")
    C = ns.compute((7, 10), lambda i, j: T_[i + 2, j] + T_[i, j + 2] - T_[i + 1, j + 1], name="C")

    def reference(a):
        t = a.astype(np.float64) ** 2
        return t[2:, :10] + t[:7, 2:] - t[1:8, 1:11]

    return _operator("offset_stencil", [A], [C], reference)


def flipped_reduction() -> Operator:
    """``U[i, j] = T[6 - i, 8 - j]`` then ``R[j] = sum_k U[k, 8 - j]``: two reversed reads in a row."""
    A = ns.placeholder((7, 9), name="A")
    T_ = ns.compute((7, 9), lambda i, j: A[i, j] - 0.5, name="T")
    U = ns.compute((7, 9), lambda i, j: T_[6 - i, 8 - j] * 2.0, name="U")
    k = ns.reduce_axis(7, "k")
    R = ns.compute((9,), lambda j: ns.sum(U[k, 8 - j], axis=k), name="R")
    return _operator("flipped_reduction", [A], [R],
                     lambda a: (2.0 * (a.astype(np.float64) - 0.5)).sum(axis=0))


def strided_two_readers() -> Operator:
    """``R[i] = sum_k T[i, 2k + 1]`` and ``Y[i, j] = R[i] + T[i, 15 - 2j]``: one producer, two
    readers with different strides, one of them a reduction."""
    A = ns.placeholder((5, 16), name="A")
    T_ = ns.compute((5, 16), lambda i, j: A[i, j] * 3.0, name="T")
    k = ns.reduce_axis(8, "k")
    R = ns.compute((5,), lambda i: ns.sum(T_[i, 2 * k + 1], axis=k), name="R")
    Y = ns.compute((5, 8), lambda i, j: R[i] + T_[i, 15 - 2 * j], name="Y")

    def reference(a):
        t = 3.0 * a.astype(np.float64)
        return t[:, 1::2].sum(axis=1)[:, None] + t[:, 15::-2]

    return _operator("strided_two_readers", [A], [Y], reference)


AFFINE: list[Callable[[], Operator]] = [reversed_columns, strided_pairs, offset_stencil, flipped_reduction,
                                        strided_two_readers]
OPERATORS = AFFINE + CATALOGUE

# primitives -----------------------------------------------------------------------------------
KINDS = ["split", "split", "split_nparts", "split_huge", "tile", "reorder", "fuse", "fuse", "mark",
         "compute_at", "compute_at", "compute_at", "compute_inline", "compute_inline", "compute_root",
         "cache_read", "cache_read", "cache_write"]


def _compute_stages(s) -> list:
    return [x for x in s.stages if isinstance(x.op, ComputeOp)]


def _factor(c: Chooser, extent: int, label: str) -> int:
    return c.integer(1, (extent if isinstance(extent, int) else 8) + 3, label)  # symbolic: up to 11


def step_call(c: Chooser, s, kind: str) -> tuple[str, Callable[[], object]]:
    """A call of primitive ``kind`` with arguments that fit the schedule's current loops."""
    stage = c.choice(_compute_stages(s), "stage")
    leaves = list(stage.leaves)
    axis = c.choice(leaves, "axis")
    match kind:
        case "split":
            f = _factor(c, axis.extent, "factor")
            return f"s[{stage.name}].split({axis.name}, factor={f})", lambda: stage.split(axis, factor=f)
        case "split_nparts":
            n = _factor(c, axis.extent, "nparts")
            return f"s[{stage.name}].split({axis.name}, nparts={n})", lambda: stage.split(axis, nparts=n)
        case "split_huge":
            how = c.choice(["factor", "nparts"], "huge")
            return (f"s[{stage.name}].split({axis.name}, {how}=2**62)",
                    lambda: stage.split(axis, **{how: 2**62}))
        case "tile" if len(leaves) >= 2:
            x, y = c.choice([(a, b) for a in leaves for b in leaves if a is not b], "axes")
            fx, fy = _factor(c, x.extent, "x_factor"), _factor(c, y.extent, "y_factor")
            return f"s[{stage.name}].tile({x.name}, {y.name}, {fx}, {fy})", lambda: stage.tile(x, y, fx, fy)
        case "reorder":
            order = leaves[:]
            random.Random(c.integer(0, 1000, "permutation")).shuffle(order)
            order = order[:c.integer(1, len(order), "count")]
            return f"s[{stage.name}].reorder{tuple(a.name for a in order)}", lambda: stage.reorder(*order)
        case "fuse" if len(leaves) >= 2:
            start = c.integer(0, len(leaves) - 2, "start")
            axes = leaves[start:start + c.integer(2, min(3, len(leaves) - start), "count")]
            return f"s[{stage.name}].fuse{tuple(a.name for a in axes)}", lambda: stage.fuse(*axes)
        case "mark":
            mark = c.choice(["unroll", "vectorize", "parallel"], "mark")
            return f"s[{stage.name}].{mark}({axis.name})", lambda: getattr(stage, mark)(axis)
        case "compute_at":
            parent = c.choice(s.consumers(stage.op.output) or _compute_stages(s), "consumer")
            at = c.choice(parent.leaves, "at")
            return (f"s[{stage.name}].compute_at(s[{parent.name}], {at.name})",
                    lambda: stage.compute_at(parent, at))
        case "compute_inline":
            return f"s[{stage.name}].compute_inline()", stage.compute_inline
        case "compute_root":
            return f"s[{stage.name}].compute_root()", stage.compute_root
        case "cache_read":
            return _cache_read_call(c, s)
        case "cache_write":
            scope = c.choice(["global", "local"], "scope")
            return f"s.cache_write({stage.name}, {scope!r})", lambda: s.cache_write(stage.op.output, scope)
    return step_call(c, s, "split")


def _cache_read_call(c: Chooser, s):
    read = [x for x in s.stages if s.readers(x.op.output)]
    source = c.choice(read, "tensor")
    readers = s.readers(source.op.output)
    chosen = [r for r in readers if c.integer(0, 1, f"reader {r.name}")] or readers[:1]
    scope = c.choice(["global", "shared", "local"], "scope")
    return (f"s.cache_read({source.name}, {scope!r}, {[r.name for r in chosen]})",
            lambda: s.cache_read(source.op.output, scope, chosen))


def _state(s):
    return (len(s.trace), [(x.name, list(x.leaves), x.attach, x.scope, dict(x.annotations),
                            dict(x.read_redirect), list(x.relations)) for x in s.stages])


def random_chain(c: Chooser, s, steps: int) -> list[str]:
    """Apply ``steps`` random primitives to ``s``; the calls made, each marked accepted or refused.
    A refused call must leave the schedule as it was."""
    log = []
    for _ in range(steps):
        text, call = step_call(c, s, c.choice(KINDS, "primitive"))
        before = _state(s)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call()
            log.append(text)
        except ScheduleError:
            log.append(f"{text}  # refused")
            assert _state(s) == before, f"{text} was refused but changed the schedule"
    return log


def settle(s, args, name: str) -> None:
    """A producer computed inside a loop that some of its readers still run outside of (TVM lets
    compute_at come before those readers are inlined or attached there) makes lowering refuse,
    naming it; then compute the attached stages at root, producers first, as a user would."""
    if not waiting(s):
        return
    with pytest.raises(LoweringError, match="still read it outside that loop"):
        ns.lower(s, args, name=name)
    for stage in list(s.stages):
        if isinstance(stage.attach, At):
            stage.compute_root()
    assert not waiting(s)


def check_chain(c: Chooser, steps: int, targets: Sequence[str] = ("interp",)) -> tuple[Operator, list[str]]:
    """Draw an operator and a chain of ``steps`` primitives; the result must lower and agree
    with numpy on every target."""
    op = c.choice(OPERATORS, "operator")()
    s = ns.create_schedule(op.outputs)
    log = random_chain(c, s, steps)
    settle(s, op.args, op.name)
    inputs = op.make_inputs(np.random.default_rng(0))
    want = op.reference(inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for target in targets:
            module = ns.build(s, op.args, target=target, name=op.name)
            assert_outputs_match(run_module(module, op, inputs), want)
    return op, log
