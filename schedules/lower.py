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

from tensorir.buffer import Buffer, Scope
from tensorir.conditions import conjunction
from tensorir.errors import LoweringError
from tensorir.expr import BinaryOp, BufferLoad, Expr, IterVar, Reduce, TensorLoad, binary, const
from tensorir.scalar_param import ScalarParamOp
from tensorir.stmt import Allocate, For, IfThenElse, PrimFunc, Stmt, Store, seq
from tensorir.symbolic import to_expr
from tensorir.tensor import ComputeOp, PlaceholderOp, Tensor
from tensorir.visitor import Mutator, substitute

from .attached_args import attached_params, param_buffer
from .attachment import attached_in, outside_readers, stranded
from .bounds import Region, attached_region, storage_scope
from .extern_stage import extern_nest, is_extern
from .geometry import LoopGeometry, derives, loop_geometry
from .parallel import warn_inner_parallel
from .prefetch import insert_prefetches, read_from
from .reduction import first_point, init_stores, late_init, scratch_buffer, update
from .relations import At, AtRoot, Inlined
from .scalars import function_scalars, split_scalar_args, symbolic_kind
from .scan_lowering import alias_scan_buffers, is_scan_state, root_nest, shared_steps
from .schedule import Schedule, Stage
from .storage import aligned_strides
from .symbolic_split import requirements
from .tensorize import not_tensorized, tensorized_at
from .thread_axis import add_predicate_guard
from .vthread import lowered_kind


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
                return TensorLoad(producer.op.outputs[node.tensor.value_index], indices, node.dtype)


def stage_body(schedule: Schedule, stage: Stage, bodies: dict) -> Expr:
    return stage_bodies(schedule, stage, bodies)[0]


def stage_bodies(schedule: Schedule, stage: Stage, bodies: dict) -> tuple[Expr, ...]:
    """The body of each output of ``stage`` with its reads resolved (one, unless the compute has
    several outputs)."""
    if stage not in bodies:
        inline = _Inline(schedule, stage, bodies)
        bodies[stage] = tuple(inline.visit(body) for body in stage.compute_op.bodies)
    return bodies[stage]


def _mixed_loops(stage: Stage, inner, reduce_roots) -> bool:
    """Whether a loop from the first reduction loop in runs over a data axis too (a data loop
    fused with a reduction loop): no copy of the data loops alone can then start the
    accumulators, and after a reorder the nest need not reach an output's first point first."""
    data_roots = stage.compute_op.axis
    return any(any(derives(stage, r, leaf) for r in data_roots) and any(derives(stage, r, leaf) for r in reduce_roots)
               for leaf in inner)


def _reads_of(bodies: tuple[Expr, ...]) -> Expr | tuple[Expr, ...]:
    """What region inference walks for the reads of a stage: its body, or all its bodies."""
    return bodies[0] if len(bodies) == 1 else bodies


class _ToBuffers(Mutator):
    """Tensor accesses -> buffer loads (shifted by the buffer's region); axes -> loop values."""

    def __init__(self, lowering: Lowering, values: dict):
        super().__init__()
        self.lowering, self.values = lowering, values

    def rewrite(self, node):
        if isinstance(node, TensorLoad):
            indices = tuple(self.visit(i) for i in node.indices)
            stage = self.lowering.schedule.stage_of(node.tensor)
            if not self.lowering.has_buffer(stage, node.tensor.value_index):
                raise _not_computed_yet(stage)
            buffer = self.lowering.buffer_of(stage, node.tensor.value_index)
            return BufferLoad(buffer, self.lowering.shift(stage, indices), node.dtype)
        return self.values.get(node)


def _not_computed_yet(producer: Stage) -> LoweringError:
    """A read placed before its producer's attach loop: only a reduction's init= can be (the
    initialisation runs before the reduction loops, and its copy of the spatial loops inside
    them hosts nothing)."""
    match producer.attach:
        case At(stage=consumer, axis=axis):
            where = f"inside loop {axis.name} of {consumer.name}"
        case _:
            where = "later"
    return LoweringError(
        f"lower: the initial value (init=) of a reduction reads {producer.name}, which is computed "
        f"{where}, after the initialisation runs; compute_at {producer.name} at a loop outside the "
        "reduction loops, or leave it at root")


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
class _ReductionParts:
    """What a reduction's statements are made of: the converter of definition expressions, the
    bodies (one per output), the output buffers and the index of the element they write."""

    to_buffers: _ToBuffers
    bodies: tuple[Expr, ...]
    outs: list[Buffer]
    index: tuple[Expr, ...]


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
    expr: Expr | tuple[Expr, ...]


