"""The matmul layout variants of the frontend (a transposed left operand, narrow dot products)
have search spaces: their candidates build, and match numpy, in the tuner's workers."""

from __future__ import annotations

import pytest

from schedules.autotune import TEMPLATES, tune
from schedules.autotune.spaces import host_vectors


@pytest.mark.parametrize("template, sizes, options", [
    ("matmul_layout", (10, 48, 16), {"transpose_a": True, "transpose_b": True}),
    ("matmul_dot", (12, 5, 40), {}),
])
def test_variant_candidates_are_measured_and_correct(tmp_path, template, sizes, options):
    result = tune(template, sizes, options=options, trials=3, tuner="random", db=tmp_path / "t.db", n_parallel=1)
    assert len(result.records) == 3 and result.errors == 0, [r.error for r in result.records]
    assert set(result.config) == ({"vector"} if template == "matmul_dot" else {"v1", "v2", "v3", "b1", "b2"})


def test_layout_space_keeps_register_tiles_in_registers():
    spec = TEMPLATES["matmul_layout"]
    lanes, registers = host_vectors("float32")
    points = list(spec.space((64, 128, 32)).points())
    assert points
    for config in points:
        kwargs = spec.to_kwargs(config)
        vectors = -(-kwargs["v2"] // lanes)
        assert kwargs["v1"] * vectors + vectors + 1 <= registers
        assert kwargs["b1"] % kwargs["v1"] == 0 and kwargs["b2"] % kwargs["v2"] == 0


def test_dot_space_offers_vector_widths_up_to_k():
    spec = TEMPLATES["matmul_dot"]
    assert all(spec.to_kwargs(c)["vector"] <= 6 for c in spec.space((4, 3, 6)).points())
