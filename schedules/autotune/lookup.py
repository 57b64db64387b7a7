"""What later builds use: the best known config of a task, as template keyword arguments."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .database import Database, default_path, hardware_fingerprint
from .driver import _prepare, project, task_space
from .validate import checked_config


def lookup_config(op, shapes: Sequence[int], dtype: str = "float32", target: str | None = None, *,
                  options: dict | None = None, db=None, nearby: bool = True) -> dict | None:
    """The template keyword arguments of the best known config for a task, or None.

    An exact match (operator, sizes, dtype, target, options, this machine) comes first: the
    fastest correct record that is a valid point of the task's space (others are skipped with a
    :class:`TuningWarning`). Without one and with ``nearby``, the best config of the nearest
    tuned shape is adapted to this shape's space (the valid config closest to it) as a starting
    point. A missing database is not created.

    Parameters
    ----------
    op
        A template name (``"matmul_cpu"``), an operator (``"matmul"``) or a template function.
    shapes
        The template's sizes, e.g. ``(m, n, k)``.
    dtype, target, options
        The rest of the task (``target`` defaults to the template's).
    db
        A :class:`Database`, a path, or None for the default database.
    nearby
        Whether to fall back to a nearby shape's best.

    Examples
    --------
    >>> kwargs = lookup_config("matmul", (1024, 1024, 1024)) or {}   # doctest: +SKIP
    >>> s, args = matmul_cpu(1024, 1024, 1024, **kwargs)             # doctest: +SKIP
    """
    spec, sizes, target, options = _prepare(op, shapes, dtype, target, options)
    if db is None or not isinstance(db, Database):
        path = Path(db).expanduser() if db is not None else default_path()
        if not path.exists():
            return None
        with Database(path) as database:
            return _lookup(database, spec, sizes, dtype, target, options, nearby)
    return _lookup(db, spec, sizes, dtype, target, options, nearby)


def _lookup(database: Database, spec, sizes, dtype, target, options, nearby: bool) -> dict | None:
    hardware = hardware_fingerprint(target)
    found = sorted((r for r in database.records(spec.name, sizes, dtype, target, options, hardware) if r.ok),
                   key=lambda r: r.run_s)
    space = task_space(spec, sizes, dtype, options) if found else None
    for record in found:  # the fastest record that is a valid point of the space
        config = checked_config(database.path, spec, space, record)
        if config is not None:
            return spec.to_kwargs(config)
    if not nearby:
        return None
    near = database.nearest(spec.name, sizes, dtype, target, options, hardware)
    if near is None:
        return None
    # only a hint: the result is the valid point of this shape's space nearest its keyword arguments
    config = project(spec, task_space(spec, sizes, dtype, options), near.kwargs)
    return spec.to_kwargs(config) if config is not None else None


def apply_best(template, shapes: Sequence[int], dtype: str = "float32", target: str | None = None, *,
               options: dict | None = None, db=None, nearby: bool = True):
    """The template's ``(schedule, args)`` with the best known config (its defaults when none is known).

    Takes the arguments of :func:`lookup_config`.

    Examples
    --------
    >>> s, args = ns.autotune.apply_best("matmul", (1024, 1024, 1024))   # doctest: +SKIP
    >>> module = ns.build(s, args, target="llvm")                        # doctest: +SKIP
    """
    spec, sizes, target, options = _prepare(template, shapes, dtype, target, options)
    kwargs = lookup_config(spec, sizes, dtype, target, options=options, db=db, nearby=nearby) or {}
    return spec.instantiate(sizes, kwargs, dtype, options)
