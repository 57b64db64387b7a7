"""Arguments of a lowered function that are stages of the schedule: each parameter is the
caller's dense array in global memory, and a stage attached with compute_at that is listed
among the arguments stores into that array at the elements' own indices (TVM binds such a
stage to the caller's buffer), so every output of it must be listed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tensorir.buffer import Buffer
from tensorir.errors import LoweringError
from tensorir.tensor import Tensor

from .relations import At

if TYPE_CHECKING:
    from .lower import Lowering
    from .schedule import Schedule, Stage


def param_buffer(lowering: Lowering, stage: Stage, tensor: Tensor) -> Buffer:
    """The parameter of ``tensor``: the caller's array, dense and in global memory whatever
    ``storage_align``, ``double_buffer`` or a scope asked of its stage's own allocations; in the
    stage's current layout (``transform_layout`` gives it a new shape)."""
    current = tensor if stage.op is tensor.op else stage.op.outputs[tensor.value_index]
    return lowering.make_buffer(stage, current.shape, tensor.value_index, param=True)


def attached_params(schedule: Schedule, args: list[Tensor], name: str) -> set[Stage]:
    """The attached stages listed among ``args``; each must have all its outputs listed (they
    are stored at their own indices, so none may live in a region-sized buffer)."""
    stages = {schedule.stage_of(a) for a in args if a in schedule and isinstance(schedule.stage_of(a).attach, At)}
    for stage in stages:
        listed = {a.value_index for a in args if a in schedule and schedule.stage_of(a) is stage}
        if len(listed) < stage.op.num_outputs:
            outputs = [t.name for t in stage.op.outputs]
            raise LoweringError(f"lower {name}: {stage.name} is attached with compute_at and some of its outputs "
                                f"{outputs} are arguments but not all; list every one of them, or none")
    return stages
