"""The frontend's error for bad data: a dataset file, a checkpoint or a batch of labels that it
cannot use. It is a NestorError (the command line prints it on one line) and a ValueError (what
callers of the data functions caught before it existed)."""

from __future__ import annotations

from tensorir.errors import NestorError


class DataError(NestorError, ValueError):
    """A dataset file, a checkpoint or a batch of labels is malformed; the message names the file
    or the op, what is wrong and what would fix it."""
