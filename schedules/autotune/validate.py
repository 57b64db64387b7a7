"""A record is used only if it is a valid point of its template's space for its task: every knob of
the space and no other, each value one of the knob's choices with the choice's own type (a JSON
``1`` is not ``True``, ``8.0`` is not ``8``), every constraint met, and keyword arguments that are
exactly those the knobs map to. Any other record is skipped with one warning naming the database
file and the row (:func:`.database.skip_row`): never used, never crashing a build or a tuning run.
"""

from __future__ import annotations

import numbers
from pathlib import Path

from .database import Record, canonical, skip_row
from .space import Config, ConfigSpace
from .spaces import TunableTemplate


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "real"
    return type(value).__name__


def _same(value, choice) -> bool:
    """Whether a stored (JSON) value is this choice, type included."""
    if isinstance(choice, tuple):
        return isinstance(value, (list, tuple)) and len(value) == len(choice) and all(map(_same, value, choice))
    return _kind(value) == _kind(choice) and value == choice


def _choice(space: ConfigSpace, name: str, value):
    """The choice of knob ``name`` that ``value`` stands for; LookupError if there is none."""
    for choice in space.knobs[name].choices:
        if _same(value, choice):
            return choice
    raise LookupError(f"{name}={value!r} is not a choice of the space")


def _config(spec: TunableTemplate, space: ConfigSpace, record: Record) -> Config:
    """The config of ``record``; LookupError saying why it is not a valid point of ``space``."""
    unknown, missing = sorted(set(record.knobs) - set(space.knobs)), sorted(set(space.knobs) - set(record.knobs))
    if unknown or missing:
        parts = [f"unknown {unknown}"] * bool(unknown) + [f"missing {missing}"] * bool(missing)
        raise LookupError(f"its knobs do not match the space ({'; '.join(parts)})")
    config = Config([(name, _choice(space, name, record.knobs[name])) for name in space.knobs])
    for predicate, reason in space.constraints:
        try:
            holds = predicate(config)
        except Exception as error:  # noqa: BLE001 - a space's predicate failing on a config is a verdict too
            raise LookupError(f"the constraint {reason!r} failed on it ({type(error).__name__})") from None
        if not holds:
            raise LookupError(f"it breaks the constraint: {reason}")
    expected = spec.to_kwargs(config)
    if canonical(expected) != canonical(record.kwargs):
        raise LookupError(f"its kwargs {record.kwargs} are not those of its knobs {expected}")
    return config


def checked_config(path: Path, spec: TunableTemplate, space: ConfigSpace, record: Record) -> Config | None:
    """The config of ``record`` if it is a valid point of ``space``; else None, and one warning."""
    try:
        return _config(spec, space, record)
    except LookupError as error:
        skip_row(path, record.id, f"not a valid point of the {spec.name} space for {list(record.shapes)}: {error}")
        return None


def valid_records(path: Path, spec: TunableTemplate, space: ConfigSpace,
                  records: list[Record]) -> list[tuple[Record, Config]]:
    """The records that are valid points of ``space``, each with its config; the others skipped."""
    checked = ((record, checked_config(path, spec, space, record)) for record in records)
    return [(record, config) for record, config in checked if config is not None]
