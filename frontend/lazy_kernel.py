"""The general elementwise fuser: a group of pending elementwise ops as one compute definition.

A group (:func:`frontend.lazy_graph.realize`) is a DAG of elementwise ops over realized *leaves*.
Each op's scalar body is inlined into its users, so an output of the group is one expression
of leaf loads. Broadcasting needs no intermediate index maps: along every axis a member's extent
is either its output's or 1, so a leaf is read at the output's index with 0 on the axes where
the leaf has extent 1, whatever path leads to it.

The kernel request is the group's canonical form, never names or ids:

* ``params``: the ops' keys in topological order, each with its operands as positions (leaves
  first, then the ops), and the positions of the outputs;
* ``shapes``/``dtypes``: the leaves' canonical shapes and dtypes. As for single elementwise ops
  (:func:`frontend.ops.elementwise._plan`), output axes of extent 1 are dropped and adjacent axes
  that every leaf and output broadcasts alike are merged;
* ``variant``: the outputs' canonical shapes.

Two groups of the same structure built at different times, by different models, share one
compiled kernel; the leading canonical axis is made symbolic (:mod:`frontend.symbatch`), so
another batch size compiles nothing. Outputs of one shape share one loop nest.
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
        nodes, outputs = request.params
        by_shape: dict[tuple, list[int]] = {}
        for position, shape in zip(outputs, request.variant):
            by_shape.setdefault(shape, []).append(position)
        found = {}
        for shape, positions in by_shape.items():
            tensors = compute(shape, self._body(leaves, positions), name="fused")
            tensors = tensors if isinstance(tensors, list) else [tensors]
            found.update(zip(positions, tensors))
        return tuple(found[position] for position in outputs)

    def _body(self, leaves, positions: list[int]):
        ops, count = self.ops, len(leaves)
        operands = [refs for _, refs in self.nodes]

        def body(*idx):
            values: dict[int, object] = {}

            def value(ref: int):
                if ref < count:
                    leaf = leaves[ref]
                    return leaf[tuple(0 if isinstance(n, int) and n == 1 else i for i, n in zip(idx, leaf.shape))]
                found = values.get(ref)
                if found is None:
                    node = ref - count
                    found = values[ref] = ops[node].scalar(*(value(r) for r in operands[node]))
                return found

            results = tuple(value(count + position) for position in positions)
            return results if len(results) > 1 else results[0]

        return body

    def schedule(self, request, s, outputs, config):
        done = set()
        for out in outputs:  # outputs of one shape share a stage: schedule it once
            stage = s[out]
            if id(stage) not in done:
                done.add(id(stage))
                super().schedule(request, s, [out], config)


def run_group(members: list, leaves: list, outputs: list[int]) -> list[np.ndarray]:
    """Run the group ``members`` (pending tensors, inputs first) over the realized ``leaves`` as one
    kernel; the arrays of the members at ``outputs``, in that order."""
    count = len(leaves)
    index = {id(t): n for n, t in enumerate(leaves)}
    for n, t in enumerate(members):
        index[id(t)] = count + n
    nodes = tuple([(t._lazy.op.key, tuple([index[id(s)] for s in t._lazy.inputs])) for t in members])
    arrays = [t._data for t in leaves]
    if not all(a.flags.c_contiguous for a in arrays):  # broadcast views stay broadcast, others compact
        arrays = [a if a.flags.c_contiguous else contiguous(_unbroadcast_view(a)) for a in arrays]
    shapes = tuple([t._data.shape for t in leaves])
    stored = tuple([a.shape for a in arrays])
    out_shapes = tuple([members[n]._lazy.shape for n in outputs])
    signature = ("fused", nodes, tuple(outputs), shapes, stored, tuple([a.dtype for a in arrays]))
    memo = dispatch.cache.requests
    plan = memo.get(signature)
    if plan is None:
        plan = memo[signature] = _request(nodes, tuple(outputs), shapes, stored, out_shapes, arrays)
    canon_in, request = plan
    op = FusedElementwise([t._lazy.op for t in members], nodes, tuple(outputs))
    outs = dispatch.cache.run(op, request, [a.reshape(shape) for a, shape in zip(arrays, canon_in)])
    return [out.reshape(shape) for out, shape in zip(outs, out_shapes)]


def _request(nodes, outputs, shapes, stored, out_shapes, arrays) -> tuple:
    """``(canonical leaf shapes, kernel request)`` of a group (see the module's docstring)."""
    root = out_shapes[-1]
    _, canon, _ = _plan("fused", (root, *shapes, *out_shapes), (root, *stored, *out_shapes))
    count = len(shapes)
    canon_in, canon_out = canon[1:1 + count], canon[1 + count:]
    dtypes = tuple(a.dtype.name for a in arrays)
    return canon_in, KernelRequest("fused", (nodes, outputs), canon_out, canon_in, dtypes, "cpu")
