"""The CPU matmul template built for sizes known only at run time: one kernel for every size,
exact against numpy at sizes below a tile and off the register tile, no guard in its register
tile, and run-time sizes its build cannot take refused at the call."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from schedules import templates
from tensorir.errors import ArgumentError
from tensorir.stmt import Allocate, For, IfThenElse, Seq, Store

from .helpers import vector_loops

#: run-time sizes: 1, below the 8x32 register tile, off it, a tile and one more, and large
SIZES = (1, 5, 8, 31, 33, 256, 257)


def _sizes(form: str, m: int, n: int, k: int):
    """``(m, n, k)`` with the letters of ``form`` (``"M"``, ``"NK"``, ...) made size variables."""
    return tuple(ns.size_var(name) if name in form else size for name, size in zip("MNK", (m, n, k)))


def _operands(m: int, n: int, k: int, transpose_b: bool, seed: int = 0):
    """Small-integer float32 operands: every product and sum is exact in float32, so the kernel
    must equal numpy's float64 product exactly."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-3, 4, (m, k)).astype(np.float32)
    b = rng.integers(-3, 4, (n, k) if transpose_b else (k, n)).astype(np.float32)
    want = a.astype(np.float64) @ (b.T if transpose_b else b).astype(np.float64)
    return a, b, want


def _check(module, m: int, n: int, k: int, transpose_b: bool) -> None:
    a, b, want = _operands(m, n, k, transpose_b, seed=m * 7 + n * 3 + k)
    c = np.full((m, n), np.nan, np.float32)
    module(a, b, c)
    np.testing.assert_array_equal(c, want.astype(np.float32))


@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("form", ["M", "N", "K"])
def test_one_symbolic_size_is_exact_at_every_run_time_size(form, transpose_b):
    module = ns.build(*templates.matmul_cpu(*_sizes(form, 40, 48, 37), transpose_b=transpose_b), target="llvm")
    for size in SIZES:
        m, n, k = (size if name in form else fixed for name, fixed in zip("MNK", (40, 48, 37)))
        _check(module, m, n, k, transpose_b)


@pytest.mark.parametrize("m, n, k", [(1, 1, 1), (1, 33, 7), (7, 1, 300), (33, 257, 1), (257, 31, 1023),
                                     (1000, 40, 12), (9, 1000, 64), (4096, 64, 3)])
def test_all_sizes_symbolic(m, n, k):
    _check(_module("MNK", False), m, n, k, False)


def test_all_sizes_symbolic_at_1000_and_1023():
    module = _module("MNK", False)
    for m, n, k in ((1000, 1000, 1000), (1023, 1023, 1023), (1000, 1023, 257)):
        _check(module, m, n, k, False)


_MODULES: dict = {}


def _module(form: str, transpose_b: bool):
    """One build per form for the tests that share it."""
    key = (form, transpose_b)
    if key not in _MODULES:
        _MODULES[key] = ns.build(*templates.matmul_cpu(*_sizes(form, 64, 64, 64), transpose_b=transpose_b),
                                 target="llvm")
    return _MODULES[key]


def test_symbolic_rows_on_one_thread_and_on_a_transposed_a():
    serial = ns.build(*templates.matmul_cpu(ns.size_var("M"), 45, 23, parallel=False, transpose_b=False),
                      target="llvm")
    for m in (1, 7, 8, 9, 100):
        _check(serial, m, 45, 23, False)
    s, args = templates.matmul_cpu(ns.size_var("M"), 45, 23, transpose_b=False, transpose_a=True)
    module = ns.build(s, args, target="llvm")
    for m in (1, 9, 257):
        a, b, want = _operands(m, 45, 23, False, seed=m)
        c = np.full((m, 45), np.nan, np.float32)
        module(np.ascontiguousarray(a.T), b, c)
        np.testing.assert_array_equal(c, want.astype(np.float32))


def _guarded_updates(stmt, guarded: bool = False, tail: bool = False) -> list[tuple[bool, bool]]:
    """For each store that adds to ``C.padded`` (the register tile's update): whether an ``if``
    encloses it, and whether it is in a tail the lowering peeled off a symbolic loop (a loop
    that starts at a symbolic bound: the last partial step of a symbolic k, the last partial
    row tile of a symbolic M; at most one iteration each)."""
    match stmt:
        case For(body=body):
            in_tail = tail or (stmt.var.name in ("k.outer", "i.outer") and any(v in str(stmt.min) for v in "MK"))
            return _guarded_updates(body, guarded, in_tail)
        case Allocate(body=body):
            return _guarded_updates(body, guarded, tail)
        case Seq(stmts=stmts):
            return [flag for item in stmts for flag in _guarded_updates(item, guarded, tail)]
        case IfThenElse(then_body=then_body, else_body=else_body):
            found = _guarded_updates(then_body, True, tail)
            return found + (_guarded_updates(else_body, True, tail) if else_body is not None else [])
        case Store(buffer=buffer) if buffer.name == "C.padded" and "C.padded" in str(stmt.value):
            return [(guarded, tail)]
    return []




