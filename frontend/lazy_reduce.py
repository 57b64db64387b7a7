"""Reductions fused with their elementwise producers: ``out[i] = sum(f(a[i, k], b[k], ...), k)``.

On the CPU, ``sum``, ``max`` and ``mean`` are pending nodes of the lazy graph
(:mod:`frontend.lazy_graph`) like the elementwise ops. When a pending reduction is realized and
its input is a pending elementwise group, the group is inlined into the reduction's body and the
whole runs as ONE kernel: ``(out * out).sum()``, ``((y - t) ** 2).mean()`` and
``(x - m).exp().sum(axis)`` cost one launch instead of two. A reduction of a realized tensor
runs its own kernel, as when applied eagerly.

Members of the group that are still needed elsewhere (referenced from outside the group, or
kept for a gradient: ``max``'s gradient reads its input) are stored as extra outputs of the same
kernel, each its own loop nest before the reduction's, which then reads them instead of
computing them again.

A pending reduction read by elementwise ops of the shape it reduces (with ``keepdims``, or over
the leading axes, so that its output broadcasts against them axis by axis) becomes a *stage* of
their group's kernel (:class:`frontend.lazy_kernel.FusedElementwise`): ``x - x.sum(1,
keepdims=True) / n`` and a whole softmax ``e / e.sum(1, keepdims=True)`` with ``e = (x -
x.max(1, keepdims=True)).exp()`` are one kernel, one loop nest per reduction, then the
elementwise one reading them. Any other pending reduction is realized first and read as a
leaf (``(x * x).sum(1).sum()`` is two kernels), and a group whose root is a reduction realizes
the reductions inside it first (``(x - x.max(1, keepdims=True)).exp().sum(1)``: the max, then
the rest).

The kernel request is the group's canonical form: ``params`` the ops' keys in topological order
with their operand positions (the reduction last) and the positions of the outputs;
``variant`` the canonical shape of the reduction's input (the *space*), the kinds (``K`` kept,
``R`` reduced) of its axes and the canonical shapes of the extra outputs; ``shapes`` the
leaves'. As for one reduction (:func:`frontend.ops.reduce._plan`) and one broadcast
(:func:`frontend.ops.elementwise._plan`), extent-1 axes are dropped and adjacent axes merged
where every leaf broadcasts alike and both are kept or both reduced; so the axes and
``keepdims`` of the reduction enter the request only as the kinds (equal kinds share a kernel),
and the call's plan is memoised under the axes and ``keepdims``. The leading axis of the space
is the symbolic batch (:mod:`frontend.symbatch`), kept or reduced.
"""

from __future__ import annotations

import numpy as np

from schedules.templates.generic_cpu import VECTOR, generic, innermost_vector, reduce_in_lanes
from tensorir import functions as fn
from tensorir.expr import ReduceOp
from tensorir.tensor import compute, reduce_axis

from . import dispatch
from .lazy_kernel import FusedElementwise, launch
from .ops.averages import _reciprocal
from .ops.base import Op, contiguous
from .ops.elementwise import _plan, _unbroadcast_view
from .request import KernelRequest

#: the reducer of each reduction the lazy graph fuses (``mean`` sums, then scales)
REDUCERS = {"sum": fn.sum, "max": fn.max, "mean": fn.sum}


class FusedReduction(Op):
    """A reduction (the group's last member) over an elementwise group, as one kernel; ``ops`` in
    topological order, ``key`` the group's structure (``("fused_reduce", nodes, outputs)``)."""

    name = "fused_reduce"

    def __init__(self, ops: list, nodes: tuple, outputs: tuple[int, ...]):
        self.ops, self.nodes, self.outputs = ops, nodes, outputs
        self.key = (self.name, nodes, outputs)

    def compute(self, request: KernelRequest, *leaves):
        """The extra outputs (elementwise, over their canonical shapes), then the reduction of
        the inlined group over the space's ``R`` axes."""
        nodes, outputs = request.params
        space, kinds, extra_shapes = request.variant
        operands = [refs for _, refs in nodes]
        bodies = FusedElementwise(self.ops, nodes, outputs)
        stored: dict[int, object] = {}
        for position, shape in zip(outputs[:-1], extra_shapes):
            stored[position] = compute(shape, bodies._body(leaves, {}, operands, stored, position),
                                       name=f"fused{position}")
        kind, (source,) = nodes[-1][0][0], operands[-1]
        inner = bodies._body(leaves, {}, operands, stored, source)
        total = _reduce(inner, space, kinds, REDUCERS[kind], f"fused_{kind}")
        if kind == "mean":
            scale = _reciprocal([n for n, k in zip(space, kinds) if k == "R"], total.dtype)
            total = compute(total.shape, lambda *i: total[i] * scale, name="fused_mean_scale")
        return (*(stored[position] for position in outputs[:-1]), total)

    def schedule(self, request, s, outputs, config):
        """Extra outputs as elementwise maps; the reduction as :class:`~frontend.ops.reduce.
        Reduction` schedules it (the innermost kept axis in vectors, reductions outside it)."""
        _, kinds, _ = request.variant
        *extras, final = outputs
        for out in extras:
            generic(s, out, config)
        total = final.op.inputs[0] if request.params[0][-1][0][0] == "mean" else final
        _schedule_reduction(s, total, kinds, config)
        if total is not final:
            generic(s, final, {})


