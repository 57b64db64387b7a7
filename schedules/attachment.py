"""Queries over where stages are computed: who reads a stage, who consumes it through inlined
readers, which stages sit in a loop, and whether a proposed attachment strands a producer.

Pure functions of the schedule's stages and their ``Attach`` values (:mod:`schedules.relations`);
a proposed move is passed as a value and never written to a stage before it is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tensorir.expr import IterVar

from .relations import At, Attach, Inlined

if TYPE_CHECKING:
    from .schedule import Schedule, Stage
    from .stage import StageState

#: The attachment of each stage: the recorded one, or with one stage's move proposed.
Placement = Callable[["StageState"], Attach]


def recorded(stage: StageState) -> Attach:
    """The attachment that ``stage`` has now."""
    return stage.attach


def readers(schedule: Schedule, producer: StageState) -> list[Stage]:
    """The stages that read ``producer`` (after cache redirection), inlined ones included."""
    return [s for s in schedule.stages if any(p is producer for p in s.producers)]


def consumers(schedule: Schedule, producer: StageState, placement: Placement = recorded) -> list[Stage]:
    """The non-inlined stages whose computation reads ``producer``, looking through inlined ones."""
    found: list[Stage] = []
    for reader in readers(schedule, producer):
        if isinstance(placement(reader), Inlined):
            found += [c for c in consumers(schedule, reader, placement) if c not in found]
        elif reader not in found:
            found.append(reader)
    return found


def attached_in(schedule: Schedule, consumer: StageState, axis: IterVar | None = None) -> list[Stage]:
    """The stages computed inside loop ``axis`` of ``consumer`` (any of its loops when None)."""
    found = []
    for stage in schedule.stages:
        match stage.attach:
            case At(stage=where, axis=loop) if where is consumer and (axis is None or loop is axis):
                found.append(stage)
    return found


def _served_in_place(schedule: Schedule, producer: StageState, place: At, placement: Placement) -> bool:
    """Whether every consumer of ``producer``, computed at ``place``, runs inside that loop."""
    return all(c is place.stage or placement(c) == place
               for c in consumers(schedule, producer, placement))


def stranded(schedule: Schedule, placement: Placement = recorded,
             skip: StageState | None = None) -> tuple[Stage, At] | None:
    """A producer (other than ``skip``) and where it is computed, attached inside a loop for its
    readers, that some consumer reads from outside that loop, with the stages placed by
    ``placement``; None when every attached producer is computed where all its consumers run."""
    for producer in schedule.stages:
        match placement(producer):
            case At() as place if producer is not skip:
                if not _served_in_place(schedule, producer, place, placement):
                    return producer, place
    return None


def stranded_producer(stage: StageState, proposed: Attach) -> tuple[Stage, At] | None:
    """A producer (and where it is computed) attached inside a loop for its readers that
    ``stage``, moved to ``proposed``, would read from outside that loop (its own readers count
    when it is inlined); None when the move strands nothing."""

    def placement(s: StageState) -> Attach:
        return proposed if s is stage else s.attach

    return stranded(stage.schedule, placement, skip=stage)
