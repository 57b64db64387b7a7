"""Argument types of the subcommands: each parses one flag's text and refuses a value out of
range with ``argparse.ArgumentTypeError``, so argparse prints a one-line usage error and exits 2."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _number(text: str, kind: type, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer in ``[low, high]`` (no upper bound when ``high`` is None)."""
    span = f"at least {low}" if high is None else f"from {low} to {high}"

    def parse(text: str) -> int:
        value = _number(text, int, f"an integer {span}")
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range: give an integer {span}")
        return value

    parse.__name__ = "integer"
    return parse


#: a count of one or more (epochs, batch size, trials to stop after, processes, rows)
positive_int = integer(1)
#: zero or more (0 usually means "off" or "all")
non_negative_int = integer(0)


def _finite_float(text: str) -> float:
    value = _number(text, float, "a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def finite_positive_float(text: str) -> float:
    """A finite number above zero (learning rate, seconds)."""
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is out of range: give a finite number above 0")
    return value


def finite_non_negative_float(text: str) -> float:
    """A finite number of at least zero (a penalty)."""
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is out of range: give a finite number of at least 0")
    return value


def shape(text: str) -> tuple[int, ...]:
    """Comma-separated positive extents, e.g. ``1024,1024,1024``."""
    parts = text.split(",")
    try:
        sizes = tuple(int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated integers, e.g. 1024,1024,1024") from None
    bad = [size for size in sizes if size < 1]
    if bad:
        raise argparse.ArgumentTypeError(f"{text!r} has the extent {bad[0]}: every extent must be a positive integer")
    return sizes


_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def duration(text: str) -> float:
    """A positive time span in seconds, written with a unit: ``30s``, ``10m``, ``1.5h`` (a bare
    number is seconds)."""
    number, unit = (text[:-1], text[-1].lower()) if text[-1:].lower() in _DURATION_UNITS else (text, "s")
    try:
        value = float(number) * _DURATION_UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: give a number with a unit, "
                                         "e.g. 30s, 10m or 1h") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range: give a finite duration above 0, "
                                         "e.g. 30s, 10m or 1h")
    return value
