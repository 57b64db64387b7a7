"""The general elementwise fuser: a group of pending elementwise ops as one compute definition.

A group (:func:`frontend.lazy_graph.realize`) is a DAG of elementwise ops over realized *leaves*.
Each op's scalar body is inlined into its users, so an output of the group is one expression
of leaf loads. Broadcasting needs no intermediate index maps: along every axis a member's extent
is either its output's or 1, so a leaf is read at the output's index with 0 on the axes where
the leaf has extent 1, whatever path leads to it.

The kernel request is the group's canonical form, never names or ids:

* ``params``: the ops' keys in topological order, each with its operands as positions (``n``
  the n-th op, ``-1 - k`` the k-th leaf), the positions of the outputs, and the strides of the
  leaves read as strided views;
* ``shapes``/``dtypes``: the leaves' canonical shapes and dtypes. As for single elementwise ops
  (:func:`frontend.ops.elementwise._plan`), output axes of extent 1 are dropped and adjacent axes
  that every leaf and output broadcasts alike are merged;
* ``variant``: the outputs' canonical shapes.

A leaf that is a strided view (a slice, a transpose) is read in place, through its strides
(also in ``params``), instead of being copied by a compaction kernel first; its axes are then
not merged.

Two groups of the same structure built at different times, by different models, share one
compiled kernel; the leading canonical axis is made symbolic (:mod:`frontend.symbatch`), so
another batch size compiles nothing. Each output is one loop nest of the kernel; a later output
reads the earlier ones it depends on instead of computing them again.
"""

from __future__ import annotations

import numpy as np

from tensorir.tensor import compute

from . import dispatch
from .ops.base import Op, _dot, contiguous
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
        """One stage per output and per reduction of the group (:mod:`frontend.lazy_reduce`), in
        topological order; a stage's expression inlines every elementwise op of the group back
        to the leaves and to the stages computed before it (read, not recomputed)."""
        nodes, outputs, layouts = request.params
        operands = [refs for _, refs in nodes]
        strides = dict(layouts)
        reductions = [n for n, op in enumerate(self.ops) if op.reduces]
        shapes = dict(zip(outputs, request.variant))
        shapes.update(zip(reductions, request.variant[len(outputs):]))
        space = request.variant[len(outputs) - 1]
        stored: dict[int, object] = {}  # member -> its stage, for later stages to load
        for position in sorted(shapes):
            if position in reductions:
                from .lazy_reduce import reduction_stage

                inner = self._body(leaves, strides, operands, stored, operands[position][0])
                stored[position] = reduction_stage(nodes[position][0][0], inner, shapes[position], space,
                                                   f"reduce{position}")
            else:
                stored[position] = compute(shapes[position],
                                           self._body(leaves, strides, operands, stored, position),
                                           name=f"fused{position}")
        return tuple(stored[position] for position in outputs)

    def schedule(self, request, s, outputs, config):
        """Reduction stages as fused reductions are scheduled, every other stage generic."""
        if not any(op.reduces for op in self.ops):
            return super().schedule(request, s, outputs, config)
        from .lazy_reduce import schedule_stages

        schedule_stages(s, config)

    def _body(self, leaves, strides: dict, operands, stored: dict, root: int):
        ops = self.ops
        known = dict(stored)

        def body(*idx):
            values: dict[int, object] = {}

            def value(ref: int):
                found = values.get(ref)
                if found is not None:
                    return found
                source = leaves[-1 - ref] if ref < 0 else known.get(ref)
                if ref < 0 and -1 - ref in strides:  # a strided view: its memory, through its strides
                    found = source[_dot(idx, strides[-1 - ref])]
                elif source is not None:  # a leaf or an earlier output: load, 0 along its broadcast axes
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
    strides = ()
    if not all(a.flags.c_contiguous for a in arrays):  # broadcast views stay broadcast, strided ones are read
        arrays = [a if a.flags.c_contiguous else _readable(_unbroadcast_view(a)) for a in arrays]
        strides = tuple([None if a.flags.c_contiguous else a.strides for a in arrays])
    stored = tuple([a.shape for a in arrays])
    signature = ("fused", nodes, tuple(outputs), shapes, stored, strides, tuple([a.dtype for a in arrays]))
    memo = dispatch.cache.requests
    plan = memo.get(signature)
    if plan is None:
        out_shapes = tuple([members[n]._lazy.shape for n in outputs])
        reduced = tuple([t._lazy.inputs[0].shape, t._lazy.op.axes] for t in members if t._lazy.op.reduces)
        reduced = tuple(tuple(1 if axis in axes else n for axis, n in enumerate(space)) for space, axes in reduced)
        plan = memo[signature] = (*_request(nodes, tuple(outputs), shapes, stored, out_shapes, arrays, strides,
                                            reduced), out_shapes)
    canon_in, request, out_shapes = plan
    arrays = [_flat(a) if strides and strides[k] is not None else a.reshape(shape)
              for k, (a, shape) in enumerate(zip(arrays, canon_in))]
    outs = launch(request, arrays, lambda: FusedElementwise([t._lazy.op for t in members], nodes, tuple(outputs)))
    return [out.reshape(shape) for out, shape in zip(outs, out_shapes)]