def _schedule_reduction(s, total, kinds, config: dict) -> None:
    """The kept inner axis in vectors (reductions outside it); a sum over the inner axis in
    vector lanes where :func:`~schedules.templates.generic_cpu.reduce_in_lanes` applies (LLVM
    vectorizes a maximum by itself, and the lanes' buffer made it slower: 47 against 14 us on
    128x1024; it keeps a sum's order, so a sum stays one scalar chain without them)."""
    vector = config.get("vector", VECTOR)
    if kinds[-1] == "K" and "R" in kinds:
        innermost_vector(s, total, vector)
    elif not (kinds[-1] == "R" and total.op.body.op is ReduceOp.SUM and reduce_in_lanes(s, total, vector)):
        generic(s, total, config)


def reduction_stage(kind: str, inner, shape: tuple, space: tuple, name: str):
    """A reduction as a stage of an elementwise group's kernel (:mod:`frontend.lazy_kernel`):
    ``shape`` is the group's ``space`` with 1 along the reduced axes, ``inner(*index)`` the
    reduced expression over the space."""
    raxes = {d: reduce_axis(m, f"{name}_r{d}") for d, (n, m) in enumerate(zip(shape, space))
             if isinstance(n, int) and n == 1 and not (isinstance(m, int) and m == 1)}
    reducer = REDUCERS[kind]

    def body(*idx):
        value = inner(*(raxes[d] if d in raxes else i for d, i in enumerate(idx)))
        return reducer(value, axis=list(raxes.values())) if raxes else value

    total = compute(tuple(shape), body, name=name)
    if kind != "mean":
        return total
    scale = _reciprocal([space[d] for d in raxes], total.dtype)
    return compute(total.shape, lambda *i: total[i] * scale, name=f"{name}_mean")


def schedule_stages(s, config: dict) -> None:
    """Each root stage of a group with reduction stages: reductions as above (kinds from their
    extent-1 axes), the others generic."""
    from schedules.relations import AtRoot
    from tensorir.expr import Reduce

    for stage in list(s.stages):
        if not isinstance(stage.attach, AtRoot) or not hasattr(stage.op, "body"):
            continue
        out = stage.op.output
        if isinstance(stage.op.body, Reduce):
            kinds = tuple("R" if isinstance(n, int) and n == 1 else "K" for n in out.shape)
            _schedule_reduction(s, out, kinds, config)
        else:
            generic(s, out, config)


def _reduce(inner, space, kinds, reducer, name):
    """``out[kept] = reducer(inner(index), over the R axes)``, ``index`` interleaving both."""
    kept = [n for n, k in zip(space, kinds) if k == "K"] or [1]
    raxes = [reduce_axis(n, f"r{d}") for d, (n, k) in enumerate(zip(space, kinds)) if k == "R"]

    def body(*out_idx):
        it_out, it_red = iter(out_idx), iter(raxes)
        value = inner(*(next(it_out) if k == "K" else next(it_red) for k in kinds))
        return reducer(value, axis=raxes) if raxes else value

    return compute(tuple(kept), body, name=name)


