"""TVM's ``s[C].tensorize(var, intrin)``: the loops from ``var`` inward are replaced by the
statements of a tensor intrinsic (:mod:`tensorir.tensor_intrin`).

Matching (TVM's rule): each root axis of the stage has at most one loop under ``var`` made
from it (the axis itself, or the inner part of its splits); the intrinsic's axes match the
stage's last axes, and its reduction axes the stage's last reduction axes, with equal extents;
the others have one iteration under ``var``. The stage's body, each axis replaced by its value
at the tile's start plus the intrinsic's axis, must have the intrinsic's body's shape, and
each read ``A[...]`` must be a read of the intrinsic's input at the same indices plus an offset
that does not vary in the tile (the tile's start in ``A``). Lowering binds each declared
buffer's element offset to that start and its strides to the tensor's.

Where reduction loops lie outside ``var``, the tile is computed in pieces: the intrinsic's
reset stands where the stage's accumulators start, its update where they accumulate (with no
reset: the body at the first piece, the update at the others).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from tensorir.analysis import free_vars, linear_form
from tensorir.buffer import row_major_strides
from tensorir.errors import LoweringError, ScheduleError
from tensorir.expr import BinaryOp, BufferLoad, Const, Expr, IterVar, Reduce, TensorLoad, Var, binary, const
from tensorir.stmt import For, IfThenElse, Stmt, seq
from tensorir.tensor_intrin import TensorIntrin, declared_intrin
from tensorir.visitor import substitute

from .attachment import attached_in
from .geometry import derives, loop_geometry
from .relations import Split

if TYPE_CHECKING:
    from .lower import LoopRun, Lowering
    from .schedule import Stage


@dataclass(frozen=True, eq=False)
class Tensorized:
    """A stage's tensorize request: loop ``leaf`` and what replaces the loops from it inward."""

    leaf: IterVar
    intrin: TensorIntrin


@dataclass(frozen=True, eq=False)
class Match:
    """Where the tile lies: the stage's output index and each intrinsic input's tensor and
    index at the tile's start (expressions of the loops outside ``var``)."""

    out_index: tuple[Expr, ...]
    reads: dict  # intrinsic input tensor -> (stage tensor, start index)


class TensorizePrimitive:
    """Mixed into ``Stage``: ``tensorize``, recording the request in ``tensorized``."""

    tensorized: Tensorized | None = None

    def tensorize(self, var, tensor_intrin=None, *, intrin: str | None = None) -> None:
        """Replace loop ``var`` and the loops inside it by ``tensor_intrin``'s statements.

        Before: ``for j.inner in 0..16: for k in 0..64: C[i, j] += A[i, k] * B[j, k]``.
        After ``tensorize(j.inner, gemv)`` (gemv declared over a 16 x 64 tile)::

            <gemv's statements, A, B and C bound at (i, j.outer * 16)>

        ``intrin="gemv"`` (what a trace records) names instead the intrinsic most recently
        declared under that name in this process; the match with the tile is checked the same way.
        """
        stage: Stage = self  # type: ignore[assignment]
        if intrin is not None:
            who = f"s[{stage.name}].tensorize({getattr(var, 'name', var)}, intrin={intrin!r})"
            if tensor_intrin is not None:
                raise stage._fail(f"tensorize({getattr(var, 'name', var)}, intrin={intrin!r})", "both an "
                                  "intrinsic and intrin= are given", "pass one of them")
            tensor_intrin = declared_intrin(intrin, who)
        call = f"tensorize({getattr(var, 'name', var)}, {getattr(tensor_intrin, 'name', tensor_intrin)!r})"
        leaf = stage._leaf(call, var)
        if not isinstance(tensor_intrin, TensorIntrin):
            raise stage._fail(call, f"{tensor_intrin!r} is not a tensor intrinsic",
                              "declare one with ns.decl_tensor_intrin(op, fcompute)")
        if stage.op.num_outputs != 1:
            raise stage._fail(call, f"{stage.name} has {stage.op.num_outputs} outputs", "tensorize one-output stages")
        tensorized = Tensorized(leaf, tensor_intrin)
        match_tile(stage, tensorized, loop_geometry(stage, None), stage.compute_op.body,
                   lambda reason, hint: stage._fail(call, reason, hint))
        if stage.compute_op.reduce_axis and tensor_intrin.update is None and _outer_reduce(stage, leaf):
            raise stage._fail(call, f"reduction loops {[v.name for v in _outer_reduce(stage, leaf)]} lie outside "
                              f"{leaf.name}, so the tile is computed in pieces, but {tensor_intrin.name!r} has no "
                              "update", "return (body, reset, update) from fcompute, or tensorize a loop outside "
                              "the reduction loops")
        stage.tensorized = tensorized  # type: ignore[attr-defined]
        stage._record("tensorize", {"var": leaf.name, "intrin": tensor_intrin.name})


