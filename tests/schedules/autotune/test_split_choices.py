"""``split_choices`` of a loop of any extent: the same choices as counting every candidate
factor, found from the divisors up to the square root (a loop over every number up to an extent
of 10**11, a `nestor tune --shape` typo, did not end)."""

from __future__ import annotations

import pytest

from schedules.autotune.space import split_choices


def _brute_force(extent: int, outputs: int, policy: str, max_factor: int | None) -> list[tuple[int, ...]]:
    limit = extent if max_factor is None else min(extent, max_factor)
    allowed = [d for d in range(1, limit + 1) if (extent % d == 0 if policy == "factors" else
                                                 (d & (d - 1) == 0 if policy == "power2" else True))]
    found = []

    def inner(prefix, product):
        if len(prefix) == outputs - 1:
            outer = extent // product if policy == "factors" else -(-extent // product)
            found.append((outer, *prefix))
            return
        for factor in allowed:
            if product * factor <= extent and (policy != "factors" or (extent // product) % factor == 0):
                inner((*prefix, factor), product * factor)

    inner((), 1)
    return found


@pytest.mark.parametrize("extent", [1, 2, 7, 12, 36, 64, 97, 100, 777, 1024])
@pytest.mark.parametrize("policy", ["factors", "power2"])
@pytest.mark.parametrize("max_factor", [None, 16])
def test_the_choices_are_those_of_every_candidate(extent, policy, max_factor):
    assert sorted(split_choices(extent, 3, policy, max_factor)) == sorted(_brute_force(extent, 3, policy, max_factor))


@pytest.mark.parametrize("policy", ["factors", "power2"])
def test_a_huge_extent_is_split_without_counting_to_it(policy):
    extent = 99999999977  # a prime
    choices = split_choices(extent, 2, policy, max_factor=64)
    want = [(extent, 1)] if policy == "factors" else [(-(-extent // f), f) for f in (1, 2, 4, 8, 16, 32, 64)]
    assert sorted(choices) == sorted(want)
