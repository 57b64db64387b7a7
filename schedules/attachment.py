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


def runs_inside(stage: StageState, place: At, placement: Placement = recorded) -> bool:
    """Whether ``stage`` is computed inside loop ``place.axis`` of ``place.stage``: it is that
    stage, or it is attached at that loop or one inside it, directly or through the stages it
    is attached in (TVM's attach path)."""
    if stage is place.stage:
        return True
    seen: set[int] = set()
    current = stage
    while id(current) not in seen:
        seen.add(id(current))
        match placement(current):
            case At(stage=where, axis=loop) if where is place.stage:
                leaves = where.leaves
                return loop in leaves and leaves.index(loop) >= leaves.index(place.axis)
            case At(stage=where):
                current = where
            case _:
                return False
    return False


def outside_readers(schedule: Schedule, producer: StageState, place: At,
                    placement: Placement = recorded) -> list[Stage]:
    """The consumers of ``producer`` that run outside loop ``place`` (where it is computed)."""
    return [c for c in consumers(schedule, producer, placement) if not runs_inside(c, place, placement)]


def feeds(schedule: Schedule, stage: StageState, consumer: StageState) -> bool:
    """Whether ``consumer`` reads ``stage``, directly or through other stages."""
    frontier, seen = [consumer], set()
    while frontier:
        current = frontier.pop()
        for producer in current.producers:
            if producer is stage:
                return True
            if id(producer) not in seen:
                seen.add(id(producer))
                frontier.append(producer)
    return False


def stranded_all(schedule: Schedule, placement: Placement = recorded,
                 skip: StageState | None = None) -> list[tuple[Stage, At]]:
    """Every producer (other than ``skip``) attached inside a loop for its readers that some
    consumer reads from outside that loop, with where it is computed."""
    found = []
    for producer in schedule.stages:
        match placement(producer):
            case At() as place if producer is not skip:
                if outside_readers(schedule, producer, place, placement):
                    found.append((producer, place))
    return found


def stranded(schedule: Schedule, placement: Placement = recorded, skip: StageState | None = None,
             known: frozenset = frozenset()) -> tuple[Stage, At] | None:
    """A producer (other than ``skip``, and not among ``known``: already waiting for its other
    readers to move) and where it is computed, that some consumer reads from outside its loop
    with the stages placed by ``placement``; None when there is none."""
    return next((found for found in stranded_all(schedule, placement, skip) if found[0] not in known), None)


def waiting(schedule: Schedule) -> frozenset:
    """The producers computed inside a loop that some of their readers still run outside of:
    compute_at accepted them before those readers were inlined or attached there (TVM's orders);
    lowering refuses them if they are still waiting then."""
    return frozenset(producer for producer, _ in stranded_all(schedule))


def stranded_producer(stage: StageState, proposed: Attach) -> tuple[Stage, At] | None:
    """A producer (and where it is computed) attached inside a loop for its readers that
    ``stage``, moved to ``proposed``, would newly read from outside that loop (its own readers
    count when it is inlined); None when the move strands nothing."""

    def placement(s: StageState) -> Attach:
        return proposed if s is stage else s.attach

    return stranded(stage.schedule, placement, skip=stage, known=waiting(stage.schedule))
