"""TVM's ``Stage.transform_layout``: store a stage's tensor in another layout.

``s[B].transform_layout(lambda i, j: [j, i])`` keeps what ``B`` computes but stores element
``B[i, j]`` at ``[j, i]`` of a buffer whose shape is the mapping's range (here the transposed
shape). As in TVM: the stage's loops become loops over the new indices (returned, for later
``split``/``reorder``/``fuse``/``parallel``/``vectorize``), its body reads at the inverse mapping,
its readers read through the mapping, and where the tensor is an argument of ``lower``/``build``
the caller's array is in the new layout (a placeholder's too).

The mapping is a function of the stage's axes (positional, ``*indices`` and keyword-only
parameters as in TVM's ``IndexMap.from_func``) returning the new indices: quasi-affine
expressions of the axes (sums, constant multiples, ``//`` and ``%`` by positive constants) that
map the tensor's box one-to-one onto a box starting at 0; :mod:`tensorir.isl_layout` checks
that and inverts it. The work is a rewrite of the operations (``Schedule.replace_op``): the
stage gets a compute over the new axes, each reader a compute whose loads are mapped, so
lowering needs nothing new. The new loops are named ``axis0``, ``axis1``, ... as in TVM.
``te.AXIS_SEPARATOR`` (several physical dimensions) is refused: Nestor's buffers are flat.

Earlier primitives follow TVM's rule (``Stage::transform_layout`` in
src/te/schedule/schedule_lang.cc): every data axis must still be a loop (not split or fused) and
the data loops adjacent (reordered among themselves is fine; the new loops take their place);
reduction loops may have been split, fused, reordered or marked, the stage attached elsewhere,
and stages attached at its reduction loops. Where TVM would silently drop a mark or an attachment
at a replaced data loop, Nestor refuses at the call.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import TYPE_CHECKING

from tensorir.errors import ScheduleError
from tensorir.expr import (
    Binary,
    BinaryOp,
    Cast,
    Const,
    Expr,
    IterKind,
    IterVar,
    TensorLoad,
    Unary,
    UnaryOp,
    Var,
    as_expr,
    binary,
)
from tensorir.intmath import as_int
from tensorir.isl_layout import LayoutRefused, invert_layout
from tensorir.tensor import ComputeOp, PlaceholderOp
from tensorir.visitor import Mutator, substitute

from .attachment import attached_in
from .cache import definition
from .trace import Step

if TYPE_CHECKING:
    from .schedule import Stage

SUPPORTED = ("transform_layout takes quasi-affine maps onto a box: permutations (lambda i, j: [j, i]), "
             "splits (lambda i: [i // 4, i % 4]) and flattenings (lambda i, j: [i * n + j]) of the axes")


class _AxisSeparator:
    """TVM's ``te.AXIS_SEPARATOR``: a marker between groups of physical dimensions."""

    def __repr__(self) -> str:
        return "AXIS_SEPARATOR"


AXIS_SEPARATOR = _AxisSeparator()


class TransformLayoutPrimitive:
    """Mixed into ``Stage``: :meth:`transform_layout`."""

    def transform_layout(self, mapping_function=None, *, layout=None) -> list[IterVar]:
        """Store this stage's tensor in the layout ``mapping_function`` gives (TVM's primitive).

        Parameters
        ----------
        mapping_function : callable
            A function of the tensor's axes returning the new indices, e.g. ``lambda i, j: [j, i]``
            or ``lambda i: [i // 4, i % 4]``.
        layout : list, optional
            The mapping as a trace records it (used by trace replay instead of a function).

        Returns
        -------
        list of IterVar
            The loops over the new indices, which later primitives split, reorder or mark.
        """
        return transform_layout(self, mapping_function, layout)


def transform_layout(stage: Stage, mapping_function, layout) -> list[IterVar]:
    """The work of :meth:`TransformLayoutPrimitive.transform_layout`."""
    call = f"s[{stage.name}].transform_layout(...)"
    variables, extents = _box(stage, call)
    if layout is None:
        indices = _mapped(mapping_function, variables, stage, call)
    else:
        indices = tuple(decode(item, variables, call) for item in layout)
    new_vars = tuple(Var(f"axis{d}") for d in range(len(indices)))
    try:
        found = invert_layout(list(zip(variables, extents)), indices, new_vars)
    except LayoutRefused as why:
        raise ScheduleError(f"{call}: {why}; {SUPPORTED}") from None
    axes = tuple(IterVar(var, 0, n, IterKind.DATA_PAR) for var, n in zip(new_vars, found.shape))
    readers = stage.schedule.readers(stage)
    for reader in readers:
        _check_reader(reader, stage, call)
    old_axes = stage.op.axis if isinstance(stage.op, ComputeOp) else ()
    new_op = _relaid(stage, variables, axes, found.inverse)
    for reader in readers:
        _read_relaid(reader, stage, variables, indices, new_op)
    stage.schedule.replace_op(stage, new_op)
    if isinstance(new_op, ComputeOp):
        stage.leaves = _new_leaves(stage.leaves, old_axes, axes)
    encoded = tuple(encode(index, variables) for index in indices)
    stage.schedule.trace.record(Step("transform_layout", stage.name, (
        ("layout", None if None in encoded else encoded),), tuple(v.name for v in new_vars)))
    return list(axes)


