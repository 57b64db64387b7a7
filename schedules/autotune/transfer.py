"""Transfer: the model tuner's cost model pre-trained, before the first measurement, on the records
of other shapes of the same template (same target, dtype, options and hardware), so that a shape
never tuned starts warm.

Costs are compared across shapes as log seconds per floating-point operation; configs as the
shape-invariant features of :mod:`.features`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .database import Database, Record
from .errors import TuningError
from .features import featurizer, kwargs_features
from .space import Config


@dataclass(frozen=True)
class Prior:
    """What the model tuner learns from before it measures.

    Attributes
    ----------
    x, y
        Features of the other shapes' correct records and their log seconds per flop.
    offset
        Added to this task's log seconds to put them on the same scale (minus its log flops).
    featurize
        ``config -> features`` of this task.
    shapes
        How many other shapes the records come from.
    """

    x: np.ndarray
    y: np.ndarray
    offset: float
    featurize: Callable[[Config], np.ndarray]
    shapes: int

    def __len__(self) -> int:
        return len(self.y)


def transfer_records(database: Database, spec, sizes: tuple, dtype: str, target: str, options: dict,
                     hardware: str) -> list[Record]:
    """The correct records of other shapes of this task's template, on this hardware."""
    sizes = tuple(sizes)
    return [r for r in database.records(spec.name, None, dtype, target, options, hardware)
            if r.ok and r.shapes != sizes and len(r.shapes) == len(sizes)]


def build_prior(records: list[Record], spec, sizes: tuple, dtype: str, options: dict) -> Prior | None:
    """The :class:`Prior` of a task from other shapes' ``records``; None when there is none or the
    template has no transferable features or flop count."""
    featurize = featurizer(spec, tuple(sizes), options, dtype)
    if featurize is None or spec.flops is None or not records:
        return None
    x, y = [], []
    for record in records:
        try:
            features = kwargs_features(spec, record.shapes, options, dtype, dict(record.kwargs))
            cost = math.log(record.run_s) - math.log(spec.flops(record.shapes, options))
        except (TypeError, ValueError, ZeroDivisionError, KeyError, OverflowError):
            continue  # a record this template's features cannot read: it does not transfer
        if np.isfinite(features).all() and math.isfinite(cost):
            x.append(features)
            y.append(cost)
    if not y:
        return None
    return Prior(np.array(x), np.array(y), -math.log(spec.flops(tuple(sizes), options)), featurize,
                 len({r.shapes for r in records}))


def transfer_prior(database: Database, spec, sizes: tuple, dtype: str, target: str, options: dict,
                   hardware: str, transfer: bool | None, tuner) -> Prior | None:
    """The prior a tuning run starts from: ``transfer`` None uses one where the database has records
    of other shapes and the tuner is ``"model"``; True insists on the model tuner; False: none."""
    if transfer not in (None, True, False):
        raise TuningError(f"transfer must be True, False or None (automatic), got {transfer!r}")
    if transfer is False:
        return None
    if tuner != "model":
        if transfer:
            raise TuningError(f"transfer pre-trains the model tuner's cost model, not the {tuner!r} tuner: "
                              "use tuner='model' (--tuner model) or transfer=False (--no-transfer)")
        return None
    return build_prior(transfer_records(database, spec, sizes, dtype, target, options, hardware),
                       spec, sizes, dtype, options)
