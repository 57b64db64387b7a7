"""Integer arithmetic on Python ints that sizes, tiles and loop extents need everywhere."""

from __future__ import annotations


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for integers, exactly (no float rounding): tiles of ``b`` covering ``a``."""
    return -(-a // b)


def round_up(a: int, multiple: int) -> int:
    """The least multiple of ``multiple`` that is at least ``a``."""
    return ceil_div(a, multiple) * multiple


def as_int(value: object) -> object:
    """``value`` as a Python int when it is an integer of any kind (``np.int64(4)`` included; never
    a bool), else ``value`` unchanged for the caller's own check and message."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        return value
    try:
        return int(value.__index__())
    except TypeError:
        return value