def _outer_reduce(stage: Stage, leaf: IterVar) -> list[IterVar]:
    """The loops outside ``leaf`` that run over reduction axes."""
    roots = stage.compute_op.reduce_axis
    return [v for v in stage.leaves[:stage.leaves.index(leaf)] if any(derives(stage, r, v) for r in roots)]


def _under(stage: Stage, leaf: IterVar) -> list[IterVar]:
    return stage.leaves[stage.leaves.index(leaf):]


def _inner_chain(stage: Stage, root: IterVar, leaf: IterVar) -> bool:
    """Whether ``leaf`` is ``root`` or the inner part of splits of it (its value adds to root's)."""
    current = leaf
    while current is not root:
        parent = next((r.parent for r in stage.relations if isinstance(r, Split) and r.inner is current), None)
        if parent is None:
            return False
        current = parent
    return True


def _tile_axes(stage: Stage, t: Tensorized, geo, fail) -> dict:
    """Each root axis -> (its loop under var or None, extent in the tile)."""
    under = _under(stage, t.leaf)
    out = {}
    for root in stage.root_axes:
        made = [leaf for leaf in under if derives(stage, root, leaf)]
        if len(made) > 1 or made and not _inner_chain(stage, root, made[0]):
            names = ", ".join(leaf.name for leaf in made)
            raise fail(f"axis {root.name} runs over loops {names} under {t.leaf.name} (split in several or fused)",
                       f"split {root.name} once and tensorize the loop that holds its inner part")
        extent = geo.extents[made[0]] if made else 1
        out[root] = (made[0] if made else None, extent)
    return out


def _pair_axes(stage_axes, intrin_axes, tile: dict, kind: str, fail) -> dict:
    """Stage axis -> intrinsic axis, the last ones paired; the others have one iteration."""
    if len(intrin_axes) > len(stage_axes):
        raise fail(f"the intrinsic has {len(intrin_axes)} {kind} axes, the stage {len(stage_axes)}",
                   "declare the intrinsic over a tile of the stage's shape")
    lead = len(stage_axes) - len(intrin_axes)
    for root in stage_axes[:lead]:
        if tile[root][1] != 1:
            raise fail(f"{kind} axis {root.name} has {tile[root][1]} iterations in the tile, which the intrinsic "
                       "does not cover", f"split {root.name} outside the tensorized loop")
    pairs = {}
    for root, axis in zip(stage_axes[lead:], intrin_axes):
        if tile[root][1] != axis.extent:
            raise fail(f"extent mismatch: {kind} axis {root.name} has {tile[root][1]} iterations in the tile, the "
                       f"intrinsic's axis {axis.name} {axis.extent}",
                       f"split {root.name} by {axis.extent}, or declare the intrinsic over {tile[root][1]}")
        pairs[root] = axis
    return pairs


