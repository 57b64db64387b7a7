"""The frontend's kernel variants have search spaces: matmul with a transposed left operand, narrow
dot products, and the register-tiled convolution and its two adjoints. Their candidates build,
and match numpy, in the tuner's workers."""

from __future__ import annotations

import pytest

from schedules.autotune import TEMPLATES, tune
from schedules.autotune.spaces import host_vectors


@pytest.mark.parametrize("template, sizes, options", [
    ("matmul_layout", (10, 48, 16), {"transpose_a": True, "transpose_b": True}),
    ("matmul_dot", (12, 5, 40), {}),
    ("conv2d_tiled", (2, 3, 9, 9, 4, 3), {"stride": 1, "padding": 1, "which": "forward"}),
    ("conv2d_tiled", (2, 3, 9, 9, 4, 3), {"stride": 2, "padding": 1, "which": "grad_input"}),
    ("conv2d_tiled", (2, 3, 9, 9, 4, 3), {"stride": 2, "padding": 0, "which": "grad_weight"}),
])
def test_variant_candidates_are_measured_and_correct(tmp_path, template, sizes, options):
    result = tune(template, sizes, options=options, trials=3, tuner="random", db=tmp_path / "t.db", n_parallel=1)
    assert len(result.records) == 3 and result.errors == 0, [r.error for r in result.records]
    knobs = {"matmul_dot": {"vector"}, "matmul_layout": {"v1", "v2", "v3", "b1", "b2"},
             "conv2d_tiled": {"tile_c", "tile_v"} | ({"tile_2"} if options.get("which") == "grad_weight" else set())}
    assert set(result.config) == knobs[template]


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
