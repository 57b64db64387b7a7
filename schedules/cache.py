"""cache_read and cache_write: stages that copy a tensor into (or out of) faster memory.

The work of ``Schedule.cache_read`` and ``Schedule.cache_write``. A cache stage is an ordinary
stage. ``cache_read`` gives each chosen reader an operation that reads the cache's tensor
instead of the source's (TVM's dataflow rewrite: ``s[B].op.input_tensors`` lists the cache,
while ``B.op``, the user's definition, is unchanged; a reader that is not a compute is
redirected instead, ``Stage.read_redirect``, stage to stage); ``cache_write`` gives the cached
stage a new operation. Both go through ``Schedule.replace_op``, so that the stage keeps its
identity (see :mod:`schedules.schedule`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from tensorir.buffer import Scope
from tensorir.errors import ScheduleError
from tensorir.expr import IterKind, IterVar, TensorLoad, Var
from tensorir.tensor import ComputeOp, PlaceholderOp, Tensor
from tensorir.visitor import Mutator, substitute

from . import attachment, cache_relayout
from .attachment import attached_in
from .relations import At, AtRoot
from .trace import Step

if TYPE_CHECKING:
    from .schedule import Schedule, Stage


def _scope(call: str, scope: str) -> Scope:
    try:
        return Scope(scope)
    except ValueError:
        hint = ("; TensorCore fragments (wmma.*) are not supported: 'local' keeps the tile in registers"
                if isinstance(scope, str) and scope.startswith("wmma.") else "")
        raise ScheduleError(f"s.{call}: unknown scope {scope!r}; use 'global', 'shared' or 'local'{hint}") from None


def _tensor(schedule: Schedule, call: str, tensor) -> Tensor:
    if isinstance(tensor, str):
        return _tensor_named(schedule, tensor)
    if isinstance(tensor, Tensor):
        if tensor not in schedule:
            raise ScheduleError(f"s.{call}: {tensor.name} is not part of this schedule; pass a "
                                "tensor that the schedule's outputs are computed from")
        return tensor
    raise ScheduleError(f"s.{call}: {tensor!r} is not a tensor")


def _tensor_named(schedule: Schedule, name: str) -> Tensor:
    """The tensor a trace names: a stage's (first) output, or output ``n`` as ``stage.vn``."""
    if any(stage.name == name for stage in schedule.stages):
        return schedule[name].op.output
    base, dot, index = name.rpartition(".v")
    if dot and index.isdigit() and any(stage.name == base for stage in schedule.stages):
        outputs = schedule[base].op.outputs
        if int(index) < len(outputs):
            return outputs[int(index)]
    return schedule[name].op.output  # the error lists the stages


def _stage_list(schedule: Schedule, call: str, readers) -> list[Stage]:
    if isinstance(readers, (str, Tensor)) or hasattr(readers, "leaves"):
        readers = [readers]
    stages = []
    for reader in readers:
        stage = reader if hasattr(reader, "leaves") else schedule[reader]
        if stage.schedule is not schedule:
            raise ScheduleError(f"s.{call}: {stage.name} is a stage of another schedule")
        stages.append(stage)
    if not stages:
        raise ScheduleError(f"s.{call}: give at least one reader stage")
    return stages


def _insert_cache_stage(schedule: Schedule, op: ComputeOp, before: Stage, scope: Scope) -> Stage:
    stage = schedule.add_stage(op, schedule.stages.index(before))
    stage.scope, stage.scope_given = scope, True
    return stage