def match_tile(stage: Stage, t: Tensorized, geo, body: Expr, fail) -> Match:
    """The tile under ``t.leaf`` checked against the intrinsic (see the module doc)."""
    intrin = t.intrin
    if stage.compute_op.dtype is not intrin.op.dtype:
        raise fail(f"dtype mismatch: {stage.name} is {stage.compute_op.dtype}, the intrinsic's output "
                   f"{intrin.op.dtype}", "declare the intrinsic's compute with the stage's types")
    tile = _tile_axes(stage, t, geo, fail)
    pairs = _pair_axes(stage.compute_op.axis, intrin.op.axis, tile, "output", fail)
    pairs |= _pair_axes(stage.compute_op.reduce_axis, intrin.op.reduce_axis, tile, "reduction", fail)
    for guard, roots in geo.guards:
        if any(root in pairs for root in roots):
            raise fail(f"the tile does not divide the loops (guard {guard})",
                       "split by a factor that divides the extent")
    starts, in_tile = {}, {}
    for root, (leaf, _) in tile.items():
        value = geo.values[root]
        if leaf is not None:
            low = _leaf_min(stage, leaf)
            starts[root.var] = substitute(value, {leaf.var: const(low, leaf.var.dtype)})
            axis = pairs.get(root)
            offset = const(0) if axis is None else axis.var if axis.min == 0 else \
                binary(BinaryOp.SUB, axis.var, axis.min)
            in_tile[root.var] = substitute(value, {leaf.var: offset if low == 0 else
                                                   binary(BinaryOp.ADD, const(low), offset)})
        else:
            starts[root.var] = in_tile[root.var] = value
    matcher = _Matcher(intrin, pairs, fail)
    matcher.same(substitute(body, in_tile), intrin.op.body)
    out_index = tuple(starts[iv.var] for iv in stage.compute_op.axis)
    return Match(out_index, matcher.reads)


def _leaf_min(stage: Stage, leaf: IterVar) -> int:
    return leaf.min if leaf in stage.compute_op.reduce_axis else 0


class _Matcher:
    """The stage's body (in the intrinsic's axes) against the intrinsic's, node by node."""

    def __init__(self, intrin: TensorIntrin, pairs: dict, fail):
        self.intrin, self.pairs, self.fail = intrin, pairs, fail
        axes = (*intrin.op.axis, *intrin.op.reduce_axis)
        self.axis_vars = frozenset(iv.var for iv in axes)
        #: an axis of one iteration is always at its start
        self.unit = {iv.var: const(iv.min, iv.var.dtype) for iv in axes if iv.extent == 1}
        self.reads: dict = {}

    def mismatch(self, a, b) -> ScheduleError:
        return self.fail(f"expression mismatch: the stage computes {a} where the intrinsic computes {b}",
                         "declare the intrinsic with the stage's expression (same operations, operand order, types)")

    def same(self, a, b) -> None:
        if isinstance(a, TensorLoad) and isinstance(b, TensorLoad):
            return self.read(a, b)
        if isinstance(a, IterVar) or isinstance(b, IterVar):
            if not (isinstance(a, IterVar) and isinstance(b, IterVar) and self.pairs.get(a) is b):
                raise self.mismatch(a, b)
            return None
        if type(a) is not type(b):
            raise self.mismatch(a, b)
        if isinstance(a, Var):
            if a is not b:
                raise self.mismatch(a, b)
            return None
        if isinstance(a, Reduce):
            kept = tuple(axis for axis in a.axes if axis in self.pairs)
            if len(kept) != len(b.axes):
                raise self.mismatch(a, b)
        for f in fields(a):
            x, y = getattr(a, f.name), getattr(b, f.name)
            if isinstance(a, Reduce) and f.name == "axes":
                x = tuple(axis for axis in x if axis in self.pairs)
            self.field(a, b, x, y)
        return None

    def field(self, a, b, x, y) -> None:
        if isinstance(x, (Expr, IterVar)) and isinstance(y, (Expr, IterVar)):
            self.same(x, y)
        elif isinstance(x, tuple) and isinstance(y, tuple) and len(x) == len(y):
            for one, other in zip(x, y):
                self.field(a, b, one, other)
        elif x != y or type(x) is not type(y):
            raise self.mismatch(a, b)

    def read(self, a: TensorLoad, b: TensorLoad) -> None:
        """``a`` reads the stage's tensor where ``b`` reads the intrinsic's input, shifted."""
        stage_tensor, tensor = a.tensor, b.tensor
        if stage_tensor.dtype is not tensor.dtype:
            raise self.fail(f"dtype mismatch: the stage reads {stage_tensor.op.name} of {stage_tensor.dtype} where "
                            f"the intrinsic reads {tensor.op.name} of {tensor.dtype}",
                            "declare the intrinsic's placeholders with the stage's types")
        lead = len(a.indices) - len(b.indices)
        if lead < 0:
            raise self.mismatch(a, b)
        start = [self.fixed(index, None, a, b) for index in a.indices[:lead]]
        start += [self.fixed(index, other, a, b) for index, other in zip(a.indices[lead:], b.indices)]
        known = self.reads.get(tensor)
        if known is not None and (known[0] is not stage_tensor or
                                  any(linear_form(binary(BinaryOp.SUB, x, y)) != ({}, 0)
                                      for x, y in zip(known[1], start))):
            raise self.fail(f"the stage reads {stage_tensor.op.name} where the intrinsic reads {tensor.op.name} at "
                            "places that do not move together", "declare the intrinsic with the stage's indices")
        self.reads.setdefault(tensor, (stage_tensor, tuple(start)))

    def fixed(self, index: Expr, other: Expr | None, a, b) -> Expr:
        """``index - other``, which must not vary over the tile (the tile's start)."""
        diff = index if other is None else binary(BinaryOp.SUB, index, other)
        form = linear_form(substitute(diff, self.unit))
        if form is None or any(coef and free_vars(term) & self.axis_vars for term, coef in form[0].items()):
            raise self.fail(f"index mismatch: the stage reads {a} where the intrinsic reads {b}, at places that "
                            "differ by more than an offset", "declare the intrinsic with the stage's indices")
        total: Expr = const(form[1])
        for term, coef in form[0].items():
            if coef:
                total = binary(BinaryOp.ADD, total, term if coef == 1 else binary(BinaryOp.MUL, term, const(coef)))
        return total


