"""Schedule -> loop nest: each stage's loops from its relations, attached stages inside the loops
of their consumers over exactly the region needed there, reductions, guards and buffers.

Lowering works on stages (see the identity invariant in :mod:`schedules.schedule`): the
arguments are turned into stages once, each stage's body has its reads resolved to producer
stages (inlined ones substituted), and buffers, regions and bodies are kept per stage. A loop
nest is built outside-in; what goes inside the innermost loop of a run of loops is made by a
:class:`BodyBuilder` once those loops are known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tensorir.buffer import Buffer
from tensorir.errors import LoweringError
from tensorir.expr import BinaryOp, BufferLoad, Expr, IterVar, Reduce, ReduceOp, TensorLoad, binary
from tensorir.functions import reduce_identity
from tensorir.stmt import Allocate, For, IfThenElse, PrimFunc, Stmt, Store, seq
from tensorir.symbolic import to_expr
from tensorir.tensor import ComputeOp, PlaceholderOp, Tensor
from tensorir.visitor import Mutator, substitute

from .attachment import attached_in
from .bounds import Region, attached_region
from .geometry import LoopGeometry, derives, loop_geometry
from .parallel import warn_inner_parallel
from .relations import At, AtRoot, Inlined
from .scalars import function_scalars, split_scalar_args, symbolic_kind
from .schedule import Schedule, Stage

_COMBINE = {ReduceOp.SUM: BinaryOp.ADD, ReduceOp.MAX: BinaryOp.MAX, ReduceOp.MIN: BinaryOp.MIN}


class _Inline(Mutator):
    """A stage's body with every read resolved to its producer stage (cache redirections
    applied): a load of the producer's tensor, or the producer's body where it is inlined."""

    def __init__(self, schedule: Schedule, stage: Stage, bodies: dict):
        super().__init__()
        self.schedule, self.stage, self.bodies = schedule, stage, bodies

    def rewrite(self, node):
        if not isinstance(node, TensorLoad):
            return None
        indices = tuple(self.visit(i) for i in node.indices)
        producer = self.stage.producer_of(node.tensor)
        match producer.attach:
            case Inlined():
                body = stage_body(self.schedule, producer, self.bodies)
                mapping = {iv.var: index for iv, index in zip(producer.compute_op.axis, indices)}
                return substitute(body, mapping)
            case _:
                return TensorLoad(producer.op.output, indices, node.dtype)


def stage_body(schedule: Schedule, stage: Stage, bodies: dict) -> Expr:
    if stage not in bodies:
        bodies[stage] = _Inline(schedule, stage, bodies).visit(stage.compute_op.body)
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


class BodyBuilder(Protocol):
    """Makes the statement inside the innermost loop of a run of loops, once they are built.

    ``env`` lists every loop around that statement, outermost first (the enclosing nests'
    loops, then the run's own), or is None where nothing may be attached (the initialisation
    copy of a reduction's spatial loops). A builder that continues the nest with more loops
    (a reduction's update loops) passes ``env`` on, so that stages attached there find their
    place.
    """

    def __call__(self, env: list[For] | None) -> Stmt: ...


@dataclass(frozen=True)
class LoopRun:
    """Consecutive loops of one stage (``leaves``, outermost first) around what ``body`` makes.

    ``expr`` is the stage's body expression: its reads decide the regions of the stages
    attached at these loops.
    """

    stage: Stage
    leaves: tuple[IterVar, ...]
    geo: LoopGeometry
    body: BodyBuilder
    expr: Expr


@dataclass
class Lowering:
    """The state of one lowering: a buffer, a region (when attached) and a body per stage."""

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
        buffer = Buffer(name, shape, stage.op.dtype, stage.scope)
        self.buffers[stage] = buffer
        return buffer

    # -- nests -----------------------------------------------------------------------------
    def nest(self, stage: Stage, env: list[For]) -> Stmt:
        """The loop nest computing ``stage`` (over its region, when attached)."""
        op = stage.compute_op
        geo = loop_geometry(stage, self.regions.get(stage))
        values = {root.var: geo.values[root] for root in stage.root_axes}
        to_buffers = _ToBuffers(self, values)
        body = stage_body(self.schedule, stage, self.bodies)
        out = self.buffers[stage]
        index = self.shift(stage, tuple(to_buffers.visit(iv.var) for iv in op.axis))
        if not isinstance(body, Reduce):
            def store(_env):
                return _guarded(Store(out, index, to_buffers.visit(body)), geo.all_guards())

            return self.loops(LoopRun(stage, tuple(stage.leaves), geo, store, body), env)
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
            return seq(self.loops(LoopRun(stage, tuple(spatial_inner), geo, lambda _e: init, body), None),
                       self.loops(LoopRun(stage, tuple(inner), geo, update, body), env2))

        return self.loops(LoopRun(stage, tuple(outer), geo, init_then_update, body), env)

    def loops(self, run: LoopRun, env: list[For] | None) -> Stmt:
        """The loops of ``run`` inside ``env`` (None: attach nothing); attached stages go inside
        their loop, before the rest of the body."""
        return self._loop_level(run, 0, env)

    def _loop_level(self, run: LoopRun, position: int, env: list[For] | None) -> Stmt:
        if position == len(run.leaves):
            return run.body(env)
        stage, leaf = run.stage, run.leaves[position]
        note = stage.annotation(leaf)
        lo = leaf.min if leaf in stage.compute_op.reduce_axis else 0
        loop = For(leaf.var, to_expr(lo), to_expr(run.geo.extents[leaf]), symbolic_kind(stage, leaf, note.kind,
                   run.geo.extents[leaf]), seq(), note.thread_tag)
        if env is None:
            inner = self._loop_level(run, position + 1, None)
        else:
            inner_env = env + [loop]
            children = self.prepare_children(stage, leaf, run.geo, inner_env, run.expr)
            inner = self._loop_level(run, position + 1, inner_env)
            inner = self.wrap_children(children, inner_env, inner)
        return For(leaf.var, loop.min, loop.extent, loop.kind, inner, loop.thread_tag)

    def prepare_children(self, stage: Stage, leaf: IterVar, geo: LoopGeometry, env: list[For],
                         expr: Expr) -> list[Stage]:
        """Regions and buffers of the stages attached at ``leaf``, before the body reads them."""
        children = attached_in(self.schedule, stage, leaf)
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
    """``args`` as a list, once each argument is known to be a stored tensor of the schedule and
    every input and output is among them."""
    if not isinstance(args, (list, tuple)):
        raise LoweringError(
            f"lower {name}: the arguments must be a list of tensors, inputs then outputs "
            f"(e.g. [A, B, C]), got {type(args).__name__}")
    args = list(args)
    for arg in args:
        _check_arg(schedule, arg, name)
    for position, arg in enumerate(args):
        if any(other is arg for other in args[:position]):
            raise LoweringError(
                f"lower {name}: {arg.name} is listed twice in the arguments "
                f"{[a.name for a in args]}; list each tensor once")
    given = [schedule.stage_of(a) for a in args]
    needed = [(s, s.op.output.name) for s in schedule.stages
              if isinstance(s.op, PlaceholderOp) and schedule.readers(s)]
    needed += [(schedule.stage_of(t), t.name) for t in schedule.outputs]
    for stage, tensor_name in needed:
        if stage not in given:
            role = "an input (placeholder)" if isinstance(stage.op, PlaceholderOp) else "an output"
            raise LoweringError(
                f"lower {name}: {tensor_name} is {role} of the schedule but not in the arguments "
                f"{[a.name for a in args]}; add it")
    return args


def _check_arg(schedule: Schedule, arg: object, name: str) -> None:
    if not isinstance(arg, Tensor):
        raise LoweringError(f"lower {name}: argument {arg!r} is not a tensor")
    if arg not in schedule:
        raise LoweringError(
            f"lower {name}: argument {arg.name} is not used by this schedule's outputs "
            f"{[t.name for t in schedule.outputs]}; remove it from the argument list")
    match schedule.stage_of(arg).attach:
        case AtRoot():
            return
        case Inlined():
            how = "inlined"
        case At():
            how = "attached with compute_at"
    raise LoweringError(
        f"lower {name}: argument {arg.name} is {how} and so never stored whole; pass only "
        "inputs, outputs and root stages")


def lower_schedule(schedule: Schedule, args: Sequence[Tensor], name: str = "main") -> PrimFunc:
    """The loop-nest function of ``schedule`` with ``args`` (inputs then outputs) as parameters."""
    args, scalars = split_scalar_args(args, name)
    args = check_args(schedule, args, name)
    lowering = Lowering(schedule, args, name)
    params = [lowering.make_buffer(schedule.stage_of(a), a.shape) for a in args]
    for stage in schedule.stages:
        if isinstance(stage.op, PlaceholderOp) and stage not in lowering.buffers:
            lowering.make_buffer(stage, stage.op.shape)
    roots = [stage for stage in schedule.stages
             if isinstance(stage.op, ComputeOp) and isinstance(stage.attach, AtRoot)]
    temporaries = [lowering.make_buffer(stage, stage.op.shape) for stage in roots
                   if stage not in lowering.buffers]
    body = seq(*(lowering.nest(stage, []) for stage in roots))
    for buffer in reversed(temporaries):
        body = Allocate(buffer, body)
    func = PrimFunc(name, tuple(params), body, function_scalars(params, scalars, body, name))
    warn_inner_parallel(func, schedule)
    return func
