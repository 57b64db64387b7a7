"""Schedules: stages, primitives, lowering of a schedule to a loop nest, templates.

``lower`` (:mod:`schedules.lowering`) is the one way from a schedule to a finished PrimFunc;
``backends.build`` compiles that for a target.
"""

from .lower import lower_schedule
from .lowering import lower
from .schedule import Schedule, Stage, create_schedule

__all__ = ["Schedule", "Stage", "create_schedule", "lower", "lower_schedule"]