def cache_read(schedule: Schedule, tensor, scope: str, readers: Sequence) -> Tensor:
    """The work of :meth:`Schedule.cache_read`."""
    tensor = _tensor(schedule, "cache_read(...)", tensor)
    source = schedule.stage_of(tensor)
    reader_names = [getattr(r, "name", r) for r in (readers if isinstance(readers, (list, tuple)) else [readers])]
    call = f"cache_read({tensor.name}, {scope!r}, {reader_names})"
    value = _scope(call, scope)
    stages = _stage_list(schedule, call, readers)
    for stage in stages:
        if not any(p is source for p in stage.producers):
            reads = [p.op.name for p in stage.producers]
            raise ScheduleError(
                f"s.{call}: stage {stage.name} does not read {tensor.name} (it reads {reads}); "
                "list only stages that read the tensor")
    match source.attach:
        case At(stage=consumer, axis=loop):
            raise ScheduleError(
                f"s.{call}: {source.name} is computed inside loop {loop.name} of "
                f"{consumer.name}, where its readers would no longer read it; call "
                f"cache_read before compute_at, or compute_root {source.name} first")
    # the stage's current shape: a transform_layout may have given it another than the tensor's
    axes = tuple(IterVar(Var(f"ax{d}"), 0, extent, IterKind.DATA_PAR)
                 for d, extent in enumerate(source.op.outputs[tensor.value_index].shape))
    # the readers' reads of a stage all go to the cache: one with several outputs copies them all
    copies = tuple(out[tuple(a.var for a in axes)] for out in source.op.outputs)
    name = f"{tensor.name}.{scope}" if len(copies) == 1 else f"{source.name}.{scope}"
    op = ComputeOp(name, axes, copies if len(copies) > 1 else copies[0])
    first = min(stages, key=schedule.stages.index)
    saved = [(stage, dict(stage.read_redirect)) for stage in stages]
    known = attachment.waiting(schedule)
    cache = _insert_cache_stage(schedule, op, first, value)
    ops = [(stage, stage.op) for stage in stages]
    for stage in stages:
        _redirect(stage, source, cache)
    stranded = attachment.stranded(schedule, known=known)
    if stranded is not None:
        schedule.remove_stage(cache)
        for stage, redirect in saved:
            stage.read_redirect = redirect
        for stage, former in ops:
            stage.op = former
        producer, place = stranded
        raise ScheduleError(
            f"s.{call}: the copy would read {producer.name} (through {source.name}) at root, but "
            f"{producer.name} is computed inside loop {place.axis.name} of {place.stage.name}; "
            f"compute_root {producer.name} first, or cache_read before compute_at")
    schedule.trace.record(Step("cache_read", "", (
        ("tensor", source.name), ("scope", scope),
        ("readers", tuple(s.name for s in stages))), (cache.name,)))
    return op.outputs[tensor.value_index]


def cache_write(schedule: Schedule, tensor, scope: str) -> Tensor | list[Tensor]:
    """The work of :meth:`Schedule.cache_write`."""
    given_list = isinstance(tensor, (list, tuple))
    tensor = _written_tensor(schedule, tensor, scope)
    call = f"cache_write({tensor.name}, {scope!r})"
    value = _scope(call, scope)
    stage = schedule.stage_of(tensor)
    if isinstance(stage.op, PlaceholderOp):
        raise ScheduleError(f"s.{call}: {tensor.name} is a placeholder, which nothing computes; "
                            f"use cache_read to copy an input")
    # a tensor that is no longer its stage's own was already cache-written
    if definition(stage.op) is not definition(tensor.op) or stage.annotations or not isinstance(stage.attach, AtRoot):
        raise ScheduleError(
            f"s.{call}: stage {stage.name} is already scheduled (marked, attached or cached); "
            "call cache_write before the other primitives on it (split and reorder may come "
            "first: the cache takes over their loops)")
    attached = [s.name for s in attached_in(schedule, stage)]
    if attached:
        raise ScheduleError(
            f"s.{call}: stages {attached} are computed inside the loops of {stage.name}; call "
            "cache_write before compute_at into it")
    op = stage.compute_op
    fresh = tuple(IterVar(Var(iv.name), iv.min, iv.extent, iv.kind) for iv in op.axis)
    mapping = {old.var: new.var for old, new in zip(op.axis, fresh)}
    bodies = tuple(substitute(body, mapping) for body in op.bodies)
    read = tuple(a.var for a in op.axis)
    if cache_relayout.reshaped(stage):
        fresh, bodies, read = cache_relayout.relayout(stage, call)
    cache_op = ComputeOp(f"{stage.name}.{scope}", fresh, bodies if len(bodies) > 1 else bodies[0])
    cache = _insert_cache_stage(schedule, cache_op, stage, value)
    cache.read_redirect = dict(stage.read_redirect)
    copy_axes = op.axis  # the user's handles C.op.axis now name the copy's loops
    copies = tuple(out[read] for out in cache_op.outputs)
    schedule.replace_op(stage, ComputeOp(op.name, copy_axes, copies if len(copies) > 1 else copies[0]))
    stage.read_redirect = {}
    stage.leaves, stage.relations = list(copy_axes), []
    schedule.trace.record(Step("cache_write", "", (
        ("tensor", stage.name), ("scope", scope)), (cache.name,)))
    return list(cache_op.outputs) if given_list or cache_op.num_outputs > 1 else cache_op.output


