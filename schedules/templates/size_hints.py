"""Size hints: the value a schedule assumes for a size variable when it makes a choice.

Generic schedules choose by extents (vectorize a loop of at least 16, start threads for large
nests). For a symbolic extent the choice is made with a hint, a typical value of each size
variable given by the caller that builds the kernel (the frontend passes the batch extent of the
call that first builds a symbolic-batch kernel). The choice changes speed only: a split of a
symbolic loop gets a guarded tail, so the kernel is right for every value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tensorir.symbolic import evaluate, is_static, shape_vars

#: the value assumed for a size variable without a hint: large enough to vectorize, too small to
#: start threads
DEFAULT_HINT = 1024

_HINTS: ContextVar[dict | None] = ContextVar("size_hints", default=None)


@contextmanager
def size_hints(values: dict) -> Iterator[None]:
    """Within the block, :func:`hint` evaluates size variables with ``values`` (``{var: int}``)."""
    token = _HINTS.set({**(_HINTS.get() or {}), **values})
    try:
        yield
    finally:
        _HINTS.reset(token)


def hint(extent) -> int:
    """``extent`` as an int: itself when static, else evaluated with the current hints
    (:data:`DEFAULT_HINT` for a variable without one)."""
    if is_static(extent):
        return int(extent)
    values = dict(_HINTS.get() or {})
    for v in shape_vars([extent]):
        values.setdefault(v, DEFAULT_HINT)
    return evaluate(extent, values)