def run_reduction(group, outputs: list[int]) -> list[np.ndarray]:
    """Run ``group`` (a :class:`frontend.lazy_graph.Group` whose last member is a reduction) as
    one kernel; the arrays of its members at ``outputs``, in that order."""
    members = group.members
    nodes = tuple(group.nodes)
    reduction = members[-1]._lazy.op
    arrays = [t._data for t in group.leaves]
    if len(members) == 1:  # its input was a pending reduction, now realized: the reduction's own kernel
        return [reduction.forward(arrays[0])]
    shapes = tuple([a.shape for a in arrays])
    if not all(a.flags.c_contiguous for a in arrays):  # broadcast views stay broadcast, others compact
        arrays = [a if a.flags.c_contiguous else contiguous(_unbroadcast_view(a)) for a in arrays]
    stored = tuple([a.shape for a in arrays])
    signature = ("fused_reduce", nodes, tuple(outputs), reduction.axes, reduction.keepdims, shapes, stored,
                 tuple([a.dtype for a in arrays]))
    memo = dispatch.cache.requests
    plan = memo.get(signature)
    if plan is None:
        out_shapes = tuple([members[n]._lazy.shape for n in outputs])
        space = members[nodes[-1][1][0]]._lazy.shape
        plan = memo[signature] = (*_request(nodes, tuple(outputs), reduction.axes, space, shapes, stored,
                                            out_shapes[:-1], arrays), out_shapes)
    canon_in, request, out_shapes = plan
    arrays = [a.reshape(shape) for a, shape in zip(arrays, canon_in)]
    outs = launch(request, arrays, lambda: FusedReduction([t._lazy.op for t in members], nodes, tuple(outputs)))
    return [out.reshape(shape) for out, shape in zip(outs, out_shapes)]


def _request(nodes, outputs, axes, space, shapes, stored, extra_shapes, arrays) -> tuple:
    """``(canonical leaf shapes, kernel request)``: the broadcast plan of the space, the leaves,
    the extra outputs and a pattern that is 1 along the reduced axes, so that no kept axis is
    merged with a reduced one and the canonical kinds can be read off the pattern."""
    pattern = tuple(1 if axis in axes else n for axis, n in enumerate(space))
    count = len(shapes)
    _, canon, canon_space = _plan("fused_reduce", (space, *shapes, *extra_shapes, pattern),
                                  (space, *stored, *extra_shapes, pattern))
    canon_in, canon_extra = canon[1:1 + count], canon[1 + count:-1]
    kinds = tuple("R" if n == 1 else "K" for n in canon[-1])
    dtypes = tuple(a.dtype.name for a in arrays)
    return canon_in, KernelRequest("fused_reduce", (nodes, outputs), (canon_space, kinds, tuple(canon_extra)),
                                   canon_in, dtypes, "cpu")


def generalize(op, request: KernelRequest):
    """The symbolic-batch form of a fused reduction's request: the space's leading axis (kept or
    reduced) and that of each leaf and extra output not broadcast along it."""
    from .symbatch import _batched

    space, kinds, extras = request.variant
    batch = space[0]
    if batch <= 1:
        return None
    variant = (_batched(space, batch), kinds, tuple(_batched(s, batch) for s in extras))
    return replace_request(request, variant, tuple(_batched(s, batch) for s in request.shapes)), op, batch


def replace_request(request: KernelRequest, variant: tuple, shapes: tuple) -> KernelRequest:
    return KernelRequest(request.op, request.params, variant, shapes, request.dtypes, request.device)


def shared_with_stages(group, outputs: list[int]) -> list[int]:
    """``outputs`` and each member that a reduction stage of ``group`` reads (inlined into it)
    and a member outside that stage reads too: stored once by the kernel instead of computed in
    both loop nests (a softmax's ``exp``). Memoised by the group's structure."""
    nodes, members = group.nodes, group.members
    signature = ("staged", tuple(nodes), tuple(outputs))
    found = dispatch.cache.requests.get(signature)
    if found is None:
        found = dispatch.cache.requests[signature] = _shared(nodes, members, outputs)
    return found


def _shared(nodes, members, outputs: list[int]) -> list[int]:
    readers: dict[int, list[int]] = {}
    for reader, (_, refs) in enumerate(nodes):
        for ref in refs:
            if ref >= 0:
                readers.setdefault(ref, []).append(reader)
    shared = set(outputs)
    for stage, member in enumerate(members):
        if not member._lazy.op.reduces:
            continue
        inside, pending = {stage}, [nodes[stage][1][0]]
        while pending:
            ref = pending.pop()
            if ref >= 0 and ref not in inside and not members[ref]._lazy.op.reduces:
                inside.add(ref)
                pending.extend(nodes[ref][1])
        shared.update(n for n in inside - {stage} if any(r not in inside for r in readers[n]))
    return sorted(shared)