@dataclass
class Lowering:
    """The state of one lowering: a buffer, a region (when attached) and a body per stage."""

    schedule: Schedule
    args: list[Tensor]
    name: str
    buffers: dict[Stage, Buffer] = field(default_factory=dict)
    #: the buffers of the outputs after the first of stages with several outputs
    more_buffers: dict[tuple[Stage, int], Buffer] = field(default_factory=dict)
    regions: dict[Stage, Region] = field(default_factory=dict)
    #: the scope of each attached stage's buffer (see :func:`schedules.bounds.storage_scope`)
    scopes: dict[Stage, Scope] = field(default_factory=dict)
    bodies: dict[Stage, Expr] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    #: attached stages listed among the arguments: they store into their parameter, at the
    #: elements' own indices, as TVM binds such a stage to the caller's buffer
    stored_in_params: set[Stage] = field(default_factory=set)

    def shift(self, stage: Stage, indices: tuple[Expr, ...]) -> tuple[Expr, ...]:
        region = self.regions.get(stage)
        if region is None or stage in self.stored_in_params:
            return indices
        return tuple(binary(BinaryOp.SUB, i, b) for i, b in zip(indices, region.bases))

    def unique_name(self, base: str) -> str:
        name, n = base, 1
        while name in self.names:
            name = f"{base}_{n}"
            n += 1
        self.names.add(name)
        return name

    def make_buffer(self, stage: Stage, shape: tuple[int, ...], value_index: int = 0, param: bool = False) -> Buffer:
        """``stage``'s buffer (``param``: a parameter, the caller's dense array in global memory)."""
        base = stage.name if stage.op.num_outputs == 1 else f"{stage.name}.v{value_index}"
        scope = Scope.GLOBAL if param else self.scopes.get(stage, stage.scope)
        buffer = Buffer(self.unique_name(base), shape, stage.op.output_dtype(value_index), scope,
                        () if param else aligned_strides(shape, stage.alignments),
                        double_buffered=stage.double_buffered and scope is Scope.SHARED and stage in self.regions,
                        min_blocks=stage.min_blocks, by_value=isinstance(stage.op, ScalarParamOp))
        if value_index == 0:
            self.buffers[stage] = buffer
        else:
            self.more_buffers[(stage, value_index)] = buffer
        return buffer

    def make_buffers(self, stage: Stage, shape: tuple[int, ...]) -> list[Buffer]:
        """The buffers of every output of ``stage`` that has none yet."""
        return [self.make_buffer(stage, stage.op.output_shape(n) if is_extern(stage) else shape, n)
                for n in range(stage.op.num_outputs) if not self.has_buffer(stage, n)]

    def has_buffer(self, stage: Stage, value_index: int = 0) -> bool:
        return stage in self.buffers if value_index == 0 else (stage, value_index) in self.more_buffers

    def buffer_of(self, stage: Stage, value_index: int = 0) -> Buffer:
        return self.buffers[stage] if value_index == 0 else self.more_buffers[(stage, value_index)]

    def scratch(self, name: str, dtype) -> Buffer:
        return scratch_buffer(self.unique_name(name), dtype)

    # -- nests -----------------------------------------------------------------------------
    def nest(self, stage: Stage, env: list[For]) -> Stmt:
        """The loop nest computing ``stage`` (over its region, when attached)."""
        if is_extern(stage):
            return extern_nest(self, stage)
        op = stage.compute_op
        geo = loop_geometry(stage, self.regions.get(stage))
        add_predicate_guard(stage, geo)
        values = {root.var: geo.values[root] for root in stage.root_axes}
        to_buffers = _ToBuffers(self, values)
        bodies = stage_bodies(self.schedule, stage, self.bodies)
        body = _reads_of(bodies)
        outs = [self.buffer_of(stage, n) for n in range(op.num_outputs)]
        index = self.shift(stage, tuple(to_buffers.visit(iv.var) for iv in op.axis))
        if isinstance(bodies[0], Reduce):
            from .cross_thread import cross_thread_nest, thread_bound_reduction

            if thread_bound_reduction(stage) is not None:
                not_tensorized(stage)
                return cross_thread_nest(self, stage, env)
        if not isinstance(bodies[0], Reduce):
            def store(_env):
                stores = [Store(out, index, to_buffers.visit(one)) for out, one in zip(outs, bodies)]
                return _guarded(seq(*stores), geo.all_guards())

            return self.loops(LoopRun(stage, tuple(stage.leaves), geo, store, body), env)
        return self.reduction(stage, env, geo, _ReductionParts(to_buffers, bodies, outs, index))

    def reduction(self, stage: Stage, env: list[For], geo: LoopGeometry, parts: _ReductionParts) -> Stmt:
        """The nest of a reduction: the loops outside the first reduction loop, then the
        initialisation (with its own copy of the spatial loops inside that loop), then the update
        loops. An init= that reads a stage computed inside the reduction loops is instead stored
        at the first point of the reduction domain, inside them (see :func:`late_init`)."""
        reduce_roots = set(stage.compute_op.reduce_axis)
        first = next(p for p, leaf in enumerate(stage.leaves)
                     if any(derives(stage, r, leaf) for r in reduce_roots))
        outer, inner = stage.leaves[:first], stage.leaves[first:]
        spatial_inner = [leaf for leaf in inner if not any(derives(stage, r, leaf) for r in reduce_roots)]
        late = late_init(stage, parts.bodies, stage.leaves[first:])
        mixed = not late and _mixed_loops(stage, inner, reduce_roots)
        convert, body = parts.to_buffers.visit, _reads_of(parts.bodies)

        def init(_env):
            return init_stores(parts.outs, parts.index, parts.bodies, convert)

        def accumulate(_env):
            step = update(parts.outs, parts.index, parts.bodies, convert, self.scratch)
            if late:
                step = seq(IfThenElse(first_point(geo, reduce_roots), init(None)), step)
            return _guarded(step, geo.all_guards())

        def init_then_update(env2):
            # the initialisation repeats the spatial loops inside the reduction; nothing attaches there
            def guarded_init(_env):
                return _guarded(init(_env), geo.guards_without(reduce_roots))

            if mixed:
                before = self._first_points_init(stage, inner, geo, reduce_roots, init, body)
            elif late:
                before = None
            else:
                before = self.loops(LoopRun(stage, tuple(spatial_inner), geo, guarded_init, body), None)
            return seq(before, self.loops(LoopRun(stage, tuple(inner), geo, accumulate, body), env2))

        return self.loops(LoopRun(stage, tuple(outer), geo, init_then_update, body), env)

    def _first_points_init(self, stage: Stage, inner, geo: LoopGeometry, reduce_roots, init, body) -> Stmt:
        """The initialisation where a loop runs over data and reduction axes at once (fused):
        the loops over data axes, each output starting where its reduction domain does (a loop
        over reduction axes only is at its first iteration there), before any update."""
        data_roots = stage.compute_op.axis
        over_data = tuple(leaf for leaf in inner if any(derives(stage, r, leaf) for r in data_roots))
        firsts = {leaf.var: const(leaf.min) for leaf in inner if leaf not in over_data}
        mixed_roots = [r for r in reduce_roots if any(derives(stage, r, leaf) for leaf in over_data)]

        def first_points(_env):
            stmt = _guarded(IfThenElse(first_point(geo, mixed_roots), init(None)), geo.all_guards())
            return substitute(stmt, firsts)

        return self.loops(LoopRun(stage, over_data, geo, first_points, body), None)

    def loops(self, run: LoopRun, env: list[For] | None) -> Stmt:
        """The loops of ``run`` inside ``env`` (None: attach nothing); attached stages go inside
        their loop, before the rest of the body."""
        return self._loop_level(run, 0, env)

    def _loop_level(self, run: LoopRun, position: int, env: list[For] | None) -> Stmt:
        if position == len(run.leaves):
            return run.body(env)
        tensorized = tensorized_at(self, run, position, env)
        if tensorized is not None:
            return tensorized
        stage, leaf = run.stage, run.leaves[position]
        loop = _empty_loop(stage, leaf, run.geo)
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
        for child, region in self.child_regions(stage, leaf, geo, env, expr):
            self.regions[child] = region
            self.scopes[child] = storage_scope(child, env)
            self.make_buffers(child, region.shape)
        return children

    def child_regions(self, stage: Stage, leaf: IterVar, geo: LoopGeometry, env: list[For],
                      expr: Expr) -> list[tuple[Stage, Region]]:
        """The region of each stage attached at ``leaf`` (no buffers made: also asked ahead of
        time, for the stages inside a loop that a producer's region must cover)."""
        done: list = []
        regions = []
        # consumers come after their producers in stage order: infer regions backwards so that a
        # producer's region covers what later siblings at this loop read of it
        for child in reversed(attached_in(self.schedule, stage, leaf)):
            deeper = self.deeper_readers(child, stage, leaf, geo, env, expr, done)
            region = attached_region(self.schedule, child, stage, geo, env, expr, done, deeper)
            regions.append((child, region))
            done.append((child, loop_geometry(child, region),
                         _reads_of(stage_bodies(self.schedule, child, self.bodies))))
        return regions[::-1]

    def deeper_readers(self, child: Stage, stage: Stage, leaf: IterVar, geo: LoopGeometry,
                       env: list[For], expr: Expr, siblings: list) -> list:
        """``(stage, geometry, body)`` of every stage computed inside loops within ``leaf`` of
        ``stage`` (or inside ``siblings``), where some reader of ``child`` runs: TVM's
        compute_at at a loop enclosing a reader's own attach point."""
        place = At(stage, leaf)
        if all(c is stage or c.attach == place for c in self.schedule.consumers(child)):
            return []
        found: list = []
        position = stage.leaves.index(leaf)
        self._stages_inside(stage, stage.leaves[position + 1:], geo, env, expr, found)
        for sibling, sibling_geo, sibling_body in siblings:
            inside: list = []
            self._stages_inside(sibling, sibling.leaves, sibling_geo, env, sibling_body, inside)
            # the sibling's loops bound the regions of the stages inside it
            found += [(sibling, sibling_geo, sibling_body)] + inside if inside else []
        return found

    def _stages_inside(self, stage: Stage, leaves, geo: LoopGeometry, env: list[For], expr: Expr,
                       found: list) -> None:
        for leaf in leaves:
            env = env + [_empty_loop(stage, leaf, geo)]
            for inner, region in self.child_regions(stage, leaf, geo, env, expr):
                inner_geo = loop_geometry(inner, region)
                inner_body = _reads_of(stage_bodies(self.schedule, inner, self.bodies))
                found.append((inner, inner_geo, inner_body))
                self._stages_inside(inner, inner.leaves, inner_geo, env, inner_body, found)

    def wrap_children(self, children: list[Stage], env: list[For], inner: Stmt) -> Stmt:
        if not children:
            return inner
        body = seq(*(self.nest(child, env) for child in children), inner)
        for child in reversed(children):
            for n in reversed(range(child.op.num_outputs)):
                if child not in self.stored_in_params:
                    body = Allocate(self.buffer_of(child, n), body)
        return body