def _box(stage: Stage, call: str) -> tuple[tuple[Var, ...], tuple[int, ...]]:
    """The variables of the tensor's axes and their extents; TVM's rule on earlier primitives holds."""
    op = stage.op
    if isinstance(op, PlaceholderOp):
        variables = tuple(Var(f"i{d}") for d in range(len(op.shape)))
        return variables, _extents(op.shape, stage, call)
    if not isinstance(op, ComputeOp):
        raise ScheduleError(f"{call}: {stage.name} is computed by a {type(op).__name__}, whose code decides "
                            "its layout; transform the layout of a compute or a placeholder")
    _check_earlier_primitives(stage, op.axis, call)
    return tuple(a.var for a in op.axis), _extents(op.shape, stage, call)


def _check_earlier_primitives(stage: Stage, data: tuple[IterVar, ...], call: str) -> None:
    """TVM's rule (src/te/schedule/schedule_lang.cc, ``Stage::transform_layout``): every data axis is
    still a loop, and they are adjacent loops; reduction loops may be split, fused or reordered.
    Nestor also refuses what TVM would silently drop: marks and stages attached at a data axis."""
    fix = "call transform_layout first and schedule the loops it returns"
    moved = [a.name for a in data if a not in stage.leaves]
    if moved:
        raise ScheduleError(f"{call}: axis {moved[0]} of {stage.name} was already split or fused, so it is no "
                            f"longer a loop to transform (TVM refuses this too); {fix}")
    places = sorted(stage.leaves.index(a) for a in data)
    between = [leaf.name for leaf in stage.leaves[places[0]:places[-1] + 1] if leaf not in data] if places else []
    if between:
        raise ScheduleError(f"{call}: loops {between} were reordered between the axes of {stage.name} (TVM "
                            f"transforms only adjacent data loops); reorder them outside the axes or {fix}")
    marked = [a.name for a in data if a in stage.annotations or a in stage.pragmas
              or any(p.loop is a for p in stage.prefetches)]
    if marked:
        raise ScheduleError(f"{call}: loop {marked[0]} of {stage.name} is marked (parallel, vectorize, unroll, "
                            f"bind, pragma, prefetch or tensorize) and transform_layout replaces it; {fix}")
    inside = [t.name for t in attached_in(stage.schedule, stage) if t.attach.axis in data]
    if inside:
        raise ScheduleError(f"{call}: {inside[0]} is computed at a data loop of {stage.name}, which "
                            f"transform_layout replaces; {fix}, then compute_at {inside[0]} at one of them")


def _new_leaves(leaves: list[IterVar], old: tuple[IterVar, ...], new: tuple[IterVar, ...]) -> list[IterVar]:
    """TVM's replacement: the new loops stand where the (adjacent) data loops stood."""
    if not old:
        return list(new) + leaves
    first = min(leaves.index(a) for a in old)
    return leaves[:first] + list(new) + leaves[first + len(old):]


def _extents(shape, stage: Stage, call: str) -> tuple[int, ...]:
    shape = tuple(as_int(n) for n in shape)
    if not all(isinstance(n, int) for n in shape):
        raise ScheduleError(f"{call}: {stage.name} has the symbolic shape {tuple(map(str, shape))}; a layout "
                            "transformation needs a constant shape")
    return tuple(shape)


def _mapped(function, variables: tuple[Var, ...], stage: Stage, call: str) -> tuple[Expr, ...]:
    """Call the mapping as TVM's ``IndexMap.from_func`` does and check what it returns."""
    if not callable(function):
        raise ScheduleError(f"{call}: the mapping {function!r:.60} is not a function; pass a function of the "
                            f"{len(variables)} axes returning the new indices, e.g. lambda i, j: [j, i]")
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a builtin): it takes every axis
        params = [inspect.Parameter("indices", inspect.Parameter.VAR_POSITIONAL)]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keywords = [p for p in params if p.kind is p.KEYWORD_ONLY]
    rest = any(p.kind is p.VAR_POSITIONAL for p in params)
    fixed, n = len(positional) + len(keywords), len(variables)
    if fixed > n or (fixed < n and not rest):
        raise ScheduleError(f"{call}: the mapping takes {fixed} indices but {stage.name} has {n} axes; give "
                            f"the function one parameter per axis (or *indices)")
    middle = n - len(keywords)
    kwargs = {p.name: v for p, v in zip(keywords, variables[middle:])}
    result = function(*variables[:middle], **kwargs)
    items = list(result) if isinstance(result, (list, tuple)) else [result]
    return tuple(_index(item, n, stage, call) for n, item in enumerate(items))