# -- lowering ---------------------------------------------------------------------------------
def not_tensorized(stage) -> None:
    """Refuse a tensorized stage whose reduction is bound across GPU threads: the cross-thread
    nest has no loops an intrinsic could replace."""
    if getattr(stage, "tensorized", None) is not None:
        raise LoweringError(
            f"s[{stage.name}].tensorize: the stage's reduction is bound across GPU threads (a "
            "cross-thread reduction), which an intrinsic's loops cannot replace; tensorize a stage "
            "whose reduction runs within one thread, or drop the thread binding of its reduction axis")


def tensorized_at(lowering: Lowering, run: LoopRun, position: int, env) -> Stmt | None:
    """The intrinsic's statement in place of the loops of ``run`` from ``position`` inward,
    where they lie under the stage's tensorized loop; None elsewhere."""
    stage = run.stage
    t: Tensorized | None = getattr(stage, "tensorized", None)
    if t is None:
        return None

    def fail(reason: str, hint: str) -> LoweringError:
        return LoweringError(f"lower: s[{stage.name}].tensorize({t.leaf.name}, {t.intrin.name!r}): {reason}; {hint}")

    if t.leaf not in stage.leaves:
        raise fail(f"loop {t.leaf.name} was split or fused after it was tensorized, so it is no longer a loop",
                   "tensorize one of the loops it became")
    if stage.leaves.index(run.leaves[position]) < stage.leaves.index(t.leaf):
        return None

    for leaf in _under(stage, t.leaf):
        if attached_in(lowering.schedule, stage, leaf):
            raise fail(f"a stage is computed at loop {leaf.name}, which the intrinsic replaces",
                       "compute_at a loop outside the tensorized one")
    from .lower import stage_bodies

    body = stage_bodies(lowering.schedule, stage, lowering.bodies)[0]
    match = match_tile(stage, t, run.geo, body, fail)
    stmt = _placed(stage, t, run, env, fail)
    return _bind(lowering, stage, t.intrin, match, stmt, env, fail)


