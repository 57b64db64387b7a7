"""How the printer shows a loop's range ``min..min + extent``: a constant start beside an extent
``e -/+ c`` folds to ``e + (min -/+ c)`` (a scan's steps are ``1..m``, as TVM's ``range(1, m)``),
and other forms keep the sum."""

import pytest

from tensorir.buffer import Buffer
from tensorir.dtypes import DType
from tensorir.expr import BinaryOp, Var, binary, const
from tensorir.printer import stmt_str
from tensorir.stmt import For, ForKind, Store

m, n = Var("m"), Var("n")


def _loop(lo, extent):
    t = Var("t")
    out = Buffer("B", (8,), DType.FLOAT32)
    return For(t, lo, extent, ForKind.SERIAL, Store(out, (t,), const(0.0, DType.FLOAT32)))


@pytest.mark.parametrize("lo, extent, shown", [
    (const(1), binary(BinaryOp.SUB, m, const(1)), "1..m"),
    (const(2), binary(BinaryOp.SUB, m, const(1)), "2..m + 1"),
    (const(1), binary(BinaryOp.SUB, m, const(3)), "1..m - 2"),
    (const(1), binary(BinaryOp.ADD, m, const(3)), "1..m + 4"),
    (const(1), binary(BinaryOp.SUB, binary(BinaryOp.MUL, m, n), const(1)), "1..m * n"),
    (const(0), binary(BinaryOp.SUB, m, const(1)), "0..m - 1"),
    (const(1), binary(BinaryOp.MUL, m, const(2)), "1..1 + m * 2"),
    (const(3), const(4), "3..7"),
])
def test_a_loop_range_prints_its_end_folded(lo, extent, shown):
    assert stmt_str(_loop(lo, extent)).splitlines()[0] == f"for t in {shown}:"
