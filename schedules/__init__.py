"""Schedules: stages, primitives, lowering of a schedule to a loop nest, templates."""

from .lower import lower_schedule
from .schedule import Schedule, Stage, create_schedule

__all__ = ["Schedule", "Stage", "create_schedule", "lower_schedule"]
