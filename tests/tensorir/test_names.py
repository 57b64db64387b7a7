"""The one identifier sanitiser and the integer helpers that sizes and tiles use."""

from __future__ import annotations

import pytest

from tensorir.intmath import ceil_div, round_up
from tensorir.names import identifier


@pytest.mark.parametrize(("name", "options", "expected"), [
    ("C.local", {}, "C_local"),
    ("i.outer", {"keep": "."}, "i.outer"),
    ("2x", {}, "_2x"),
    ("", {"empty": "v", "prefix": "v_"}, "v"),
    ("_tmp", {"prefix": "v_", "reserved": ("_",)}, "v__tmp"),
    ("nestor_f", {"prefix": "k_", "reserved": ("_", "nestor_")}, "k_nestor_f"),
    ("float", {"prefix": "k_", "reserved_names": {"float"}}, "k_float"),
    ("a b-c", {"prefix": ""}, "a_b_c"),
])
def test_identifier(name, options, expected):
    assert identifier(name, **options) == expected


@pytest.mark.parametrize(("a", "b"), [(0, 4), (1, 4), (4, 4), (5, 4), (1023, 64), (10**18 + 1, 7)])
def test_ceil_div_and_round_up_are_exact(a, b):
    assert ceil_div(a, b) == (a + b - 1) // b
    assert round_up(a, b) % b == 0 and 0 <= round_up(a, b) - a < b
