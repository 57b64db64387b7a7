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

from tensorir.symbolic import evaluate, is_static

_HINTS: list[dict] = [{}]


@contextmanager
def size_hints(values: dict) -> Iterator[None]:
    """Within the block, :func:`hint` evaluates size variables with ``values`` (``{var: int}``)."""
    _HINTS.append({**_HINTS[-1], **values})
    try:
        yield
    finally:
        _HINTS.pop()


def hint(extent) -> int:
    """``extent`` as an int: itself when static, else evaluated with the current hints (1 for a
    variable without one)."""
    if is_static(extent):
        return int(extent)
    from tensorir.symbolic import shape_vars

    values = dict(_HINTS[-1])
    for v in shape_vars([extent]):
        values.setdefault(v, 1)
    return evaluate(extent, values)
