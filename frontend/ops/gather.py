"""Rows of a table picked by integer ids (an embedding lookup), and its adjoint.

The forward is a gather with an index read from another tensor: ``out[n, j] = table[ids[n], j]``,
one load per element instead of a one-hot matmul. The adjoint must add up the adjoints of every
position holding the same id; done as a gather over the whole table that would cost ``rows x
positions``, so it runs in two gather-form kernels over the ids that occur: the ``n`` positions'
ids are numbered by their distinct values on the host (index bookkeeping on the integer ids,
like a loader's shuffle, with no arithmetic on values), then

- :class:`SegmentSum`: ``sums[u, j] = sum_n (slot[n] == u) * g[n, j]`` (``n x n`` work), and
- :class:`PlaceRows`: ``d_table[v, j] = sums[where[v], j]`` where the id ``v`` occurs, else 0.

No two writes meet, and each of the three ops has the others as its adjoint, so the lookup can
be differentiated twice. The ids are checked to lie inside the table before any kernel runs.
"""

from __future__ import annotations

import numpy as np

from tensorir import functions as fn
from tensorir.tensor import compute, reduce_axis

from ..data.loader import check_labels
from ..tensor import Tensor
from .base import Op
from .elementwise import mask


def _index(ids, n):
    value = ids[n]
    return value if value.dtype.value.startswith("int") else value.astype("int64")


class Gather(Op):
    """``out[n, j] = table[ids[n], j]`` (every id inside the table)."""

    name = "gather_rows"

    def compute(self, request, table, ids):
        return compute((ids.shape[0], table.shape[1]), lambda n, j: table[_index(ids, n), j], name="rows")

    def gradient(self, g, node):
        table, ids = node.inputs
        slot, where = _numbering(ids, table.shape[0])
        return PlaceRows()(SegmentSum(ids.shape[0])(g, slot), where), None


class SegmentSum(Op):
    """``out[u, j] = sum_n (ids[n] == u) * g[n, j]`` for ``u`` in ``[0, rows)``."""

    name = "segment_sum"

    def __init__(self, rows: int):
        self.rows = rows
        self.key = (self.name, rows)

    def compute(self, request, g, ids):
        n = reduce_axis(ids.shape[0], "n")
        return compute((self.rows, g.shape[1]), lambda u, j: fn.sum(
            g[n, j] * mask(_index(ids, n) == u.astype("int64"), g.dtype), axis=n), name="sums")

    def gradient(self, gg, node):
        return Gather()(gg, node.inputs[1]), None


class PlaceRows(Op):
    """``out[v, j] = x[where[v], j]`` where ``where[v] >= 0``, else 0."""

    name = "place_rows"

    def compute(self, request, x, where):
        def body(v, j):
            row = _index(where, v)
            return fn.if_then_else(row >= 0, x[fn.maximum(row, 0), j], 0.0)

        return compute((where.shape[0], x.shape[1]), body, name="placed")

    def gradient(self, gg, node):
        x, where = node.inputs
        return SegmentSum(x.shape[0])(gg, where), None


def _numbering(ids: Tensor, rows: int) -> tuple[Tensor, Tensor]:
    """``(slot, where)``: each position's number among the distinct ids (``slot[n]``), and each
    table row's number, -1 where its id does not occur (``where[v]``)."""
    distinct, slot = np.unique(ids._storage().astype(np.int64), return_inverse=True)
    where = np.full(rows, -1, dtype=np.int64)
    where[distinct] = np.arange(len(distinct), dtype=np.int64)
    return (Tensor._wrap(np.ascontiguousarray(slot.reshape(-1)), ids.device),
            Tensor._wrap(where, ids.device))


def gather_rows(table: Tensor, ids: Tensor) -> Tensor:
    """The rows ``table[ids[n]]`` of a 2-D ``table`` for 1-D integer ``ids`` (whole-number floats
    are accepted, as needle stores ids); raises DataError for an id outside ``[0, rows)``."""
    check_labels("gather_rows", ids.numpy(), table.shape[0])
    return Gather()(table, ids)
