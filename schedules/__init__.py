"""Schedules: stages, primitives, lowering of a schedule to a loop nest, templates.

Where each concept lives:

- ``schedule.py``: Schedule and Stage, and the identity invariant (a stage, not a tensor, is
  what the schedule computes; tensors become stages where they enter the API).
- ``stage.py``: what a stage records (``StageState``) and the queries over it (``compute_op``,
  ``producers``, ``all_axes``).
- ``relations.py``: the frozen records of a stage: ``Split``/``Fuse`` relations between loop
  variables, loop ``Annotation``s and its ``Attach`` (``AtRoot``, ``Inlined``, ``At``).
- ``attachment.py``: readers, consumers, stages attached at a loop, which stages run inside a
  loop, and what a proposed attachment would strand (or leave waiting for its readers, an
  order TVM accepts and lowering checks); pure queries.
- ``parallel.py``: where parallel loops may run (never inside another one: the primitives
  refuse; inside other loops: lowering warns with ``InnerParallelWarning``).
- ``primitives.py`` (on a stage) and ``cache.py`` (``cache_read``/``cache_write`` on the
  schedule): the primitives; ``cache_relayout.py``: the cache of a stage whose loops were
  already split or reordered (TVM's relayout); ``trace.py``: the Step of each call and its replay.
- ``geometry.py`` (loop extents, root axes as expressions of the loops, guards), ``bounds.py``
  (the region an attached stage computes) and ``lower.py`` (the loop nest): lowering.
- ``lowering.py``: ``lower``, the one way from a schedule to a finished PrimFunc (the loop nest,
  then the pass pipeline); ``backends.build`` compiles that for a target.
"""

from .lower import lower_schedule
from .lowering import lower
from .schedule import Schedule, Stage, create_schedule

__all__ = ["Schedule", "Stage", "create_schedule", "lower", "lower_schedule"]
