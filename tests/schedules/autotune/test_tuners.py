"""Tuners: grid and random cover the space without repeats; the model-guided tuner beats random on
a synthetic cost surface; the built-in cost model learns."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from schedules.autotune import ConfigSpace, GridTuner, ModelTuner, TuningError, make_tuner
from schedules.autotune.model import BoostedTrees, make_model


def surface_space() -> ConfigSpace:
    cfg = ConfigSpace()
    cfg.define_split("tile_i", 256, num_outputs=3)
    cfg.define_split("tile_j", 256, num_outputs=3)
    cfg.define_split("tile_k", 64, num_outputs=2)
    cfg.define_knob("unroll", [False, True])
    cfg.constrain(lambda c: c["tile_i"][2] * c["tile_j"][2] <= 256, "register tile")
    return cfg


def surface(config, rng) -> float:
    """A matmul-like cost: bowls in the log tile sizes, an interaction, a bonus, 2% noise."""
    log = math.log2
    v1, v2, v3 = config["tile_i"][2], config["tile_j"][2], config["tile_k"][1]
    b1, b2 = v1 * config["tile_i"][1], v2 * config["tile_j"][1]
    x = ((log(v1) - 2) ** 2 + 0.7 * (log(v2) - 5) ** 2 + 0.3 * (log(b1) - 6) ** 2 + 0.3 * (log(b2) - 7) ** 2
         + 0.2 * (log(v3) - 2) ** 2 - 0.5 * config["unroll"] * (v3 >= 4) + 0.3 * abs(log(v1 * v2) - 7))
    return math.exp(0.3 * x) * (1 + 0.02 * rng.standard_normal())


def search(tuner, trials: int, batch: int, seed: int) -> float:
    rng, best = np.random.default_rng(seed + 100), math.inf
    while len(tuner.history) < trials:
        configs = tuner.propose(batch)
        if not configs:
            break
        costs = [surface(c, rng) for c in configs]
        best = min(best, *costs)
        tuner.update(configs, costs)
    return best


def test_model_guided_tuner_beats_random_on_a_synthetic_surface():
    space = surface_space()
    model = [search(make_tuner("model", space, seed), 40, 8, seed) for seed in range(3)]
    random = [search(make_tuner("random", space, seed), 40, 8, seed) for seed in range(3)]
    assert np.mean(model) < 0.8 * np.mean(random), (model, random)


def test_model_tuner_scores_small_spaces_exhaustively():
    space = surface_space()
    tuner = ModelTuner(space, seed=0, score_all_below=10**6, warmup=4)
    search(tuner, 16, 4, 0)
    assert len(tuner.visited) == 16


def test_grid_covers_the_space_in_order_without_repeats():
    cfg = ConfigSpace()
    cfg.define_split("tile", 12, num_outputs=2)
    cfg.define_knob("unroll", [1, 2])
    tuner = GridTuner(cfg)
    tuner.update([cfg.points()[3]], [1.0])  # measured by an earlier run
    seen = []
    while batch := tuner.propose(5):
        seen += batch
        tuner.update(batch, [1.0] * len(batch))
    assert seen == [c for n, c in enumerate(cfg.points()) if n != 3]


def test_random_never_repeats_and_stops_when_the_space_is_spent():
    cfg = ConfigSpace()
    cfg.define_split("tile", 16, num_outputs=3)
    tuner = make_tuner("random", cfg, seed=1)
    seen = []
    while batch := tuner.propose(4):
        seen += batch
        tuner.update(batch, [None] * len(batch))
    assert sorted(map(repr, seen)) == sorted(map(repr, cfg.points()))


def test_unknown_tuner_and_model_are_errors():
    with pytest.raises(TuningError, match="unknown tuner 'genetic'"):
        make_tuner("genetic", surface_space())
    with pytest.raises(TuningError, match="unknown cost model"):
        make_model("forest")


def test_boosted_trees_learn_a_smooth_function():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 5, (200, 4))

    def f(v):
        return (v[:, 0] - 2) ** 2 + np.sin(v[:, 1]) * v[:, 2]

    model = BoostedTrees().fit(x, f(x))
    test = rng.uniform(0, 5, (200, 4))
    residual = np.mean((model.predict(test) - f(test)) ** 2) / np.var(f(test))
    assert residual < 0.15


@pytest.mark.skipif(not (importlib.util.find_spec("lightgbm") or importlib.util.find_spec("xgboost")),
                    reason="needs lightgbm or xgboost")
def test_library_model_fits_and_predicts():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 5, (60, 3))
    model = make_model("library").fit(x, x[:, 0] ** 2)
    assert np.corrcoef(model.predict(x), x[:, 0] ** 2)[0, 1] > 0.9
