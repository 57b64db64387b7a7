"""Shared by the ScheduleError tests: a matcher that checks a refused call changed nothing."""

from __future__ import annotations

import re

import pytest

import nestor as ns
from nestor import ScheduleError


def pattern(*parts: str) -> str:
    """A regex matching ``parts`` in order, each taken literally."""
    return ".*".join(re.escape(p) for p in parts)


def _state(s: ns.Schedule):
    return (len(s.trace), [(st.name, list(st.leaves), st.attach, st.scope, dict(st.annotations),
                            dict(st.read_redirect)) for st in s.stages])


def rejects(s: ns.Schedule, call, *parts: str) -> None:
    """``call()`` raises a ScheduleError whose message holds ``parts`` in order, and changes nothing."""
    before = _state(s)
    with pytest.raises(ScheduleError, match=pattern(*parts)):
        call()
    assert _state(s) == before
