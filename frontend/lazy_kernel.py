"""The general elementwise fuser: a group of pending elementwise ops as one compute definition.

A group (:func:`frontend.lazy_graph.realize`) is a DAG of elementwise ops over realized *leaves*.
Each op's scalar body is inlined into its users, so an output of the group is one expression
of leaf loads. Broadcasting needs no intermediate index maps: along every axis a member's extent
is either its output's or 1, so a leaf is read at the output's index with 0 on the axes where
the leaf has extent 1, whatever path leads to it.

The kernel request is the group's canonical form, never names or ids:

* ``params``: the ops' keys in topological order, each with its operands as positions (``n``
  the n-th op, ``-1 - k`` the k-th leaf), and the positions of the outputs;
* ``shapes``/``dtypes``: the leaves' canonical shapes and dtypes. As for single elementwise ops
  (:func:`frontend.ops.elementwise._plan`), output axes of extent 1 are dropped and adjacent axes
  that every leaf and output broadcasts alike are merged;
* ``variant``: the outputs' canonical shapes.

Two groups of the same structure built at different times, by different models, share one
compiled kernel; the leading canonical axis is made symbolic (:mod:`frontend.symbatch`), so
another batch size compiles nothing. Each output is one loop nest of the kernel; a later output
reads the earlier ones it depends on instead of computing them again.
"""

from __future__ import annotations

import numpy as np

from tensorir.tensor import compute

from . import dispatch
from .ops.base import Op, contiguous
from .ops.elementwise import _plan, _unbroadcast_view
from .request import KernelRequest


class FusedElementwise(Op):
    """The ops of a group, applied as one kernel; ``ops`` in topological order, ``key`` the
    group's structure (``("fused", nodes, outputs)``)."""

    name = "fused"

    def __init__(self, ops: list, nodes: tuple, outputs: tuple[int, ...]):
        self.ops, self.nodes, self.outputs = ops, nodes, outputs
        self.key = (self.name, nodes, outputs)

    def compute(self, request: KernelRequest, *leaves):
        """One stage per output, in topological order; an output's expression inlines every op
        of the group back to the leaves and to the outputs computed before it (read, not
        recomputed)."""
        nodes, outputs = request.params
        operands = [refs for _, refs in nodes]
        stored: dict[int, object] = {}  # member -> its output stage, for later outputs to load
        for position, shape in zip(outputs, request.variant):
            stored[position] = compute(shape, self._body(leaves, operands, stored, position),
                                       name=f"fused{position}")
        return tuple(stored[position] for position in outputs)

    def _body(self, leaves, operands, stored: dict, root: int):
        ops = self.ops
        known = dict(stored)

        def body(*idx):
            values: dict[int, object] = {}

            def value(ref: int):
                found = values.get(ref)
                if found is not None:
                    return found
                source = leaves[-1 - ref] if ref < 0 else known.get(ref)
                if source is not None:  # a leaf or an earlier output: load, 0 along its broadcast axes
                    found = source[tuple(0 if isinstance(n, int) and n == 1 else i for i, n in zip(idx, source.shape))]
                else:
                    found = ops[ref].scalar(*(value(r) for r in operands[ref]))
                values[ref] = found
                return found

            return value(root)

        return body


def run_group(group, outputs: list[int]) -> list[np.ndarray]:
    """Run ``group`` (a :class:`frontend.lazy_graph.Group`) as one kernel; the arrays of its
    members at ``outputs``, in that order."""
    members = group.members
    nodes = tuple(group.nodes)
    arrays = [t._data for t in group.leaves]
    shapes = tuple([a.shape for a in arrays])
    if not all(a.flags.c_contiguous for a in arrays):  # broadcast views stay broadcast, others compact
        arrays = [a if a.flags.c_contiguous else contiguous(_unbroadcast_view(a)) for a in arrays]
    stored = tuple([a.shape for a in arrays])
    signature = ("fused", nodes, tuple(outputs), shapes, stored, tuple([a.dtype for a in arrays]))
    memo = dispatch.cache.requests
    plan = memo.get(signature)
    if plan is None:
        out_shapes = tuple([members[n]._lazy.shape for n in outputs])
        plan = memo[signature] = (*_request(nodes, tuple(outputs), shapes, stored, out_shapes, arrays), out_shapes)
    canon_in, request, out_shapes = plan
    kernel = dispatch.cache.kernels.get(request)
    arrays = [a.reshape(shape) for a, shape in zip(arrays, canon_in)]
    if kernel is not None:
        outs = kernel(arrays)
    else:
        op = FusedElementwise([t._lazy.op for t in members], nodes, tuple(outputs))
        outs = dispatch.cache.run(op, request, arrays)
    return [out.reshape(shape) for out, shape in zip(outs, out_shapes)]


def _request(nodes, outputs, shapes, stored, out_shapes, arrays) -> tuple:
    """``(canonical leaf shapes, kernel request)`` of a group (see the module's docstring)."""
    root = out_shapes[-1]
    _, canon, _ = _plan("fused", (root, *shapes, *out_shapes), (root, *stored, *out_shapes))
    count = len(shapes)
    canon_in, canon_out = canon[1:1 + count], canon[1 + count:]
    dtypes = tuple(a.dtype.name for a in arrays)
    return canon_in, KernelRequest("fused", (nodes, outputs), canon_out, canon_in, dtypes, "cpu")
