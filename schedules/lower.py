"""Schedule -> loop nest: each stage's loops from its relations, reductions, guards, buffers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from tensorir.buffer import Buffer
from tensorir.errors import LoweringError
from tensorir.expr import (
    BinaryOp, BufferLoad, Expr, IterVar, Reduce, ReduceOp, TensorLoad, binary,
    const,
)
from tensorir.functions import reduce_identity
from tensorir.stmt import Allocate, For, ForKind, IfThenElse, PrimFunc, Stmt, Store, seq
from tensorir.tensor import ComputeOp, PlaceholderOp, Tensor
from tensorir.visitor import Mutator

from .schedule import Fuse, Schedule, Split, Stage

_COMBINE = {ReduceOp.SUM: BinaryOp.ADD, ReduceOp.MAX: BinaryOp.MAX, ReduceOp.MIN: BinaryOp.MIN}


@dataclass
class LoopGeometry:
    """Extents of every loop variable of a stage and each root axis as an expression of leaves."""

    extents: dict[IterVar, int] = field(default_factory=dict)
    values: dict[IterVar, Expr] = field(default_factory=dict)
    guards: list[tuple[Expr, set[IterVar]]] = field(default_factory=list)


def loop_geometry(stage: Stage) -> LoopGeometry:
    geo = LoopGeometry()
    for root in stage.root_axes:
        geo.extents[root] = root.extent
    for rel in stage.relations:
        if isinstance(rel, Split):
            geo.extents[rel.inner] = rel.factor
            geo.extents[rel.outer] = -(-geo.extents[rel.parent] // rel.factor)
        else:
            geo.extents[rel.fused] = geo.extents[rel.outer] * geo.extents[rel.inner]
    split_of = {r.parent: r for r in stage.relations if isinstance(r, Split)}
    fused_into = {}
    for r in stage.relations:
        if isinstance(r, Fuse):
            fused_into[r.outer] = r
            fused_into[r.inner] = r
    memo: dict[IterVar, Expr] = {}

    def offset(iv: IterVar) -> Expr:
        """The 0-based position of ``iv`` as an expression of the leaf loop variables."""
        if iv in memo:
            return memo[iv]
        if iv in split_of:
            rel = split_of[iv]
            value = offset(rel.outer) * rel.factor + offset(rel.inner)
        elif iv in fused_into:
            rel = fused_into[iv]
            inner_extent = geo.extents[rel.inner]
            if iv is rel.outer:
                value = offset(rel.fused) // inner_extent
            else:
                value = offset(rel.fused) % inner_extent
        elif iv.min and iv in stage.root_axes:
            value = iv.var - iv.min
        else:
            value = iv.var
        memo[iv] = value
        return value

    for root in stage.root_axes:
        geo.values[root] = root.var if root in stage.leaves else offset(root) + root.min
    for rel in stage.relations:
        if isinstance(rel, Split) and geo.extents[rel.parent] % rel.factor:
            cond = binary(BinaryOp.LT, offset(rel.parent), geo.extents[rel.parent])
            geo.guards.append((cond, _roots_under(rel.parent, stage)))
    return geo


def _roots_under(iv: IterVar, stage: Stage) -> set[IterVar]:
    """The root axes whose value depends on ``iv``."""
    roots = set()
    for root in stage.root_axes:
        if _derives(root, iv, stage):
            roots.add(root)
    return roots


def _derives(root: IterVar, iv: IterVar, stage: Stage) -> bool:
    frontier, seen = [root], set()
    while frontier:
        cur = frontier.pop()
        if cur is iv:
            return True
        if cur in seen:
            continue
        seen.add(cur)
        for rel in stage.relations:
            if isinstance(rel, Split) and rel.parent is cur:
                frontier += [rel.outer, rel.inner]
            elif isinstance(rel, Fuse) and cur in (rel.outer, rel.inner):
                frontier.append(rel.fused)
    return False


class _ToBuffers(Mutator):
    """Tensor accesses of a compute body -> buffer loads; loop axes -> their loop values."""

    def __init__(self, buffers: dict[Tensor, Buffer], values: dict):
        super().__init__()
        self.buffers = buffers
        self.values = values

    def rewrite(self, node):
        if isinstance(node, TensorLoad):
            indices = tuple(self.visit(i) for i in node.indices)
            return BufferLoad(self.buffers[node.tensor], indices, node.dtype)
        return self.values.get(node)


@dataclass
class LoweringContext:
    schedule: Schedule
    buffers: dict[Tensor, Buffer]


def _loops(stage: Stage, leaves: Sequence[IterVar], geo: LoopGeometry, body: Stmt) -> Stmt:
    for leaf in reversed(leaves):
        note = stage.annotation(leaf)
        lo = leaf.min if leaf in stage.root_axes else 0
        body = For(leaf.var, const(lo), const(geo.extents[leaf]), note.kind, body, note.thread_tag)
    return body


def _guarded(stmt: Stmt, guards: list[Expr]) -> Stmt:
    if not guards:
        return stmt
    cond = guards[0]
    for g in guards[1:]:
        cond = binary(BinaryOp.AND, cond, g)
    return IfThenElse(cond, stmt)


def stage_nest(stage: Stage, ctx: LoweringContext) -> Stmt:
    """The loop nest computing ``stage`` over its whole domain."""
    op = stage.op
    assert isinstance(op, ComputeOp)
    geo = loop_geometry(stage)
    values = {root.var: geo.values[root] for root in stage.root_axes}
    to_buffers = _ToBuffers(ctx.buffers, values)
    out = ctx.buffers[op.output]
    index = tuple(to_buffers.visit(iv.var) for iv in op.axis)
    if not isinstance(op.body, Reduce):
        store = Store(out, index, to_buffers.visit(op.body))
        return _loops(stage, stage.leaves, geo, _guarded(store, [g for g, _ in geo.guards]))
    return _reduction_nest(stage, geo, to_buffers, out, index)


def _reduction_nest(stage: Stage, geo: LoopGeometry, to_buffers: _ToBuffers, out: Buffer,
                    index: tuple[Expr, ...]) -> Stmt:
    """Initialise just before the outermost reduction loop, then accumulate inside all loops."""
    op = stage.op
    body: Reduce = op.body  # type: ignore[assignment]
    reduce_roots = set(op.reduce_axis)
    first = next(p for p, leaf in enumerate(stage.leaves)
                 if any(_derives(r, leaf, stage) for r in reduce_roots))
    outer, inner = stage.leaves[:first], stage.leaves[first:]
    spatial_inner = [leaf for leaf in inner
                     if not any(_derives(r, leaf, stage) for r in reduce_roots)]
    spatial_guards = [g for g, roots in geo.guards if not roots & reduce_roots]
    init = Store(out, index, reduce_identity(body.op, body.dtype))
    init_nest = _loops(stage, spatial_inner, geo, _guarded(init, spatial_guards))
    current = BufferLoad(out, index, out.dtype)
    update = Store(out, index, binary(_COMBINE[body.op], current, to_buffers.visit(body.source)))
    update_nest = _loops(stage, inner, geo, _guarded(update, [g for g, _ in geo.guards]))
    return _loops(stage, outer, geo, seq(init_nest, update_nest))


def _unique_buffers(schedule: Schedule, args: Sequence[Tensor]) -> dict[Tensor, Buffer]:
    buffers: dict[Tensor, Buffer] = {}
    used: set[str] = set()
    tensors = list(args) + [s.op.output for s in schedule.stages if s.op.output not in args]
    for tensor in tensors:
        name, n = tensor.name, 1
        while name in used:
            name = f"{tensor.name}_{n}"
            n += 1
        used.add(name)
        stage = schedule[tensor]
        buffers[tensor] = Buffer(name, tensor.shape, tensor.dtype, stage.scope)
    return buffers


def check_args(schedule: Schedule, args: Sequence[Tensor], name: str) -> list[Tensor]:
    if not isinstance(args, (list, tuple)):
        raise LoweringError(
            f"lower {name}: the arguments must be a list of tensors, inputs then outputs "
            f"(e.g. [A, B, C]), got {type(args).__name__}")
    args = list(args)
    for arg in args:
        if not isinstance(arg, Tensor):
            raise LoweringError(f"lower {name}: argument {arg!r} is not a tensor")
        if arg not in schedule:
            raise LoweringError(
                f"lower {name}: argument {arg.name} is not used by this schedule's outputs "
                f"{[t.name for t in schedule.outputs]}; remove it from the argument list")
    for position, arg in enumerate(args):
        if any(other is arg for other in args[:position]):
            raise LoweringError(
                f"lower {name}: {arg.name} is listed twice in the arguments "
                f"{[a.name for a in args]}; list each tensor once")
    needed = [s.op.output for s in schedule.stages
              if isinstance(s.op, PlaceholderOp)] + list(schedule.outputs)
    for tensor in needed:
        if tensor not in args:
            role = "an input (placeholder)" if isinstance(tensor.op, PlaceholderOp) else "an output"
            raise LoweringError(
                f"lower {name}: {tensor.name} is {role} of the schedule but not in the arguments "
                f"{[a.name for a in args]}; add it")
    return args


def lower_schedule(schedule: Schedule, args: Sequence[Tensor], name: str = "main") -> PrimFunc:
    """The loop-nest function of ``schedule`` with ``args`` (inputs then outputs) as parameters."""
    args = check_args(schedule, args, name)
    buffers = _unique_buffers(schedule, args)
    ctx = LoweringContext(schedule, buffers)
    nests = [stage_nest(stage, ctx) for stage in schedule.stages
             if isinstance(stage.op, ComputeOp) and stage.attach == "root"]
    body = seq(*nests)
    for stage in reversed(schedule.stages):
        tensor = stage.op.output
        if isinstance(stage.op, ComputeOp) and tensor not in args and stage.attach == "root":
            body = Allocate(buffers[tensor], body)
    return PrimFunc(name, tuple(buffers[a] for a in args), body)


