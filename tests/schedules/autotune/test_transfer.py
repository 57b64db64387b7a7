"""A cost model that transfers: shape-invariant features, pre-training on other shapes' records
of the same template and machine only, when transfer is on, and the time budget's flag."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest

from nestor.cli import main
from nestor.commands.arguments import duration
from schedules.autotune import Database, ModelTuner, Record, TuningError, tune
from schedules.autotune.driver import task_space
from schedules.autotune.features import DEFAULT_CACHES, cache_sizes, named_features
from schedules.autotune.spaces import CONV2D_CPU, MATMUL_CPU
from schedules.autotune.transfer import Prior, build_prior, transfer_prior

OPTIONS = MATMUL_CPU.task_options()
KWARGS = {"v1": 4, "v2": 32, "v3": 4, "b1": 32, "b2": 64, "b3": 128, "pack_b": True}


def features(sizes, kwargs=KWARGS):
    return named_features(MATMUL_CPU, sizes, OPTIONS, "float32", kwargs)


def test_the_same_tile_has_the_same_cache_and_register_features_at_every_shape():
    small, large = features((256, 256, 256)), features((1024, 512, 2048))
    invariant = ("tile_per_l1", "tile_per_l2", "panel_per_l1", "a_block_per_l1", "register_intensity",
                 "cache_intensity", "empty_lanes", "registers_used", "waste_v2", "log_trips_k_inner")
    assert {name: small[name] for name in invariant} == {name: large[name] for name in invariant}
    assert small["share_m"] == 4 * large["share_m"] and small["log_trips_i"] == large["log_trips_i"] - 2
    block = (32 * 128 + 64 * 128 + 32 * 64) * 4
    assert small["tile_per_l1"] == pytest.approx(math.log2(block / cache_sizes()[0]))
    # a tile larger than the problem only covers the problem; a ragged one pads
    clipped = features((16, 64, 128))
    assert clipped["tile_per_l1"] == pytest.approx(math.log2((16 * 128 + 64 * 128 + 16 * 64) * 4 / cache_sizes()[0]))
    assert clipped["share_m"] == 1.0 and features((100, 256, 256))["waste_b1"] == pytest.approx(28 / 128)


def test_conv_features_read_lanes_and_padding():
    sizes, options = (1, 8, 14, 14, 32, 3), CONV2D_CPU.task_options()
    one = named_features(CONV2D_CPU, sizes, options, "float32", {"tile_k": 8, "tile_y": 2, "tile_x": 4})
    two = named_features(CONV2D_CPU, (4, 8, 28, 28, 64, 3), options, "float32",
                         {"tile_k": 8, "tile_y": 2, "tile_x": 4})
    assert one["patch_per_l1"] == two["patch_per_l1"] and one["register_intensity"] == two["register_intensity"]
    assert one["empty_lanes"] > 0 and one["input_cache_root"] == 1.0 and one["waste_x"] == pytest.approx(2 / 16)


def test_cache_sizes_come_from_the_system_or_defaults(tmp_path):
    for index, (level, kind, size) in enumerate([(1, "Instruction", "64K"), (1, "Data", "48K"),
                                                 (2, "Unified", "2048K")]):
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        for name, value in (("level", level), ("type", kind), ("size", size)):
            (folder / name).write_text(f"{value}\n")
    assert cache_sizes(str(tmp_path)) == (48 * 1024, 2 * 1024 * 1024)
    assert cache_sizes(str(tmp_path / "missing")) == DEFAULT_CACHES


def _record(shapes, run_s=1e-3, hardware="hw", op="matmul_cpu", dtype="float32", options=OPTIONS, error=None):
    return Record(op, shapes, dtype, "llvm", hardware, options, {}, KWARGS, run_s=None if error else run_s,
                  error=error)


def test_pre_training_reads_only_other_shapes_of_this_template_dtype_options_and_machine(tmp_path):
    with Database(tmp_path / "t.db") as db:
        for record in [_record((64, 64, 64), 2e-3), _record((128, 64, 64), 3e-3),
                       _record((32, 32, 32)),  # the task itself
                       _record((64, 64, 64), hardware="other"), _record((64, 64, 64), dtype="float64"),
                       _record((64, 64, 64), options={**OPTIONS, "transpose_b": False}),
                       _record((1, 8, 8, 8, 8, 3), op="conv2d_cpu"), _record((64, 64, 64), error="wrong result")]:
            db.add(record)
        prior = transfer_prior(db, MATMUL_CPU, (32, 32, 32), "float32", "llvm", OPTIONS, "hw", None, "model")
        assert isinstance(prior, Prior) and len(prior) == 2 and prior.shapes == 2
        assert prior.y.tolist() == pytest.approx([math.log(2e-3 / (2 * 64**3)), math.log(3e-3 / (2 * 128 * 64 * 64))])
        assert prior.offset == pytest.approx(-math.log(2 * 32**3))
        # on or off: automatic with records, never with False, an error for a tuner without a model
        assert transfer_prior(db, MATMUL_CPU, (32, 32, 32), "float32", "llvm", OPTIONS, "hw", False, "model") is None
        assert transfer_prior(db, MATMUL_CPU, (32, 32, 32), "float32", "llvm", OPTIONS, "hw", None, "random") is None
        assert transfer_prior(db, MATMUL_CPU, (32, 32, 32), "float32", "llvm", OPTIONS, "new", None, "model") is None
        with pytest.raises(TuningError, match="tuner='model'"):
            transfer_prior(db, MATMUL_CPU, (32, 32, 32), "float32", "llvm", OPTIONS, "hw", True, "random")
        with pytest.raises(TuningError, match="True, False or None"):
            transfer_prior(db, MATMUL_CPU, (32, 32, 32), "float32", "llvm", OPTIONS, "hw", "yes", "model")


def _truth(sizes, config) -> float:
    """A made-up run time that depends on the tile only through shape-invariant features."""
    f = named_features(MATMUL_CPU, sizes, OPTIONS, "float32", MATMUL_CPU.to_kwargs(config))
    return 2.0 * sizes[0] * sizes[1] * sizes[2] * 1e-10 * math.exp(
        -0.3 * f["register_intensity"] + 0.5 * abs(f["tile_per_l1"] + 1) + 2 * f["waste_b2"])


def test_a_pre_trained_model_picks_good_configs_of_a_new_shape_in_its_first_batch():
    seen = (32, 32, 32)
    points = task_space(MATMUL_CPU, seen, "float32", OPTIONS).points()
    sample = [points[i] for i in np.random.default_rng(0).permutation(len(points))[:300]]
    records = [Record("matmul_cpu", seen, "float32", "llvm", "hw", OPTIONS, {}, MATMUL_CPU.to_kwargs(c),
                      run_s=_truth(seen, c)) for c in sample]
    new = (64, 64, 64)
    prior = build_prior(records, MATMUL_CPU, new, "float32", OPTIONS)
    space = task_space(MATMUL_CPU, new, "float32", OPTIONS)
    costs = sorted(_truth(new, c) for c in space.points())
    picks = ModelTuner(space, seed=0, prior=prior, epsilon=0.0, score_all_below=10**5).propose(4)
    # without the prior the first batch is random; with it, every pick is in the best tenth
    assert max(_truth(new, c) for c in picks) <= costs[len(costs) // 10]


def test_tuning_transfers_by_default_when_the_database_has_other_shapes(tmp_path, capsys):
    db = str(tmp_path / "t.db")
    common = ["--db", db, "--parallel", "1", "--trials", "2"]
    assert main(["tune", "matmul", "--shape", "32,32,32", "--tuner", "random", *common]) == 0
    assert "transfer:" not in capsys.readouterr().err
    assert main(["tune", "matmul", "--shape", "48,32,32", "--time", "10m", *common]) == 0
    assert "transfer: the cost model started from 2 records of other shapes" in capsys.readouterr().err
    assert main(["tune", "matmul", "--shape", "64,32,32", "--no-transfer", *common]) == 0
    assert "transfer:" not in capsys.readouterr().err
    assert tune("matmul", (64, 32, 32), trials=0, db=db, transfer=True).transferred == 4
    with pytest.raises(TuningError, match="tuner='model'"):
        tune("matmul", (64, 32, 32), trials=1, tuner="grid", db=db, transfer=True)


def test_every_record_is_in_the_database_before_the_next_one_is_measured(tmp_path):
    """Anytime tuning: at every progress report the database already holds the run's records, so a
    run stopped at any point leaves its best so far to lookup_config."""
    from schedules.autotune import lookup_config

    path = tmp_path / "t.db"
    held = []

    def check(progress) -> None:
        with Database(path) as other:
            records = other.records("matmul_cpu", (32, 32, 32))
        held.append(len(records) == progress.done)
        best = min((r for r in records if r.ok), key=lambda r: r.run_s)
        held.append(lookup_config("matmul", (32, 32, 32), db=path) == best.kwargs)

    tune("matmul", (32, 32, 32), trials=4, tuner="random", db=path, n_parallel=1, batch_size=2, repeat=2,
         progress=check)
    assert held and all(held)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("1h", 3600), ("1.5H", 5400), ("90", 90)])
def test_durations_have_units(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize(("text", "message"), [("10x", "is not a duration"), ("m", "is not a duration"),
                                               ("0s", "out of range"), ("-5m", "out of range"),
                                               ("infh", "out of range"), ("nan", "out of range")])
def test_bad_durations_are_a_one_line_usage_error(text, message, capsys):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        duration(text)
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", "matmul", "--shape", "8,8,8", f"--time={text}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("nestor tune: error: argument --time: ")


def test_prior_features_match_the_space_points():
    space = task_space(MATMUL_CPU, (32, 32, 32), "float32", OPTIONS)
    prior = build_prior([_record((64, 64, 64))], MATMUL_CPU, (32, 32, 32), "float32", OPTIONS)
    tuner = ModelTuner(space, prior=prior)
    assert tuner._all_features().shape == (len(space), prior.x.shape[1])
    assert np.isfinite(tuner._all_features()).all()


def test_records_the_features_cannot_read_do_not_transfer():
    odd = [Record("matmul_cpu", (64, 64, 64), "float32", "llvm", "hw", OPTIONS, {}, kwargs, run_s=1e-3)
           for kwargs in ({"v1": "x"}, {"b1": 0}, {"b2": None})]
    assert build_prior(odd, MATMUL_CPU, (32, 32, 32), "float32", OPTIONS) is None
    prior = build_prior([*odd, _record((64, 64, 64))], MATMUL_CPU, (32, 32, 32), "float32", OPTIONS)
    assert len(prior) == 1
