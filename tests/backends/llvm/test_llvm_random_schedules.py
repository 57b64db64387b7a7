"""Random legal schedules of the catalogue's operators compiled by the LLVM backend agree with numpy
(the same strategy as the schedule tests: splits, tiles, reorders, fuses, attachments, caches,
inlining, vectorize/parallel/unroll marks)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.schedules.chains import DataChooser, RandomChooser, check_chain
from tests.schedules.test_random_schedules import check_random_schedule

# inner parallel loops are legal (and warned about); the warning is tested in test_accepted_schedules_lower
pytestmark = pytest.mark.filterwarnings("ignore::schedules.parallel.InnerParallelWarning")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_schedules_llvm(data):
    check_random_schedule(data, max_steps=8, target="llvm")


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_schedules_llvm_long(data):
    check_random_schedule(data, max_steps=16, target="llvm")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_long_chains_llvm(data):
    """Long mixed chains (tests/schedules/chains.py) agree with numpy through the interpreter and LLVM."""
    check_chain(DataChooser(data), steps=data.draw(st.integers(20, 30), label="steps"), targets=("interp", "llvm"))


@pytest.mark.slow
@pytest.mark.parametrize("block", range(10))
def test_random_long_chains_llvm_many(block):
    """1,000 seeded chains of 24 steps through the interpreter and LLVM."""
    for seed in range(10_000 + block * 100, 10_000 + (block + 1) * 100):
        check_chain(RandomChooser(seed), steps=24, targets=("interp", "llvm"))
