"""The error tree: every failure a user can cause is one of these, with a message that says how to fix it."""

from __future__ import annotations


class NestorError(Exception):
    """Base of every error Nestor raises on purpose."""


class DefinitionError(NestorError):
    """An operator definition (placeholder, compute, expression, string form) is malformed."""


class ScheduleError(NestorError):
    """A schedule primitive was called with arguments that do not fit the current schedule."""


class LoweringError(NestorError):
    """A schedule could not be turned into a loop nest (or the nest failed verification)."""


class CodegenError(NestorError):
    """A backend cannot generate code for a lowered function."""


class BackendUnavailable(NestorError):
    """A backend needs a tool or device that this machine does not have."""


class ArgumentError(NestorError, TypeError):
    """A compiled module was called with arguments that do not match its parameters."""


class ConfigurationError(NestorError):
    """An environment variable that configures Nestor (``NESTOR_*``) has a value it cannot use."""


class OutOfBoundsError(NestorError, IndexError):
    """A compiled kernel met a subscript computed from data outside its tensor's shape.

    Raised after the call by every backend; the check that found it kept the kernel from
    touching memory outside the tensor.
    """


class TagScopeError(DefinitionError, ValueError):
    """A ``tag_scope`` opened inside another (a ValueError too, as TVM raises)."""
