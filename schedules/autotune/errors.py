"""The autotuner's error: a bad space, template, config or database, named with a fix."""

from __future__ import annotations

from tensorir.errors import NestorError


class TuningError(NestorError):
    """A search space, tuning task or tuning database that cannot be used as given."""


class TuningWarning(UserWarning):
    """A tuning database row that is skipped: malformed, or not a valid point of its task's space."""
