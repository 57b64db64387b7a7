"""TVM's ``te.schedule.AutoInlineElemWise``/``AutoInlineBroadcast``/``AutoInlineInjective``:
inline every stage of a kind into its readers, and ``attach_type``, TVM's number for where a
stage is computed (1 at root, 2 inlined, 4 inside a loop).

- elementwise: no reduction, and every element read at exactly the stage's own indices;
- broadcast: no reduction, every element read at the stage's indices in order, some of them
  replaced by constants (``A[0] * B[i, j]``), or tagged ``"broadcast"``;
- injective: any stage without a reduction.

Outputs, scans and stages with several outputs stay as they are.
"""

from __future__ import annotations

from tensorir.expr import Const, Reduce, TensorLoad
from tensorir.tensor import ComputeOp
from tensorir.visitor import walk

from .relations import At, Inlined

#: TVM's AttachType numbers
GROUP_ROOT, INLINE, SCOPE = 1, 2, 4


def attach_type(stage) -> int:
    """TVM's ``AttachType`` of ``stage``: 1 at root, 2 inlined, 4 inside a loop (``compute_at``)."""
    match stage.attach:
        case Inlined():
            return INLINE
        case At():
            return SCOPE
    return GROUP_ROOT


def _loads(op: ComputeOp) -> list[TensorLoad]:
    bodies = op.body if isinstance(op.body, tuple) else (op.body,)
    return [n for body in bodies for n in walk(body) if isinstance(n, TensorLoad)]


def _own(op: ComputeOp, load: TensorLoad, constants: bool) -> bool:
    """Whether ``load`` reads at the stage's indices, in order (some constant, if allowed)."""
    axes = [iv.var for iv in op.axis]
    position = 0
    for index in load.indices:
        if constants and isinstance(index, Const):
            continue
        while position < len(axes) and axes[position] is not index:
            if not constants:
                return False
            position += 1
        if position == len(axes):
            return False
        position += 1
    return constants or (position == len(axes) and len(load.indices) == len(axes))


def is_elementwise(op) -> bool:
    return _plain(op) and all(_own(op, load, False) for load in _loads(op))


def is_broadcast(op) -> bool:
    return _plain(op) and (op.tag == "broadcast" or all(_own(op, load, True) for load in _loads(op)))


def is_injective(op) -> bool:
    return _plain(op)


def _plain(op) -> bool:
    return isinstance(op, ComputeOp) and op.num_outputs == 1 and not isinstance(op.body, Reduce)


def _inline_where(schedule, kind) -> None:
    for stage in reversed(schedule.stages):
        if not stage.is_output and kind(stage.op) and not isinstance(stage.attach, Inlined):
            stage.compute_inline()


def auto_inline_elementwise(schedule) -> None:
    """Inline every elementwise stage (see the module doc)."""
    _inline_where(schedule, is_elementwise)


def auto_inline_broadcast(schedule) -> None:
    """Inline every elementwise or broadcast stage (see the module doc)."""
    _inline_where(schedule, is_broadcast)


def auto_inline_injective(schedule) -> None:
    """Inline every stage without a reduction (see the module doc)."""
    _inline_where(schedule, is_injective)
