"""Schedule -> loop nest: each stage's loops from its relations, attached stages inside the loops
of their consumers over exactly the region needed there, reductions, guards and buffers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tensorir.buffer import Buffer, Scope
from tensorir.errors import LoweringError
from tensorir.expr import BinaryOp, BufferLoad, Expr, IterVar, Reduce, ReduceOp, TensorLoad, binary, const
from tensorir.functions import reduce_identity
from tensorir.stmt import Allocate, For, IfThenElse, PrimFunc, Stmt, Store, seq
from tensorir.tensor import ComputeOp, PlaceholderOp, Tensor
from tensorir.visitor import Mutator

from .bounds import Region, attached_region
from .geometry import LoopGeometry, derives, loop_geometry
from .schedule import Schedule, Stage

_COMBINE = {ReduceOp.SUM: BinaryOp.ADD, ReduceOp.MAX: BinaryOp.MAX, ReduceOp.MIN: BinaryOp.MIN}


class _Inline(Mutator):
    """A stage's body with cache redirections applied and inlined producers substituted."""

    def __init__(self, schedule: Schedule, stage: Stage, bodies: dict):
        super().__init__()
        self.schedule, self.stage, self.bodies = schedule, stage, bodies

    def rewrite(self, node):
        if not isinstance(node, TensorLoad):
            return None
        indices = tuple(self.visit(i) for i in node.indices)
        tensor = self.stage.read_redirect.get(node.tensor, node.tensor)
        producer = self.schedule.stage_of(tensor)
        if producer.attach == "inline":
            body = stage_body(self.schedule, producer, self.bodies)
            mapping = {iv.var: index for iv, index in zip(producer.op.axis, indices)}
            from tensorir.visitor import substitute

            return substitute(body, mapping)
        # the stage's current tensor: after cache_write, readers still name the old one
        return TensorLoad(producer.op.output, indices, node.dtype)


def stage_body(schedule: Schedule, stage: Stage, bodies: dict) -> Expr:
    if stage not in bodies:
        bodies[stage] = _Inline(schedule, stage, bodies).visit(stage.op.body)
    return bodies[stage]


class _ToBuffers(Mutator):
    """Tensor accesses -> buffer loads (shifted by the buffer's region); axes -> loop values."""

    def __init__(self, lowering: Lowering, values: dict):
        super().__init__()
        self.lowering, self.values = lowering, values

    def rewrite(self, node):
        if isinstance(node, TensorLoad):
            indices = tuple(self.visit(i) for i in node.indices)
            stage = self.lowering.schedule.stage_of(node.tensor)
            return BufferLoad(self.lowering.buffers[stage], self.lowering.shift(stage, indices), node.dtype)
        return self.values.get(node)


