"""TVM's ``te.schedule`` namespace, for programs that ask the bounds of a schedule or inline by
kind:

- ``InferBound(s)`` (:func:`schedules.infer_bound.infer_bound`) maps every axis and loop to its
  ``Range`` (``.min``, ``.extent``; a constant has ``.value``);
- ``ScheduleOps(s, bounds)``: the loop nest of ``s`` (the body ``ns.lower`` prints), over every
  input the outputs read and the outputs;
- ``AutoInlineElemWise(s)``, ``AutoInlineBroadcast(s)``, ``AutoInlineInjective(s)``
  (:mod:`schedules.auto_inline`);
- the relation classes ``Split``, ``Fuse``, ``Singleton`` (``s[T].relations``) and ``IterVar``'s
  type numbers (``s[T].iter_var_attrs[loop].iter_type == IterVar.Unrolled``).
"""

from __future__ import annotations

from schedules import Schedule, Stage, lower
from schedules.auto_inline import auto_inline_broadcast, auto_inline_elementwise, auto_inline_injective
from schedules.infer_bound import Range, infer_bound
from schedules.relations import Fuse, Singleton, Split
from schedules.tvm_introspection import IterVarType as IterVar
from tensorir.errors import ScheduleError
from tensorir.stmt import Stmt
from tensorir.tensor import PlaceholderOp


def _checked(name: str, function):
    """``function`` of a schedule, refusing anything else at the call."""
    def call(schedule, *args):
        if not isinstance(schedule, Schedule):
            raise ScheduleError(f"te.schedule.{name}: expected a schedule (ns.create_schedule(...)), got "
                                f"{type(schedule).__name__} {schedule!r}")
        return function(schedule, *args)
    call.__name__, call.__doc__ = name, function.__doc__
    return call


InferBound = _checked("InferBound", infer_bound)
AutoInlineElemWise = _checked("AutoInlineElemWise", auto_inline_elementwise)
AutoInlineBroadcast = _checked("AutoInlineBroadcast", auto_inline_broadcast)
AutoInlineInjective = _checked("AutoInlineInjective", auto_inline_injective)


def _schedule_ops(schedule, bounds=None) -> Stmt:
    """The loop nest of ``schedule`` (``bounds``, from ``InferBound``, is accepted and not needed:
    the lowering infers the same regions)."""
    args = [s.op.output for s in schedule.stages if isinstance(s.op, PlaceholderOp) and schedule.readers(s)]
    return lower(schedule, [*args, *schedule.output_tensors], "schedule_ops").body


ScheduleOps = _checked("ScheduleOps", _schedule_ops)


__all__ = ["AutoInlineBroadcast", "AutoInlineElemWise", "AutoInlineInjective", "Fuse", "InferBound", "IterVar", "Range",
           "Schedule", "ScheduleOps", "Singleton", "Split", "Stage"]
