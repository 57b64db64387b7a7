"""Lowering of an extern stage (:mod:`tensorir.extern_op`): its body, with each declared buffer
replaced by the buffer of the tensor it is bound to, and each subscript that the loop ranges
around it do not bound checked when it runs (an index outside the buffer raises
``OutOfBoundsError`` and never touches memory, as a compute stage's unbounded subscripts do).

The body's accesses are flat element offsets; a tensor's access keeps, as its ``logical``
indices, the offset taken apart row-major over the tensor's shape (what the printer shows and
the verifier counts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tensorir.access_guards import bounds
from tensorir.buffer import Buffer
from tensorir.dtypes import INDEX
from tensorir.errors import LoweringError, ScheduleError
from tensorir.expr import BinaryOp, BufferLoad, CheckedIndex, Const, Expr, binary, cast
from tensorir.extern_op import ExternOp
from tensorir.stmt import Allocate, Evaluate, For, IfThenElse, Seq, Stmt, Store, While
from tensorir.visitor import Mutator

from .relations import At, AtRoot, Inlined

if TYPE_CHECKING:
    from .lower import Lowering
    from .schedule import Stage


def is_extern(stage: Stage) -> bool:
    return isinstance(stage.op, ExternOp)


def refuse_schedule(stage: Stage, primitive: str = "") -> ScheduleError:
    """The error of a schedule primitive on an extern stage."""
    what = f".{primitive}" if primitive else ""
    return ScheduleError(
        f"s[{stage.name}]{what}: {stage.name} is an extern operation (te.extern); its loops are the statements "
        "its IR builder made, which schedule primitives do not change; schedule the compute stages around it, "
        "or write the loops you want in its fcompute (ib.for_range(..., kind='parallel'), thread_extent)")


def output_shapes(stage: Stage) -> list[tuple]:
    return [stage.op.output_shape(n) for n in range(stage.op.num_outputs)]


def extern_nest(lowering: Lowering, stage: Stage) -> Stmt:
    """The statement computing extern stage ``stage`` over the lowered buffers."""
    op: ExternOp = stage.op  # type: ignore[assignment]
    binding: dict[Buffer, Buffer] = {}
    for declared, tensor in zip(op.input_placeholders, op.inputs):
        producer = stage.producer_of(tensor)
        if not isinstance(producer.attach, AtRoot) and producer not in lowering.stored_in_params:
            raise LoweringError(
                f"lower: extern {stage.name} reads {producer.name} whole, as a buffer, but {producer.name} is "
                f"{_placement(producer.attach)}, so no whole buffer of it exists; leave {producer.name} at root "
                f"(drop its compute_inline/compute_at, or s[{producer.name}].compute_root())")
        binding[declared.placeholder] = lowering.buffer_of(producer, tensor.value_index)
    for n, declared in enumerate(op.output_placeholders):
        binding[declared.placeholder] = lowering.buffer_of(stage, n)
    return _Bind(op.name, binding).stmt(op.body, {})


def _placement(attach) -> str:
    match attach:
        case Inlined():
            return "inlined (compute_inline)"
        case At(stage=consumer, axis=axis):
            return f"computed inside loop {axis.name} of {consumer.name} (compute_at)"
    return "not at root"


class _Bind:
    """The body over the real buffers, its unbounded subscripts checked (see the module doc)."""

    def __init__(self, name: str, binding: dict[Buffer, Buffer]):
        self.name, self.binding = name, binding

    def stmt(self, s: Stmt, ranges: dict) -> Stmt:
        match s:
            case For(var=var, min=lo, extent=extent, body=body):
                inner = dict(ranges)
                if isinstance(lo, Const) and isinstance(extent, Const):
                    inner[var] = (lo.value, lo.value + extent.value - 1)
                return For(var, self.expr(lo, ranges), self.expr(extent, ranges), s.kind, self.stmt(body, inner),
                           s.thread_tag)
            case Store(buffer=buffer, indices=(flat,), value=value):
                target, index, logical = self.access(buffer, self.expr(flat, ranges), ranges, "store to")
                return Store(target, (index,), self.expr(value, ranges), logical)
            case Seq(stmts=stmts):
                return Seq(tuple(self.stmt(one, ranges) for one in stmts))
            case IfThenElse(cond=cond, then_body=then_body, else_body=else_body):
                return IfThenElse(self.expr(cond, ranges), self.stmt(then_body, ranges),
                                  None if else_body is None else self.stmt(else_body, ranges))
            case Allocate(buffer=buffer, body=body):
                return Allocate(buffer, self.stmt(body, ranges))
            case Evaluate(value=value):
                return Evaluate(self.expr(value, ranges))
            case While(cond=cond, body=body):
                return While(self.expr(cond, ranges), self.stmt(body, ranges))
        raise AssertionError(f"extern {self.name}: unexpected statement {type(s).__name__}")

    def expr(self, e: Expr, ranges: dict) -> Expr:
        return _Loads(self, ranges).visit(e)

    def access(self, buffer: Buffer, flat: Expr, ranges: dict, verb: str):
        """The buffer an access reaches, its (checked) flat offset and its logical indices."""
        target = self.binding.get(buffer, buffer)
        size = target.size
        low, high = bounds(flat, ranges)
        index = flat
        if not (isinstance(size, int) and low is not None and high is not None and low >= 0 and high < size):
            site = f"extern {self.name}: the {verb} {buffer.name}[{flat}] reaches element"
            index = CheckedIndex(flat, size, site, flat.dtype)
        if target is buffer and len(target.shape) == 1:
            return target, index, None  # a scratch buffer of the body: flattened by the pass
        return target, cast(index, INDEX) if index.dtype is not INDEX else index, _logical(flat, target)


class _Loads(Mutator):
    def __init__(self, binder: _Bind, ranges: dict):
        super().__init__()
        self.binder, self.ranges = binder, ranges

    def rewrite(self, node):
        if isinstance(node, BufferLoad) and node.logical is None:
            flat = self.visit(node.indices[0])
            target, index, logical = self.binder.access(node.buffer, flat, self.ranges, "load of")
            return BufferLoad(target, (index,), node.dtype, logical)
        return None


def _logical(flat: Expr, buffer: Buffer) -> tuple[Expr, ...]:
    """``flat`` taken apart row-major over ``buffer``'s shape (one index per dimension)."""
    if len(buffer.shape) == 1:
        return (flat,)
    out: list[Expr] = []
    rest = flat
    for extent in reversed(buffer.shape[1:]):
        out.append(binary(BinaryOp.FLOORMOD, rest, extent))
        rest = binary(BinaryOp.FLOORDIV, rest, extent)
    return (rest, *reversed(out))