def _index(item, position: int, stage: Stage, call: str) -> Expr:
    if item is AXIS_SEPARATOR:
        raise ScheduleError(f"{call}: AXIS_SEPARATOR (several physical dimensions) is not supported: Nestor's "
                            f"buffers are flat; leave it out of the mapping of {stage.name}")
    item = as_int(item)
    expr = as_expr(item) if isinstance(item, int) else item
    if not isinstance(expr, Expr) or not expr.dtype.is_int:
        raise ScheduleError(f"{call}: new index {position} is {item!r:.60}, not an integer index expression "
                            "of the axes; return a list of index expressions")
    return expr


def _check_reader(reader: Stage, stage: Stage, call: str) -> None:
    if not isinstance(reader.op, ComputeOp) or reader.read_redirect:
        raise ScheduleError(f"{call}: {reader.name} reads {stage.name} but is not a plain compute, so its reads "
                            "cannot be remapped; transform the layout of a tensor that only computes read")


def _relaid(stage: Stage, variables, axes: tuple[IterVar, ...], inverse: tuple[Expr, ...]):
    """The stage's operation over the new axes (a placeholder: the new shape)."""
    op = stage.op
    if isinstance(op, PlaceholderOp):
        return PlaceholderOp(op.name, tuple(a.extent for a in axes), op.dtype)
    mapping = dict(zip(variables, inverse))
    bodies = tuple(substitute(body, mapping) for body in op.bodies)
    return _like(op, ComputeOp(op.name, axes, bodies if len(bodies) > 1 else bodies[0]))


def _like(old: ComputeOp, new: ComputeOp) -> ComputeOp:
    for extra in ("tag", "attrs"):
        if hasattr(old, extra):
            setattr(new, extra, getattr(old, extra))
    new.read_through_of = definition(old)  # type: ignore[attr-defined]
    return new


def _read_relaid(reader: Stage, stage: Stage, variables, indices: tuple[Expr, ...], new_op) -> None:
    """Give ``reader`` an operation whose loads of ``stage`` load the new layout."""

    class Remap(Mutator):
        def rewrite(self, node):
            if isinstance(node, TensorLoad) and reader.producer_of(node.tensor) is stage:
                old = dict(zip(variables, (self.visit(i) for i in node.indices)))
                return replace(node, tensor=new_op.outputs[node.tensor.value_index],
                               indices=tuple(substitute(index, old) for index in indices))
            return None

    remap = Remap()
    op = reader.op
    bodies = tuple(remap.visit(body) for body in op.bodies)
    reader.schedule.replace_op(reader, _like(op, ComputeOp(op.name, op.axis, bodies if len(bodies) > 1 else bodies[0])))


_OPS = {BinaryOp.ADD: "+", BinaryOp.SUB: "-", BinaryOp.MUL: "*", BinaryOp.FLOORDIV: "//", BinaryOp.FLOORMOD: "%"}
_CODES = {code: op for op, code in _OPS.items()}


def encode(index: Expr, variables: tuple[Var, ...]):
    """A new index as JSON for the trace: ints, ``["axis", n]`` and ``[op, a, b]`` (None if it has
    no such form)."""
    match index:
        case Const(value=value):
            return int(value)
        case Var() if index in variables:
            return ["axis", variables.index(index)]
        case Cast(value=value) if value.dtype.is_int:
            return encode(value, variables)
        case Unary(op=UnaryOp.NEG, a=a):
            inner = encode(a, variables)
            return None if inner is None else ["-", 0, inner]
        case Binary(op=op, a=a, b=b) if op in _OPS:
            parts = [encode(a, variables), encode(b, variables)]
            return None if None in parts else [_OPS[op], *parts]
    return None


def decode(item, variables: tuple[Var, ...], call: str) -> Expr:
    """The index :func:`encode` wrote."""
    match item:
        case int():
            return as_expr(item)
        case ["axis", int(n)] | ("axis", int(n)) if 0 <= n < len(variables):
            return variables[n]
        case [str(code), a, b] | (str(code), a, b) if code in _CODES:
            return binary(_CODES[code], decode(a, variables, call), decode(b, variables, call))
    raise ScheduleError(f"Schedule.from_trace: {call}: malformed layout index {item!r:.80}; replay traces "
                        "that s.trace.to_json() wrote")