def launch(request, arrays: list[np.ndarray], make_op) -> list[np.ndarray]:
    """Run the fused kernel of ``request``; its op (``make_op()``) is built only to compile it."""
    kernel = dispatch.cache.kernels.get(request)
    return kernel(arrays) if kernel is not None else dispatch.cache.run(make_op(), request, arrays)


def _readable(array: np.ndarray) -> np.ndarray:
    """``array`` as the kernel can read it in place (contiguous, or strided with positive
    strides), else a compact copy."""
    if array.flags.c_contiguous or (array.size and all(s > 0 for s in array.strides)):
        return array
    return contiguous(array)


def _flat(array: np.ndarray) -> np.ndarray:
    """The memory a strided view spans, as a flat array from its first element."""
    span = 1 + sum((n - 1) * s for n, s in zip(array.shape, array.strides)) // array.itemsize
    return np.lib.stride_tricks.as_strided(array, shape=(span,), strides=(array.itemsize,))


def _request(nodes, outputs, shapes, stored, out_shapes, arrays, strides, reduced=()) -> tuple:
    """``(canonical leaf shapes, kernel request)`` of a group (see the module's docstring); the
    shapes of the reduction stages (``reduced``: the root's, 1 along the reduced axes) follow
    the outputs' in the variant."""
    root = out_shapes[-1]
    count = len(shapes)
    dtypes = tuple(a.dtype.name for a in arrays)
    out_shapes = (*out_shapes, *reduced)
    if not any(strides):
        _, canon, _ = _plan("fused", (root, *shapes, *out_shapes), (root, *stored, *out_shapes))
        canon_in, canon_out = canon[1:1 + count], canon[1 + count:]
        return canon_in, KernelRequest("fused", (nodes, outputs, ()), canon_out, canon_in, dtypes, "cpu")
    # a strided leaf is read in place through its strides: no axes merged, extent-1 output axes dropped
    kept = [axis for axis, n in enumerate(root) if n != 1]

    def canonical(shape):
        aligned = (1,) * (len(root) - len(shape)) + tuple(shape)
        return tuple(aligned[axis] for axis in kept) or (1,)

    canon_in, layouts = [], []
    for k, (shape, array, layout) in enumerate(zip(stored, arrays, strides)):
        if layout is None:
            canon_in.append(canonical(shape))
            continue
        aligned = (0,) * (len(root) - len(shape)) + tuple(s // array.itemsize if n != 1 else 0
                                                          for n, s in zip(shape, layout))
        layouts.append((k, tuple(aligned[axis] for axis in kept) or (0,)))
        canon_in.append((_flat(array).shape[0],))
    canon_out = tuple(canonical(shape) for shape in out_shapes)
    return tuple(canon_in), KernelRequest("fused", (nodes, outputs, tuple(layouts)), canon_out, tuple(canon_in),
                                          dtypes, "cpu")
