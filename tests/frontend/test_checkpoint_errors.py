"""Damaged or foreign checkpoints: each class of damage ends in one DataError naming the file and
what is wrong, before any model is allocated."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from frontend.errors import DataError
from frontend.training import ModelSpec, build_model, load_checkpoint, save_checkpoint

SPEC = ModelSpec("mlp", (1, 8, 8), hidden=4)


@pytest.fixture
def good(tmp_path):
    return save_checkpoint(tmp_path / "good.npz", build_model(SPEC), SPEC, {"dataset": "digits"})


def _entries(path) -> dict:
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def _rewrite(path, target, meta=None, **changes):
    entries = _entries(path)
    if meta is not None:
        entries["__meta__"] = np.array(json.dumps(meta))
    entries.update(changes)
    entries = {k: v for k, v in entries.items() if v is not None}
    np.savez(target, **entries)
    return target


def _spec_meta(**fields):
    spec = {"kind": "mlp", "in_shape": [1, 8, 8], "classes": 10, "hidden": 4, "channels": [16, 32], "extra": {}}
    return {"spec": {**spec, **fields}, "info": {}}


def test_a_good_checkpoint_round_trips(good):
    model, spec, info = load_checkpoint(good)
    assert spec == SPEC and info == {"dataset": "digits"}
    for (name, value), (_, saved) in zip(model.state_dict().items(), build_model(SPEC).state_dict().items()):
        np.testing.assert_array_equal(value, saved, err_msg=name)


def _damaged(kind: str, good, tmp_path):
    bad = tmp_path / f"{kind}.npz"
    raw = good.read_bytes()
    match kind:
        case "empty":
            bad.write_bytes(b"")
        case "foreign":
            bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
        case "truncated":
            bad.write_bytes(raw[: len(raw) // 2])
        case "corrupted":
            bad.write_bytes(raw[:200] + bytes(len(raw) - 400) + raw[-200:])
        case "directory":
            bad.mkdir()
        case "missing-file":
            pass
        case "no-meta":
            _rewrite(good, bad, __meta__=None)
        case "meta-not-json":
            _rewrite(good, bad, __meta__=np.array("{not json"))
        case "meta-array":
            _rewrite(good, bad, __meta__=np.zeros(3))
        case "meta-no-spec":
            _rewrite(good, bad, meta={"info": {}})
        case "unknown-kind":
            _rewrite(good, bad, meta=_spec_meta(kind="transformer"))
        case "unknown-field":
            _rewrite(good, bad, meta=_spec_meta(layers=3))
        case "absurd-hidden":
            _rewrite(good, bad, meta=_spec_meta(hidden=10**7))
        case "negative-shape":
            _rewrite(good, bad, meta=_spec_meta(in_shape=[1, -8, 8]))
        case "string-size":
            _rewrite(good, bad, meta=_spec_meta(hidden="4"))
        case "sizes-disagree":
            _rewrite(good, bad, meta=_spec_meta(hidden=5))
        case "pickled":
            _rewrite(good, bad, **{"0.weight": np.array([object()], dtype=object)})
        case "integer-weights":
            entries = _entries(good)
            name = next(k for k in entries if k != "__meta__")
            _rewrite(good, bad, **{name: entries[name].astype(np.int64)})
        case "nan-weights":
            entries = _entries(good)
            name = next(k for k in entries if k != "__meta__")
            _rewrite(good, bad, **{name: np.full_like(entries[name], np.nan)})
        case "renamed-array":
            entries = _entries(good)
            name = next(k for k in entries if k != "__meta__")
            _rewrite(good, bad, **{name: None, "other": entries[name]})
        case "bad-info":
            _rewrite(good, bad, meta={**_spec_meta(), "info": {"dataset": "digits", "limit": "all"}})
        case "transposed-array":
            entries = _entries(good)
            name = next(k for k, v in entries.items() if v.ndim == 2)
            _rewrite(good, bad, **{name: np.ascontiguousarray(entries[name].T)})
    return bad


CASES = {
    "empty": "not an .npz archive", "foreign": "not an .npz archive", "truncated": "not an .npz archive",
    "corrupted": "damaged", "directory": "not a regular file", "missing-file": "no such file",
    "no-meta": "__meta__ entry", "meta-not-json": "not JSON", "meta-array": "must be one string",
    "meta-no-spec": "lacks the model spec", "unknown-kind": "kind='transformer'", "unknown-field": "layers",
    "absurd-hidden": "hidden=10000000 is out of range", "negative-shape": r"in_shape\[1\]=-8 is out of range",
    "string-size": "hidden='4' is out of range", "sizes-disagree": "parameters, the file holds",
    "pickled": "pickled objects", "integer-weights": "not floating-point", "nan-weights": "NaN or infinite",
    "renamed-array": "lacks", "bad-info": "info limit='all' is not usable", "transposed-array": "has shape",
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_damaged_checkpoint_is_refused_with_one_clear_error(kind, good, tmp_path):
    bad = _damaged(kind, good, tmp_path)
    with pytest.raises(DataError, match=CASES[kind]) as info:
        load_checkpoint(bad)
    message = str(info.value)
    assert str(bad) in message and "\n" not in message and "nestor train" in message


def test_a_zip_whose_entries_declare_huge_sizes_is_refused_unread(good, tmp_path, monkeypatch):
    import frontend.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "MAX_BYTES", 100)
    with pytest.raises(DataError, match="declare .* bytes, more than the limit"):
        load_checkpoint(good)
    assert zipfile.is_zipfile(good)


def test_random_byte_damage_never_escapes_as_another_exception(good, tmp_path):
    raw = bytearray(good.read_bytes())
    rng = np.random.default_rng(0)
    bad = tmp_path / "flipped.npz"
    for _ in range(300):
        damaged = bytearray(raw)
        for position in rng.integers(len(raw), size=rng.integers(1, 4)):
            damaged[position] = rng.integers(256)
        bad.write_bytes(bytes(damaged[: rng.integers(len(raw) // 2, len(raw) + 1)]))
        try:
            load_checkpoint(bad)
        except DataError:
            pass