@dataclass
class Lowering:
    schedule: Schedule
    args: list[Tensor]
    name: str
    buffers: dict[Stage, Buffer] = field(default_factory=dict)
    regions: dict[Stage, Region] = field(default_factory=dict)
    bodies: dict[Stage, Expr] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)

    def shift(self, stage: Stage, indices: tuple[Expr, ...]) -> tuple[Expr, ...]:
        region = self.regions.get(stage)
        if region is None:
            return indices
        return tuple(binary(BinaryOp.SUB, i, b) for i, b in zip(indices, region.bases))

    def make_buffer(self, stage: Stage, shape: tuple[int, ...]) -> Buffer:
        name, n = stage.name, 1
        while name in self.names:
            name = f"{stage.name}_{n}"
            n += 1
        self.names.add(name)
        scope = stage.scope if not (stage.attach == "root" and stage.scope is Scope.LOCAL) else stage.scope
        buffer = Buffer(name, shape, stage.op.dtype, scope)
        self.buffers[stage] = buffer
        return buffer

    def attached_at(self, stage: Stage, leaf: IterVar) -> list[Stage]:
        return [s for s in self.schedule.stages
                if s.attach == "at" and s.attach_stage is stage and s.attach_axis is leaf]

    # -- nests -----------------------------------------------------------------------------
    def nest(self, stage: Stage, env: list[For]) -> Stmt:
        """The loop nest computing ``stage`` (over its region, when attached)."""
        op: ComputeOp = stage.op  # type: ignore[assignment]
        geo = loop_geometry(stage, self.regions.get(stage))
        values = {root.var: geo.values[root] for root in stage.root_axes}
        to_buffers = _ToBuffers(self, values)
        body = stage_body(self.schedule, stage, self.bodies)
        out = self.buffers[stage]
        index = self.shift(stage, tuple(to_buffers.visit(iv.var) for iv in op.axis))
        if not isinstance(body, Reduce):
            def store(_env):
                return _guarded(Store(out, index, to_buffers.visit(body)), geo.all_guards())

            return self.loops(stage, stage.leaves, geo, store, env, body)
        reduce_roots = set(op.reduce_axis)
        first = next(p for p, leaf in enumerate(stage.leaves)
                     if any(derives(stage, r, leaf) for r in reduce_roots))
        outer, inner = stage.leaves[:first], stage.leaves[first:]
        spatial_inner = [leaf for leaf in inner if not any(derives(stage, r, leaf) for r in reduce_roots)]
        init = _guarded(Store(out, index, reduce_identity(body.op, body.dtype)),
                        geo.guards_without(reduce_roots))

        def update(_env):
            current = BufferLoad(out, index, out.dtype)
            value = binary(_COMBINE[body.op], current, to_buffers.visit(body.source))
            return _guarded(Store(out, index, value), geo.all_guards())

        def init_then_update(env2):
            # the initialisation repeats the spatial loops inside the reduction; nothing attaches there
            return seq(self.loops(stage, spatial_inner, geo, lambda _e: init, None, body),
                       self.loops(stage, inner, geo, update, env2, body))

        return self.loops(stage, outer, geo, init_then_update, env, body)

    def loops(self, stage: Stage, leaves: Sequence[IterVar], geo: LoopGeometry, make_body,
              env: list[For] | None, expr: Expr) -> Stmt:
        """Loops over ``leaves`` around ``make_body(env)``; attached stages go inside their loop.

        ``env`` lists the loops enclosing this nest, or None to attach nothing (the
        initialisation copy of a reduction's loops).
        """
        return self._loop_level(stage, list(leaves), 0, geo, make_body, env, expr)

    def _loop_level(self, stage, leaves, position, geo, make_body, env, expr) -> Stmt:
        if position == len(leaves):
            return make_body(env)
        leaf = leaves[position]
        note = stage.annotation(leaf)
        lo = leaf.min if leaf in stage.op.reduce_axis else 0  # type: ignore[attr-defined]
        loop = For(leaf.var, const(lo), const(geo.extents[leaf]), note.kind, seq(), note.thread_tag)
        if env is None:
            inner = self._loop_level(stage, leaves, position + 1, geo, make_body, None, expr)
        else:
            inner_env = env + [loop]
            children = self.prepare_children(stage, leaf, geo, inner_env, expr)
            inner = self._loop_level(stage, leaves, position + 1, geo, make_body, inner_env, expr)
            inner = self.wrap_children(children, inner_env, inner)
        return For(leaf.var, loop.min, loop.extent, loop.kind, inner, loop.thread_tag)

    def prepare_children(self, stage, leaf, geo, env, expr) -> list[Stage]:
        """Regions and buffers of the stages attached at ``leaf``, before the body reads them."""
        children = self.attached_at(stage, leaf)
        done: list = []
        # consumers come after their producers in stage order: infer regions backwards so that a
        # producer's region covers what later siblings at this loop read of it
        for child in reversed(children):
            region = attached_region(self.schedule, child, stage, geo, env, expr, done)
            self.regions[child] = region
            self.make_buffer(child, region.shape)
            done.append((child, loop_geometry(child, region), stage_body(self.schedule, child, self.bodies)))
        return children

    def wrap_children(self, children: list[Stage], env: list[For], inner: Stmt) -> Stmt:
        if not children:
            return inner
        body = seq(*(self.nest(child, env) for child in children), inner)
        for child in reversed(children):
            body = Allocate(self.buffers[child], body)
        return body


def _guarded(stmt: Stmt, guards: list[Expr]) -> Stmt:
    if not guards:
        return stmt
    cond = guards[0]
    for g in guards[1:]:
        cond = binary(BinaryOp.AND, cond, g)
    return IfThenElse(cond, stmt)


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
        stage = schedule.stage_of(arg)
        if stage.attach != "root":
            how = "inlined" if stage.attach == "inline" else "attached with compute_at"
            raise LoweringError(
                f"lower {name}: argument {arg.name} is {how} and so never stored whole; pass only "
                "inputs, outputs and root stages")
    for position, arg in enumerate(args):
        if any(other is arg for other in args[:position]):
            raise LoweringError(
                f"lower {name}: {arg.name} is listed twice in the arguments "
                f"{[a.name for a in args]}; list each tensor once")
    needed = [s.op.output for s in schedule.stages if isinstance(s.op, PlaceholderOp)
              and schedule.readers(s.op.output)] + list(schedule.outputs)
    for tensor in needed:
        if not any(tensor.op is a.op or schedule.stage_of(a) is schedule.stage_of(tensor) for a in args):
            role = "an input (placeholder)" if isinstance(tensor.op, PlaceholderOp) else "an output"
            raise LoweringError(
                f"lower {name}: {tensor.name} is {role} of the schedule but not in the arguments "
                f"{[a.name for a in args]}; add it")
    return args


def lower_schedule(schedule: Schedule, args: Sequence[Tensor], name: str = "main") -> PrimFunc:
    """The loop-nest function of ``schedule`` with ``args`` (inputs then outputs) as parameters."""
    args = check_args(schedule, args, name)
    lowering = Lowering(schedule, args, name)
    params = [lowering.make_buffer(schedule.stage_of(a), a.shape) for a in args]
    for stage in schedule.stages:
        if isinstance(stage.op, PlaceholderOp) and stage not in lowering.buffers:
            lowering.make_buffer(stage, stage.op.shape)
    temporaries = []
    for stage in schedule.stages:
        if isinstance(stage.op, ComputeOp) and stage.attach == "root" and stage not in lowering.buffers:
            temporaries.append(lowering.make_buffer(stage, stage.op.shape))
    nests = [lowering.nest(stage, []) for stage in schedule.stages
             if isinstance(stage.op, ComputeOp) and stage.attach == "root"]
    body = seq(*nests)
    for buffer in reversed(temporaries):
        body = Allocate(buffer, body)
    return PrimFunc(name, tuple(params), body)