def _empty_loop(stage: Stage, leaf: IterVar, geo: LoopGeometry) -> For:
    """Loop ``leaf`` of ``stage``, its body still empty."""
    note = stage.annotation(leaf)
    lo = leaf.min if leaf in stage.compute_op.reduce_axis else 0
    return For(leaf.var, to_expr(lo), to_expr(geo.extents[leaf]),
               symbolic_kind(stage, leaf, lowered_kind(note.kind, note.thread_tag), geo.extents[leaf]), seq(),
               note.thread_tag)


def _guarded(stmt: Stmt, guards: list[Expr]) -> Stmt:
    if not guards:
        return stmt
    return IfThenElse(conjunction(guards), stmt)


def check_args(schedule: Schedule, args: Sequence[Tensor], name: str) -> list[Tensor]:
    """``args`` as a list, once each argument is known to be a stored tensor of the schedule and
    every input is among them. An output left out is computed into a temporary buffer of the
    function, as TVM does (its ``test_schedule_scan`` lowers a scan with only the state listed)."""
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
    # an output of a compute with several outputs is given when that very output is
    given = [(schedule.stage_of(a), a.value_index) for a in args if a in schedule]
    needed = [(s, 0, s.op.output.name) for s in schedule.stages
              if isinstance(s.op, PlaceholderOp) and schedule.readers(s) and not is_scan_state(schedule, s)]
    for stage, value_index, tensor_name in needed:
        if (stage, value_index) not in given:
            raise LoweringError(
                f"lower {name}: {tensor_name} is an input (placeholder) of the schedule but not in the arguments "
                f"{[a.name for a in args]}; add it")
    return args


