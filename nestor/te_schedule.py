"""TVM's ``te.schedule`` namespace, for programs that ask the bounds of a schedule:
``ns.schedule.InferBound(s)`` (:func:`schedules.infer_bound.infer_bound`) maps every axis and
loop to its ``Range`` (``.min``, ``.extent``; a constant has ``.value``)."""

from __future__ import annotations

from schedules.infer_bound import Range, infer_bound

InferBound = infer_bound

__all__ = ["InferBound", "Range"]
