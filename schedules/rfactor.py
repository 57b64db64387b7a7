"""rfactor: a reduction split into a stage of partial results and the final reduction over them.

The work of ``Schedule.rfactor`` (TVM's meaning). For ``B[i] = sum(A[i, k])`` with ``k`` split
into ``k.outer, k.inner``, ``rfactor(B, k.inner)`` gives a new stage ``B.rf`` whose data axes
are B's with ``k.inner`` inserted at ``factor_axis``, reducing over the other reduction loops
(``k.outer``), and B becomes the reduction of ``B.rf`` over a fresh ``k.inner``::

    B.rf[k.inner, i] = sum(A[i, k.outer * 16 + k.inner], axis=k.outer)
    B[i] = sum(B.rf[k.inner, i], axis=k.inner)

Where a split of the reduction axis is imperfect, the partial sums take the reducer's identity
past the end. ``B.rf`` is an ordinary stage: its factored axis is data-parallel, so it can be
parallelized, vectorized or bound to threads. B keeps its stage (and its data axes: the handles
``B.op.axis`` still name its loops); ``s[B].op.reduce_axis`` is the new reduction axis. As in
TVM, B's loops restart from its axes: splits and fuses of its data axes made before rfactor
are dropped (schedule them again on ``s[B]``), and ``B.rf`` takes the data axes unsplit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tensorir.conditions import conjunction
from tensorir.errors import ScheduleError
from tensorir.expr import BinaryOp, Expr, IterKind, IterVar, Reduce, Select, Var, binary, cast, const
from tensorir.functions import reduce_identity
from tensorir.intmath import as_int
from tensorir.tensor import ComputeOp
from tensorir.visitor import substitute, walk

from .attachment import attached_in
from .geometry import loop_geometry
from .relations import AtRoot
from .trace import Step

if TYPE_CHECKING:
    from .schedule import Schedule, Stage


def _fail(call: str, reason: str, hint: str) -> ScheduleError:
    return ScheduleError(f"s.{call}: {reason}; {hint}")


def _check_stage(stage: Stage, call: str) -> None:
    op = stage.op
    if not isinstance(op, ComputeOp) or not isinstance(op.body, Reduce):
        raise _fail(call, f"{stage.name} is not a reduction", "rfactor factors the reduction of a "
                    "compute whose body is a reduction (ns.sum/max/min or a comm_reducer)")
    data = set(op.axis)
    mixed = _mixed_leaves(stage)
    if mixed:
        raise _fail(call, f"the loops {mixed} of {stage.name} fuse data axes with reduction axes",
                    "call rfactor before fusing them (the reduction axes alone may be split or fused first)")
    marked = [iv.name for iv in stage.leaves if iv.kind is not IterKind.REDUCE and iv in stage.annotations]
    if marked:
        raise _fail(call, f"the data loops {marked} of {stage.name} are already marked",
                    "call rfactor before marking the data loops")
    if not isinstance(stage.attach, AtRoot) or attached_in(stage.schedule, stage):
        raise _fail(call, f"{stage.name} is attached, or stages are computed inside its loops",
                    "call rfactor before compute_at")
    marked = [iv.name for iv, note in stage.annotations.items() if iv not in data]
    if marked:
        raise _fail(call, f"the reduction loops {marked} of {stage.name} are already marked",
                    "mark the loops of the stages rfactor returns instead")


def _mixed_leaves(stage: Stage) -> list[str]:
    """The loops of ``stage`` whose value feeds both a data axis and a reduction axis."""
    geo = loop_geometry(stage)
    op = stage.compute_op
    feeds: dict = {}
    for root in (*op.axis, *op.reduce_axis):
        used = {v for v in walk(geo.values[root]) if isinstance(v, Var)}
        for leaf in stage.leaves:
            if leaf.var in used:
                feeds.setdefault(leaf, set()).add(root.kind)
    return [leaf.name for leaf, kinds in feeds.items() if len(kinds) > 1]


def _factor_leaf(stage: Stage, call: str, axis) -> IterVar:
    leaf = stage._leaf(call, axis, lambda c, r, h="": _fail(c, r, h or "pass a reduction loop"))
    if leaf.kind is not IterKind.REDUCE:
        raise _fail(call, f"{leaf.name} is a data-parallel loop of {stage.name}",
                    f"pass one of its reduction loops {[iv.name for iv in stage.leaves if iv.kind is IterKind.REDUCE]}")
    return leaf


def _factor_position(call: str, factor_axis: object, ndim: int) -> int:
    position = as_int(factor_axis)
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= ndim:
        raise _fail(call, f"factor_axis={factor_axis!r} is not a position among the {ndim} data axes",
                    f"pass an int in 0..{ndim}")
    return position


def rfactor(schedule: Schedule, tensor, axis, factor_axis: int = 0):
    """The work of :meth:`Schedule.rfactor`."""
    from .cache import _tensor

    tensor = _tensor(schedule, "rfactor(...)", tensor)
    stage = schedule.stage_of(tensor)
    call = f"rfactor({tensor.name}, {getattr(axis, 'name', axis)}, factor_axis={factor_axis})"
    _check_stage(stage, call)
    leaf = _factor_leaf(stage, call, axis)
    op = stage.compute_op
    position = _factor_position(call, factor_axis, len(op.axis))
    factored = _factored_op(stage, leaf, position)
    rf = schedule.add_stage(factored, schedule.stages.index(stage))
    rf.read_redirect = dict(stage.read_redirect)
    final = IterVar(Var(leaf.name), 0, leaf.extent, IterKind.REDUCE)
    index = [iv.var for iv in op.axis]
    index.insert(position, final.var)
    schedule.replace_op(stage, ComputeOp(op.name, op.axis, _final_bodies(op, factored, tuple(index), final)))
    stage.read_redirect = {}
    stage.relations = []
    stage.leaves = list(op.axis) + [final]
    schedule.trace.record(Step("rfactor", "", (("tensor", stage.name), ("axis", leaf.name),
                                               ("factor_axis", position)), (rf.name,)))
    return factored.output if factored.num_outputs == 1 else list(factored.outputs)


def _final_bodies(op: ComputeOp, factored: ComputeOp, index: tuple, final: IterVar) -> tuple[Reduce, ...]:
    """The reduction over the factored axis: the same reducer over ``factored``'s outputs, with
    the original ``init`` (the partial results start from the identity; the start value joins
    once, here)."""
    loads = tuple(out[index] for out in factored.outputs)
    return tuple(Reduce(body.op, loads[n], (final,), body.dtype, init=body.init, combiner=body.combiner,
                        sources=loads if body.sources else (), value_index=body.value_index)
                 for n, body in enumerate(op.bodies))


def _identity(body: Reduce, dtype) -> Expr:
    if body.combiner is not None:
        return body.combiner.identities[body.value_index]
    return cast(reduce_identity(body.op, dtype), dtype)


def _factored_op(stage: Stage, leaf: IterVar, position: int) -> ComputeOp:
    """``stage``'s reduction with ``leaf`` made a data axis at ``position`` and the other
    reduction loops (in their current order) its reduction axes."""
    op = stage.compute_op
    body: Reduce = op.body  # type: ignore[assignment]
    geo = loop_geometry(stage)
    roots = set(op.reduce_axis)
    leaves = [iv for iv in stage.leaves if iv.kind is IterKind.REDUCE and iv is not leaf]
    # TVM's order: the reduction axes rfactor leaves whole first (in their order), then the loops
    # split from the factored one; each keeps its variable (``BF.op.body[0].axis[1].var == ko.var``)
    leaves = [iv for iv in op.reduce_axis if iv in leaves] + [iv for iv in leaves if iv not in roots]
    data = [IterVar(Var(iv.name), 0, iv.extent, IterKind.DATA_PAR) for iv in op.axis]
    factor = IterVar(Var(leaf.name), 0, geo.extents[leaf], IterKind.DATA_PAR)
    data.insert(position, factor)
    reduce = [iv if iv in roots else IterVar(iv.var, 0, geo.extents[iv], IterKind.REDUCE) for iv in leaves]
    mapping: dict = {old.var: new.var for old, new in zip(op.axis, data[:position] + data[position + 1:])}
    mapping |= {old.var: new.var for old, new in zip(leaves, reduce)}
    # a root reduction axis kept as the factored loop runs 0..extent in B.rf but min..min+extent in B
    mapping[leaf.var] = binary(BinaryOp.ADD, factor.var, leaf.min) if leaf in roots and leaf.min else factor.var
    values = {root.var: substitute(geo.values[root], mapping) for root in op.reduce_axis}

    def moved(e: Expr) -> Expr:
        return substitute(substitute(e, values), mapping)

    guards = [substitute(g, mapping) for g, constrained in geo.guards if constrained & roots]
    cond = conjunction(guards)  # past the end of an imperfect split, the identity
    sources = tuple(moved(b.source) for b in op.bodies)
    if cond is not None:
        sources = tuple(Select(cond, src, _identity(b, src.dtype), src.dtype) for b, src in zip(op.bodies, sources))
    where = moved(body.condition) if body.condition is not None else None
    if where is not None and cond is not None:  # evaluated only inside the axis, as the values are
        where = Select(cond, where, const(False, where.dtype), where.dtype)
    if reduce:  # the other reduction loops stay a reduction, from the identity
        value: tuple = tuple(Reduce(b.op, sources[n], tuple(reduce), b.dtype, condition=where, combiner=b.combiner,
                                    sources=sources if b.sources else (), value_index=b.value_index)
                             for n, b in enumerate(op.bodies))
    elif where is not None:  # one point per partial result: the value where it counts, else the identity
        value = tuple(Select(where, src, _identity(b, src.dtype), src.dtype) for b, src in zip(op.bodies, sources))
    else:
        value = sources
    return ComputeOp(f"{op.name}.rf", tuple(data), value if len(value) > 1 else value[0])
