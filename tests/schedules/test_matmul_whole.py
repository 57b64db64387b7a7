"""The whole-reduction CPU matmul (``b3=None``, the frontend's form) at column counts off its
register tile (schedules/templates/matmul_whole.py): exact against numpy at odd sizes, static or
symbolic, and no column guard inside the register tile, only in its write-back to C."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from schedules import templates
from tensorir.stmt import Allocate, For, IfThenElse, Seq, Store

from .helpers import vector_loops

#: the frontend's knobs for a whole-k product of more than 256 columns (MatMul.default_config)
WHOLE = {"v1": 8, "v2": 32, "v3": 4, "b1": 64, "b2": 128, "b3": None, "pack_b": True}


def _operands(m: int, n: int, k: int, transpose_b: bool, transpose_a: bool = False):
    """Small-integer float32 operands (every sum exact in float32) and numpy's product."""
    rng = np.random.default_rng(m * 7 + n * 3 + k)
    a = rng.integers(-3, 4, (m, k)).astype(np.float32)
    b = rng.integers(-3, 4, (n, k) if transpose_b else (k, n)).astype(np.float32)
    want = (a.astype(np.float64) @ (b.T if transpose_b else b).astype(np.float64)).astype(np.float32)
    return (np.ascontiguousarray(a.T) if transpose_a else a), b, want


def _run(module, m: int, n: int, k: int, transpose_b: bool, transpose_a: bool = False) -> None:
    a, b, want = _operands(m, n, k, transpose_b, transpose_a)
    c = np.full((m, n), np.nan, np.float32)
    module(a, b, c)
    np.testing.assert_array_equal(c, want)


@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("n", [33, 300, 1000])
def test_symbolic_rows_are_exact_at_every_batch(n, transpose_b):
    s, args = templates.matmul_cpu(ns.size_var("M"), n, 37, transpose_b=transpose_b, parallel=False, **WHOLE)
    module = ns.build(s, args, target="llvm")
    for m in (1, 7, 8, 9, 65, 130):
        _run(module, m, n, 37, transpose_b)


def test_symbolic_columns_static_rows_and_a_transposed_a_are_exact():
    module = ns.build(*templates.matmul_cpu(ns.size_var("M"), ns.size_var("N"), 23, transpose_b=False, **WHOLE),
                      target="llvm")
    for m, n in ((1, 1), (7, 31), (9, 33), (70, 300), (3, 257)):
        _run(module, m, n, 23, False)
    static = ns.build(*templates.matmul_cpu(70, 257, 19, transpose_b=False, parallel=True, **WHOLE), target="llvm")
    _run(static, 70, 257, 19, False)
    transposed = ns.build(*templates.matmul_cpu(ns.size_var("M"), 100, 19, transpose_b=False, transpose_a=True,
                                                **WHOLE), target="llvm")
    for m in (1, 9, 64, 65):
        _run(transposed, m, 100, 19, False, transpose_a=True)


def _stores(stmt, conditions: tuple = ()) -> list[tuple[str, str, tuple]]:
    """``(buffer, value, enclosing if conditions)`` for every store in ``stmt``."""
    match stmt:
        case For(body=body) | Allocate(body=body):
            return _stores(body, conditions)
        case Seq(stmts=stmts):
            return [found for item in stmts for found in _stores(item, conditions)]
        case IfThenElse(cond=cond, then_body=then_body, else_body=else_body):
            inner = conditions + (str(cond),)
            return _stores(then_body, inner) + (_stores(else_body, inner) if else_body is not None else [])
        case Store(buffer=buffer, value=value):
            return [(buffer.name, str(value), conditions)]
    return []




@pytest.mark.parametrize("n", [1000, 300, ns.size_var("N")])
def test_no_column_guard_in_the_register_tile(n):
    """The finding this fixes: the frontend's form at 1000 columns kept ``j < 1000`` inside the
    vector loop of every register tile's reduction. Now the tile's updates are guarded only by
    the rows of the symbolic M's last partial tile, and only the copy to C checks the columns."""
    func = ns.lower(*templates.matmul_cpu(ns.size_var("M"), n, 784, transpose_b=False, parallel=False, **WHOLE))
    stores = _stores(func.body)
    updates = [conds for buffer, value, conds in stores if buffer == "C.local" and "C.local" in value]
    assert updates and any(not conds for conds in updates)  # the whole row tiles: no guard at all
    assert all(cond.endswith("< M") for conds in updates for cond in conds)  # the last row tile's rows
    written = [conds for buffer, _, conds in stores if buffer == "C"]
    guarded = [any(cond.endswith(f"< {n}") for cond in conds) for conds in written]
    # the copy to C checks the columns (a symbolic N's whole column tiles peeled off unguarded)
    assert any(guarded) and (all(guarded) or not isinstance(n, int))
    assert "B.packed" in str(func) and vector_loops(func.body) >= 4


def test_columns_on_the_register_tile_or_an_unpacked_b_keep_the_plain_nest():
    """1024 columns need no padding (no C.local stage of its own, nor a column guard); an
    unpacked B (the frontend's form up to 256 columns) keeps the plain nest, guard included."""
    for n, knobs in ((1024, WHOLE), (100, {**WHOLE, "pack_b": False})):
        func = ns.lower(*templates.matmul_cpu(ns.size_var("M"), n, 64, transpose_b=False, **knobs))
        updates = [conds for buffer, value, conds in _stores(func.body) if buffer == "C.local" and "C.local" in value]
        column_guards = {cond for conds in updates for cond in conds if not cond.endswith("< M")}
        assert updates and all(cond.endswith(f"< {n}") for cond in column_guards)
        assert bool(column_guards) == (n % 32 != 0)
