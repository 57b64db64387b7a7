"""Search spaces enumerate exactly the valid points, and the templates' spaces keep their promises."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from schedules.autotune import Config, ConfigSpace, TuningError
from schedules.autotune.space import split_choices
from schedules.autotune.spaces import TEMPLATES, host_vectors


def brute_splits(extent: int, parts: int, policy: str, max_factor: int | None = None) -> set[tuple[int, ...]]:
    limit = extent if max_factor is None else min(extent, max_factor)
    found = set()
    for inner in itertools.product(range(1, limit + 1), repeat=parts - 1):
        product = math.prod(inner)
        if product > extent:
            continue
        if policy == "factors" and extent % product == 0 and all(extent % f == 0 for f in inner):
            found.add((extent // product, *inner))
        if policy == "power2" and all(f & (f - 1) == 0 for f in inner):
            found.add((-(-extent // product), *inner))
        if policy == "all":
            found.add((-(-extent // product), *inner))
    return found


@pytest.mark.parametrize("extent", [1, 12, 16, 30])
@pytest.mark.parametrize("parts", [1, 2, 3])
@pytest.mark.parametrize("policy", ["factors", "power2", "all"])
def test_split_choices_are_exactly_the_brute_force_ones(extent, parts, policy):
    got = split_choices(extent, parts, policy)
    assert len(got) == len(set(got))
    assert set(got) == brute_splits(extent, parts, policy)


def test_split_choices_respect_max_factor():
    assert set(split_choices(64, 3, "factors", max_factor=4)) == brute_splits(64, 3, "factors", 4)


def small_space() -> ConfigSpace:
    cfg = ConfigSpace()
    cfg.define_split("tile", 24, num_outputs=3)
    cfg.define_knob("unroll", [1, 2, 4])
    cfg.define_knob("pack", [False, True])
    cfg.constrain(lambda c: c["tile"][2] * c["unroll"] <= 8, "register tile of at most 8")
    cfg.constrain(lambda c: not c["pack"] or c["tile"][1] > 1, "packing needs a middle loop")
    # read a later knob first, and decide early without it: both must enumerate exactly
    cfg.constrain(lambda c: c["pack"] or c["tile"][0] < 24, "no packing: some outer loop")
    cfg.constrain(lambda c: c["tile"][0] > 2 or c["unroll"] < 4, "a short outer loop is not unrolled by 4")
    return cfg


def test_space_enumerates_exactly_the_valid_points():
    cfg = small_space()
    expected = [
        (tile, unroll, pack)
        for tile in split_choices(24, 3) for unroll in (1, 2, 4) for pack in (False, True)
        if tile[2] * unroll <= 8 and (not pack or tile[1] > 1) and (pack or tile[0] < 24)
        and (tile[0] > 2 or unroll < 4)]
    got = [(c["tile"], c["unroll"], c["pack"]) for c in cfg]
    assert sorted(got) == sorted(expected)
    assert len(cfg) == len(expected)
    assert cfg.raw_size == len(split_choices(24, 3)) * 6
    assert all(cfg.is_valid(c) and cfg.index(c) == n for n, c in enumerate(cfg))


def test_invalid_points_are_reported_with_their_reasons():
    cfg = small_space()
    bad = Config({"tile": (3, 1, 8), "unroll": 4, "pack": False})
    assert cfg.violations(bad) == ["register tile of at most 8"]
    assert not cfg.is_valid(bad)
    with pytest.raises(TuningError, match="register tile of at most 8"):
        cfg.config(tile=[3, 1, 8], unroll=4, pack=False)
    with pytest.raises(TuningError, match="not a choice"):
        cfg.config(tile=(5, 5, 1), unroll=1, pack=False)
    with pytest.raises(TuningError, match="unknown knobs"):
        cfg.config(tile=(24, 1, 1), unroll=1, pack=False, colour=3)


def test_sampling_and_mutation_stay_valid():
    cfg, rng = small_space(), np.random.default_rng(0)
    for _ in range(50):
        config = cfg.sample(rng)
        assert cfg.is_valid(config)
        assert cfg.is_valid(cfg.mutate(config, rng))


def test_config_round_trips_through_json():
    config = Config({"tile": (3, 2, 4), "unroll": 2, "pack": True})
    assert Config.from_json(config.to_json()) == config
    assert hash(Config.from_json(config.to_json())) == hash(config)


@pytest.mark.parametrize("bad", [
    lambda cfg: cfg.define_knob("unroll", []),
    lambda cfg: cfg.define_knob("unroll", [1, 1]),
    lambda cfg: cfg.define_split("tile", 8, policy="primes"),
    lambda cfg: cfg.define_split("tile", 0),
])
def test_declaration_errors(bad):
    with pytest.raises(TuningError):
        bad(ConfigSpace())


def test_knob_declared_twice_is_an_error():
    cfg = ConfigSpace()
    cfg.define_knob("unroll", [1, 2])
    with pytest.raises(TuningError, match="declared twice"):
        cfg.define_knob("unroll", [1, 2])


def test_matmul_cpu_space_keeps_its_promises():
    spec = TEMPLATES["matmul_cpu"]
    lanes, registers = host_vectors("float32")
    space = spec.space((64, 96, 32))
    assert len(space) > 0
    brute = 0
    for ti, tj, tk, chunks, _pack in itertools.product(split_choices(64, 3), split_choices(96, 3),
                                                      split_choices(32, 3, max_factor=32), (True, False),
                                                      (False, True)):
        vectors = -(-tj[2] // lanes)
        brute += ((tj[2] % lanes == 0 or tj[2] == 96) and ti[2] * vectors + vectors + 1 <= registers
                  and ti[2] * vectors * tk[2] <= 512 and (chunks or tk[1] == 1))
    assert len(space) == brute
    for config in space.points()[::97]:
        kwargs = spec.to_kwargs(config)
        assert kwargs["v2"] % lanes == 0 and kwargs["b1"] % kwargs["v1"] == 0 and kwargs["b2"] % kwargs["v2"] == 0
        assert 64 % kwargs["b1"] == 0 and 32 % kwargs["v3"] == 0
        assert kwargs["b3"] is None or (32 % kwargs["b3"] == 0 and kwargs["b3"] % kwargs["v3"] == 0)


def test_matmul_gpu_space_respects_the_block_limits():
    spec = TEMPLATES["matmul_gpu"]
    space = spec.space((512, 512, 512))
    assert len(space) > 0
    for config in space:
        threads = (config["L"] // config["V"]) * (config["L"] // config["W"])
        assert config["L"] % config["V"] == 0 and config["L"] % config["W"] == 0 and threads <= 1024
        assert (2 if config["double_buffer"] else 1) * 2 * config["L"] * config["S"] * 4 <= 48 * 1024
    raw = [(L, S, V, W, D) for L in (16, 32, 64, 128) for S in (4, 8, 16, 32) for V in (1, 2, 4, 8)
           for W in (2, 4, 8) for D in (1, 2)]
    assert len(space) == sum(L % V == 0 and L % W == 0 and W in (V, V // 2)
                             and 32 <= (L // V) * (L // W) <= 1024 and D * 2 * L * S * 4 <= 48 * 1024
                             and V * W <= 64 for L, S, V, W, D in raw)
    # the SGEMM shapes: 128 x 128 block tiles, 8 x 8 and 8 x 4 thread tiles, k-steps 8 to 32
    shapes = {(c["L"], c["V"], c["W"], c["S"], c["double_buffer"]) for c in space}
    assert {(128, 8, 8, 8, True), (128, 8, 4, 8, True), (128, 8, 8, 16, True), (128, 8, 8, 32, False),
            (128, 8, 8, 8, False)} <= shapes


def test_conv2d_space_gives_template_keywords():
    spec = TEMPLATES["conv2d_cpu"]
    space = spec.space((1, 8, 14, 14, 16, 3))
    assert len(space) > 0
    kwargs = spec.to_kwargs(space.points()[0])
    assert set(kwargs) == {"tile_k", "tile_y", "tile_x", "input_cache"}


@pytest.mark.parametrize("name, sizes", [("matmul_cpu", (32, 48, 16)), ("conv2d_cpu", (1, 4, 6, 6, 8, 3))])
def test_sampled_configs_compute_the_reference(name, sizes, rng):
    """Every knob setting is only a schedule: the interpreter agrees with the numpy reference."""
    import nestor as ns

    spec = TEMPLATES[name]
    space = spec.space(sizes)
    options = spec.task_options()
    for config in [space.points()[0], space.points()[-1], space.sample(np.random.default_rng(1))]:
        s, args = spec.instantiate(sizes, spec.to_kwargs(config), "float32", options)
        inputs = [rng.uniform(-1, 1, t.shape).astype(np.float32) for t in args[:-1]]
        out = np.full(args[-1].shape, np.nan, np.float32)
        ns.build(s, args, target="interp")(*inputs, out)
        np.testing.assert_allclose(out, spec.reference(inputs, sizes, options)[0], rtol=1e-4, atol=1e-4)