def _check_arg(schedule: Schedule, arg: object, name: str) -> None:
    if not isinstance(arg, Tensor):
        raise LoweringError(f"lower {name}: argument {arg!r} is not a tensor")
    if arg not in schedule and isinstance(arg.op, PlaceholderOp):
        return  # an input the outputs do not read: a parameter the kernel ignores, as in TVM
    if arg not in schedule:
        raise LoweringError(
            f"lower {name}: argument {arg.name} is not used by this schedule's outputs "
            f"{[t.name for t in schedule.output_tensors]}; remove it from the argument list")
    if isinstance(schedule.stage_of(arg).attach, Inlined):
        raise LoweringError(
            f"lower {name}: argument {arg.name} is inlined and so never stored whole; pass only "
            "inputs, outputs and root stages (or stages attached with compute_at)")


def _check_waiting(schedule: Schedule, name: str, shared: frozenset = frozenset()) -> None:
    """A producer attached before its other readers were moved inside its loop (an order TVM
    accepts) must not still have readers outside it (``shared``: stages of a scan's steps that
    the later updates read in the same step loop)."""
    found = stranded(schedule, known=shared)
    if found is None:
        return
    producer, place = found
    readers = [c.name for c in outside_readers(schedule, producer, place)]
    raise LoweringError(
        f"lower {name}: {producer.name} is computed inside loop {place.axis.name} of "
        f"{place.stage.name} (compute_at), but {readers} still read it outside that loop; "
        f"compute_inline them, or compute_at them at that loop or inside it, or compute_root "
        f"{producer.name}")