@pytest.mark.parametrize("form", ["M", "N", "K", "MNK"])
def test_no_guard_around_the_register_tile(form):
    """The finding this fixes: built with a symbolic M at 1000 columns, the template kept the
    guarded nest, ``j < 1000`` inside its vector loop (0.15 of the static build's speed)."""
    s, args = templates.matmul_cpu(*_sizes(form, 1000, 1000, 1000), transpose_b=False)
    func = ns.lower(s, args)
    updates = _guarded_updates(func.body)
    assert any(not guarded for guarded, _ in updates)
    assert all(tail for guarded, tail in updates if guarded)  # only in the tails of symbolic M and k
    assert "checked(" not in str(func)  # a run-time subscript check would keep the tile off vectors
    assert vector_loops(func.body) >= 4


def test_a_symbolic_reduction_reads_a_as_stored_in_whole_steps_then_its_last_partial_step():
    text = str(ns.lower(*templates.matmul_cpu(64, 64, ns.size_var("K"), transpose_b=False)))
    assert "A.packed" not in text and "B.packed: float32[1, K, 32]" in text
    assert "      for k.outer in 0..K // 4:\n        unrolled for k.inner in 0..4:\n" in text
    assert ("      for k.outer in K // 4..(K - 1) // 4 + 1:\n        unrolled for k.inner in 0..4:\n"
            "          if k.outer * 4 + k.inner < K:\n") in text


def test_last_partial_chunk_of_a_symbolic_reduction_in_larger_tiles_is_a_shorter_loop():
    s, args = templates.matmul_cpu(64, 64, ns.size_var("K"), v1=8, v2=32, v3=4, b1=16, b2=32, b3=64,
                                   transpose_b=False)
    text = str(ns.lower(s, args))
    assert "for k.outer.inner in 0..min(16, max((K - 1) // 4 + 1 - k.outer.outer * 16, 0)):" in text
    module = ns.build(s, args, target="llvm")
    for k in (1, 3, 64, 65, 130):
        _check(module, 64, 64, k, False)


def test_a_declared_divisor_drops_the_padding_of_that_size():
    s, args = templates.matmul_cpu(ns.size_var("M", divisor=8), 64, 64, transpose_b=False)
    text = str(ns.lower(s, args))
    assert "C.padded" not in text and "if " not in text  # whole row tiles: the plain nest, no guard
    module = ns.build(s, args, target="llvm")
    _check(module, 24, 64, 64, False)


def test_zero_size_is_refused_at_the_call():
    module = _module("MNK", False)
    a, b = np.ones((0, 5), np.float32), np.ones((5, 3), np.float32)
    with pytest.raises(ArgumentError, match=r"dimension 0 of A, M, is 0 when M=0, K=5, N=3; every dimension "
                                            r"must be at least 1, so pass larger arrays"):
        module(a, b, np.empty((0, 3), np.float32))


def test_run_time_sizes_that_break_the_build_are_refused():
    module = ns.build(*templates.matmul_cpu(ns.size_var("M", divisor=8), 64, 64, transpose_b=False), target="llvm")
    a, b = np.ones((12, 64), np.float32), np.ones((64, 64), np.float32)
    with pytest.raises(ArgumentError, match="the size_var M is 12, not a multiple of its declared divisor 8; "
                                            "pass a size that 8 divides"):
        module(a, b, np.empty((12, 64), np.float32))
    with pytest.raises(ArgumentError, match=r"argument 1 \(B\) must have shape \[64, 64\], got \[63, 64\]"):
        module(np.ones((8, 64), np.float32), np.ones((63, 64), np.float32), np.empty((8, 64), np.float32))


def test_operands_that_disagree_on_a_size_are_refused():
    module = _module("MNK", False)
    a, b = np.ones((5, 7), np.float32), np.ones((7, 3), np.float32)
    with pytest.raises(ArgumentError, match=r"the size variable M is 5 from A \(dimension 0\) but 6 from C "
                                            r"\(dimension 0\); pass arrays whose shapes agree on M"):
        module(a, b, np.empty((6, 3), np.float32))
    with pytest.raises(ArgumentError, match=r"the size variable K is 7 from A \(dimension 1\) but 8 from B"):
        module(a, np.ones((8, 3), np.float32), np.empty((5, 3), np.float32))


def test_static_sizes_beside_a_symbolic_one_get_the_plain_call_choices():
    from schedules.templates.matmul_threads import _static_parts

    given = {"b3": 64, "edge": "pad", "parallel": True}
    chosen = _static_parts((ns.size_var("M"), 1025, 513), given, knobs=False)
    assert chosen == {"v3": 3, "b3": 57}  # steps of 3 in chunks of 57 divide 513: A read as stored
    assert _static_parts((ns.size_var("M"), 1025, 513), given, knobs=True) == {}
    assert _static_parts((ns.size_var("M"), ns.size_var("N"), ns.size_var("K")), given, knobs=False) == {}
    module = ns.build(*templates.matmul_cpu(ns.size_var("M"), 1025, 513, transpose_b=False), target="llvm")
    for m in (1, 13, 100):
        _check(module, m, 1025, 513, False)


@pytest.mark.parametrize("form", ["M", "MNK"])
def test_the_interpreter_runs_the_symbolic_nest_exactly(form):
    """The interpreter is the executable semantics: the padded nest, the guarded last row tile
    and the last partial step included, must mean the product there too."""
    module = ns.build(*templates.matmul_cpu(*_sizes(form, 9, 20, 20), transpose_b=False), target="interp")
    for m, n, k in ((3, 20, 20), (9, 20, 20)) if form == "M" else ((9, 33, 5), (1, 1, 1)):
        _check(module, m, n, k, False)