def _placed(stage: Stage, t: Tensorized, run: LoopRun, env, fail) -> Stmt:
    """Which of the intrinsic's statements stands here (see the module doc)."""
    intrin = t.intrin
    outer_reduce = _outer_reduce(stage, t.leaf)
    if not outer_reduce:
        if intrin.body is None:
            raise fail("the intrinsic has no body, only an update", "return the body from fcompute, or tensorize "
                       "a loop inside a reduction loop")
        return intrin.body
    if env is None:  # where the accumulators start
        return intrin.reset if intrin.reset is not None else seq()
    if intrin.update is None:
        raise fail(f"reduction loops {[leaf.name for leaf in outer_reduce]} lie outside the tensorized loop, so the "
                   "tile is computed in pieces, but the intrinsic has no update",
                   "return (body, reset, update) from fcompute, or tensorize a loop outside the reduction loops")
    if intrin.reset is not None:
        return intrin.update
    if intrin.body is None:
        raise fail("the intrinsic has neither a reset nor a body to start the tile", "return (body, reset, update)")
    first = None
    for leaf in outer_reduce:
        at_min = binary(BinaryOp.EQ, leaf.var, const(_leaf_min(stage, leaf), leaf.var.dtype))
        first = at_min if first is None else binary(BinaryOp.AND, first, at_min)
    return IfThenElse(first, intrin.body, intrin.update)


def _strides(buffer, fail) -> tuple:
    dense = row_major_strides(buffer.shape)
    if buffer.strides and tuple(buffer.strides) != tuple(dense):
        raise fail(f"buffer {buffer.name} has padded strides (storage_align)", "drop storage_align of that stage")
    return dense


def _flat(indices, strides) -> Expr:
    total: Expr = const(0)
    for index, stride in zip(indices, strides):
        total = binary(BinaryOp.ADD, total, binary(BinaryOp.MUL, index, const(stride) if isinstance(stride, int)
                                                   else stride))
    return total


def _bind_values(declared, buffer, indices, fail) -> dict:
    """Values of ``declared``'s offset and stride variables for a tile at ``indices`` of ``buffer``."""
    strides = _strides(buffer, fail)
    real = strides[len(strides) - len(declared.shape):]
    values: dict = {}
    given = declared.strides or row_major_strides(declared.shape)
    for dim, (mine, theirs) in enumerate(zip(given, real)):
        if isinstance(mine, Var):
            values[mine] = theirs if isinstance(theirs, Expr) else const(theirs, mine.dtype)
        elif mine != theirs:
            raise fail(f"buffer {declared.name} has stride {mine} in dimension {dim}, but the tile lies in "
                       f"{buffer.name} with stride {theirs}", "declare its strides as variables (ns.var)")
    offset = _flat(indices, strides)
    if isinstance(declared.elem_offset, Var):
        values[declared.elem_offset] = offset
    elif not (isinstance(offset, Const) and offset.value == declared.elem_offset):
        raise fail(f"buffer {declared.name} has elem_offset={declared.elem_offset}, but the tile starts elsewhere in "
                   f"{buffer.name}", "declare elem_offset as a variable, or leave it out")
    return values


def _bind(lowering: Lowering, stage: Stage, intrin: TensorIntrin, match: Match, stmt: Stmt, env, fail) -> Stmt:
    from .extern_stage import _Bind
    from .lower import _ToBuffers

    to_buffers = _ToBuffers(lowering, {})
    binding, values = {}, {}
    for declared, tensor in zip(intrin.in_buffers, intrin.inputs):
        if tensor not in match.reads:
            raise fail(f"the intrinsic's compute does not read {tensor.op.name}, so its buffer {declared.name} "
                       "cannot be placed", "read every input in the intrinsic's compute")
        stage_tensor, start = match.reads[tensor]
        load = to_buffers.visit(TensorLoad(stage_tensor, start, stage_tensor.dtype))
        assert isinstance(load, BufferLoad)
        binding[declared.placeholder] = load.buffer
        values |= _bind_values(declared, load.buffer, load.indices, fail)
    out = lowering.buffer_of(stage)
    binding[intrin.out_buffer.placeholder] = out
    values |= _bind_values(intrin.out_buffer, out, lowering.shift(stage, match.out_index), fail)
    ranges = {loop.var: (loop.min.value, loop.min.value + loop.extent.value - 1) for loop in env or ()
              if isinstance(loop, For) and isinstance(loop.min, Const) and isinstance(loop.extent, Const)}
    return _Bind(intrin.name, binding).stmt(substitute(stmt, values), ranges)


__all__ = ["Match", "TensorizePrimitive", "Tensorized", "match_tile", "not_tensorized", "tensorized_at"]
