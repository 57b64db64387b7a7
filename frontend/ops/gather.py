"""Rows of a table picked by integer ids (an embedding lookup), and its adjoint.

The forward is a gather with an index read from another tensor: ``out[n, j] = table[ids[n], j]``,
one load per element instead of a one-hot matmul. The adjoint sums the output adjoints of every
position holding an id: ``d_table[v, j] = sum_n (ids[n] == v) * g[n, j]``, a gather-form
reduction (no scatter, so no two writes meet). The ids are checked to lie inside the table before
any kernel runs: an id outside it would read outside the table.
"""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.tensor import compute, reduce_axis

from ..data.loader import check_labels
from ..tensor import Tensor
from .base import Op
from .elementwise import mask


def _id(ids, n):
    value = ids[n]
    return value if value.dtype.value.startswith("int") else value.astype("int64")


class Gather(Op):
    """``out[n, j] = table[ids[n], j]``."""

    name = "gather_rows"

    def compute(self, request, table, ids):
        return compute((ids.shape[0], table.shape[1]), lambda n, j: table[_id(ids, n), j], name="rows")

    def gradient(self, g, node):
        table, ids = node.inputs
        return GatherBackward(table.shape[0])(g, ids), None


class GatherBackward(Op):
    """``d_table[v, j] = sum_n (ids[n] == v) * g[n, j]``."""

    name = "gather_rows_backward"

    def __init__(self, rows: int):
        self.rows = rows
        self.key = (self.name, rows)

    def compute(self, request, g, ids):
        n = reduce_axis(ids.shape[0], "n")
        return compute((self.rows, g.shape[1]), lambda v, j: fn.sum(
            g[n, j] * mask(_id(ids, n) == v.astype("int64"), g.dtype), axis=n), name="d_table")

    def gradient(self, gg, node):
        _, ids = node.inputs
        return Gather()(gg, ids), None


def gather_rows(table: Tensor, ids: Tensor) -> Tensor:
    """The rows ``table[ids[n]]`` of a 2-D ``table`` for 1-D integer ``ids`` (whole-number floats
    are accepted, as needle stores ids); raises DataError for an id outside ``[0, rows)``."""
    check_labels("gather_rows", ids.numpy(), table.shape[0])
    return Gather()(table, ids)