def _unread_input(lowering: Lowering, tensor: Tensor) -> Buffer:
    """The parameter of a placeholder listed among the arguments that no stage reads (TVM's
    ``check_grad`` passes every input to a gradient that may not depend on all of them)."""
    return Buffer(lowering.unique_name(tensor.name), tensor.shape, tensor.dtype)


def lower_schedule(schedule: Schedule, args: Sequence[Tensor], name: str = "main") -> PrimFunc:
    """The loop-nest function of ``schedule`` with ``args`` (inputs then outputs) as parameters."""
    args, scalars = split_scalar_args(args, name)
    args = check_args(schedule, args, name)
    _check_waiting(schedule, name, shared_steps(schedule, name))
    lowering = Lowering(schedule, args, name)
    params = [param_buffer(lowering, schedule.stage_of(a), a) if a in schedule else _unread_input(lowering, a)
              for a in args]
    lowering.stored_in_params = attached_params(schedule, args, name)
    for stage in schedule.stages:
        if isinstance(stage.op, PlaceholderOp) and stage not in lowering.buffers:
            lowering.make_buffer(stage, stage.op.shape)
    scans = alias_scan_buffers(lowering)
    roots = [stage for stage in schedule.stages
             if (isinstance(stage.op, ComputeOp) or is_extern(stage)) and isinstance(stage.attach, AtRoot)]
    temporaries = scans + [buffer for stage in roots for buffer in lowering.make_buffers(stage, stage.op.shape)]
    body = seq(*(root_nest(lowering, stage) for stage in roots))
    body = insert_prefetches(body, schedule.stages, lambda stage, t: lowering.buffers.get(read_from(stage, t)))
    for buffer in reversed(temporaries):
        body = Allocate(buffer, body)
    bound = function_scalars(params, scalars, body, name)
    func = PrimFunc(name, tuple(params), body, bound, requirements(schedule, bound))
    warn_inner_parallel(func, schedule)
    return func