def _written_tensor(schedule: Schedule, tensor, scope: str) -> Tensor:
    """The tensor ``cache_write`` caches; for a compute with several outputs (given as the list
    of them, TVM's form, or by one of them or its stage's name) its first output."""
    if not isinstance(tensor, (list, tuple)):
        return _tensor(schedule, "cache_write(...)", tensor)
    tensors = [_tensor(schedule, "cache_write(...)", t) for t in tensor]
    if not tensors:
        raise ScheduleError(f"s.cache_write([], {scope!r}): give the tensor(s) to cache")
    ops = {id(t.op) for t in tensors}
    if len(ops) > 1 or [t.value_index for t in tensors] != list(range(tensors[0].op.num_outputs)):
        names = [t.name for t in tensors]
        raise ScheduleError(
            f"s.cache_write({names}, {scope!r}): a list names all the outputs of one compute, in "
            "order; cache the tensors of different computes with one call each")
    return tensors[0]


def _redirect(reader: Stage, source: Stage, cache: Stage) -> None:
    """Make ``reader`` read ``cache`` wherever it reads ``source`` now: a compute reader gets the
    operation that reads the cache's tensors (TVM's meaning: ``s[B].op.input_tensors`` lists
    the cache; the user's ``B.op`` stays the definition), others a redirection."""
    if isinstance(reader.op, ComputeOp) and not reader.read_redirect:
        reads = {tensor: cache.op.outputs[tensor.value_index] for tensor in reader.op.inputs
                 if reader.producer_of(tensor) is source}
        _read_through(reader, reads)
        return
    for tensor in reader.op.inputs:
        if reader.producer_of(tensor) is source:
            reader.read_redirect[reader.schedule.stage_of(tensor)] = cache


def _read_through(reader: Stage, reads: dict[Tensor, Tensor]) -> None:
    """Give ``reader`` an operation whose loads of the tensors in ``reads`` load their caches;
    its axes (the user's loop handles) and reduction axes stay the same objects."""
    op = reader.op

    class Swap(Mutator):
        def rewrite(self, node):
            if isinstance(node, TensorLoad) and node.tensor in reads:
                return replace(node, tensor=reads[node.tensor], indices=tuple(self.visit(i) for i in node.indices))
            return None

    swap = Swap()
    bodies = tuple(swap.visit(body) for body in op.bodies)
    new = ComputeOp(op.name, op.axis, bodies if len(bodies) > 1 else bodies[0])
    for extra in ("tag", "attrs"):
        if hasattr(op, extra):
            setattr(new, extra, getattr(op, extra))
    new.read_through_of = definition(op)  # type: ignore[attr-defined]
    reader.schedule.replace_op(reader, new)


def definition(op):
    """The operation that ``op`` reads through caches for (``op`` itself if none)."""
    return getattr(op, "read_through_of", op)
