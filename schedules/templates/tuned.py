"""Tuned configs reach templates: a template called without any of its knobs asks the registered
providers (the tuning database registers one when ``schedules.autotune`` is imported, which
``import nestor`` does) for the best known config of exactly this task, and uses it. Set
``NESTOR_TUNED=0`` to always use the template defaults.

The database checks its records against the template's space before offering one; should the
template still fail with tuned knobs, the call warns and builds with the defaults instead."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Sequence

from tensorir import config

#: provider(template name, sizes, dtype, target, options) -> knob keyword arguments or None
Provider = Callable[[str, tuple, str, str, dict], "dict | None"]
_PROVIDERS: list[Provider] = []


def register_provider(provider: Provider) -> None:
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)


def tuned_knobs(name: str, sizes: tuple, dtype: str, target: str, options: dict) -> dict | None:
    """The best known knob values of a task, or None (no provider knows, or NESTOR_TUNED=0)."""
    if not config.TUNED():
        return None
    for provider in _PROVIDERS:
        found = provider(name, sizes, dtype, target, options)
        if found and isinstance(found, dict):
            return found
    return None


def tunable(name: str, target: str, sizes: int, knobs: Sequence[str], options: Sequence[str]):
    """Decorate a template whose first ``sizes`` arguments are its sizes: a call that passes none
    of ``knobs`` gets the tuned ones, when known, for its sizes, dtype and ``options``."""

    def wrap(template):
        signature = inspect.signature(template)
        size_names = list(signature.parameters)[:sizes]

        @functools.wraps(template)
        def call(*args, **kwargs):
            if not any(k in kwargs for k in knobs):
                try:
                    bound = signature.bind(*args, **kwargs)
                except TypeError:
                    return template(*args, **kwargs)  # the template reports the bad call itself
                bound.apply_defaults()
                given = bound.arguments
                if not all(isinstance(given[n], int) for n in size_names):
                    return template(*args, **kwargs)  # symbolic sizes: no task to look up
                found = tuned_knobs(name, tuple(given[n] for n in size_names), given.get("dtype", "float32"),
                                    target, {o: given[o] for o in options})
                if found:
                    return _with_tuned(template, name, args, kwargs, {k: v for k, v in found.items() if k in knobs})
            return template(*args, **kwargs)

        call.knobs = tuple(knobs)
        return call

    return wrap


def _with_tuned(template, name: str, args: tuple, kwargs: dict, tuned: dict):
    """The template called with the tuned knobs; with its defaults (and a warning) if that fails."""
    try:
        return template(*args, **kwargs, **tuned)
    except Exception as error:  # noqa: BLE001 - a tuned config must never break a build that works without it
        from schedules.autotune.errors import TuningWarning

        warnings.warn(f"{name}: the tuned knobs {tuned} failed ({type(error).__name__}: {error}); building with "
                      "the template's defaults", TuningWarning, stacklevel=3)
    return template(*args, **kwargs)
