"""Random legal schedules of the catalogue's operators compiled by the LLVM backend agree with numpy
(the same strategy as the schedule tests: splits, tiles, reorders, fuses, attachments, caches,
inlining, vectorize/parallel/unroll marks)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.schedules.test_random_schedules import check_random_schedule


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_schedules_llvm(data):
    check_random_schedule(data, max_steps=8, target="llvm")


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_schedules_llvm_long(data):
    check_random_schedule(data, max_steps=16, target="llvm")
