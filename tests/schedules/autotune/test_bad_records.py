"""Rows of the tuning database are data from a file anyone may edit: a row that is not a valid point
of its template's space for its task (wrong knob names, out-of-space values, broken constraints,
wrong types, kwargs that are not its knobs', malformed JSON or times) is skipped with one warning
naming the file and the row, and never reaches a build, ``nestor tune``, ``lookup_config`` or
``apply_best``."""

from __future__ import annotations

import json
import sqlite3
import warnings

import pytest

from nestor.cli import main
from schedules.autotune import Database, Record, TuningWarning, apply_best, hardware_fingerprint, lookup_config
from schedules.autotune.database import canonical
from schedules.autotune.spaces import TEMPLATES
from schedules.autotune.validate import valid_records
from schedules.templates import matmul_cpu

SPEC = TEMPLATES["matmul_cpu"]
SIZES = (48, 48, 48)
OPTIONS = SPEC.task_options()
SPACE = SPEC.space(SIZES)
GOOD = SPACE.points()[len(SPACE) // 2]
GOOD_KNOBS = {name: list(v) if isinstance(v, tuple) else v for name, v in GOOD.items()}
GOOD_KWARGS = SPEC.to_kwargs(GOOD)
ZEROS = {"v1": 0, "v2": 0, "v3": 0, "b1": 0, "b2": 0, "b3": 0, "pack_b": True}


def _knobs(**changes) -> str:
    return json.dumps({**GOOD_KNOBS, **changes})


def _other_constraint_breaker() -> dict:
    """Knob values that are each a choice of the space but together break a constraint."""
    for point in SPACE.points():
        if not point["k_chunks"] and point["tile_k"][1] == 1:
            for split in SPACE.knobs["tile_k"].choices:
                if split[1] != 1 and split[2] == point["tile_k"][2]:
                    return {**{n: list(v) if isinstance(v, tuple) else v for n, v in point.items()},
                            "tile_k": list(split)}
    raise AssertionError("no constraint to break")


#: each kind of bad row: the columns that differ from a good record
BAD_ROWS = {
    "knobs of 0": {"knobs": _knobs(tile_i=[0, 0, 0], tile_j=[0, 0, 0], tile_k=[0, 0, 0]), "kwargs": json.dumps(ZEROS)},
    "kwargs of 0 under valid knobs": {"kwargs": json.dumps(ZEROS)},
    "unknown knob name": {"knobs": _knobs(unroll=4)},
    "missing knob": {"knobs": json.dumps({k: v for k, v in GOOD_KNOBS.items() if k != "pack_b"})},
    "value outside the space": {"knobs": _knobs(tile_i=[7, 7, 1])},
    "broken constraint": {"knobs": json.dumps(_other_constraint_breaker())},
    "integer for a boolean": {"knobs": _knobs(pack_b=int(GOOD_KNOBS["pack_b"])),
                              "kwargs": json.dumps({**GOOD_KWARGS, "pack_b": int(GOOD_KWARGS["pack_b"])})},
    "float for an integer": {"knobs": _knobs(tile_i=[float(f) for f in GOOD_KNOBS["tile_i"]])},
    "text for a split": {"knobs": _knobs(tile_i=str(GOOD_KNOBS["tile_i"]))},
    "knobs not an object": {"knobs": json.dumps(list(GOOD_KNOBS))},
    "malformed knobs JSON": {"knobs": '{"tile_i": [6, 8'},
    "malformed kwargs JSON": {"kwargs": "{v1: 0}"},
    "kwargs not JSON text": {"kwargs": b"\x00\xff"},
    "run time as text": {"run_s": "fast"},
    "negative run time": {"run_s": -1.0},
    "error that is not text": {"error": b"\x01"},
}


def good_record(run_s: float) -> Record:
    return Record("matmul_cpu", SIZES, "float32", "llvm", hardware_fingerprint("llvm"), OPTIONS, GOOD_KNOBS,
                  GOOD_KWARGS, "[]", 0.1, run_s, 0.01, tuner="random", session="s")


def write_bad_row(path, columns: dict) -> int:
    """Insert, with plain sqlite3, a row that is faster than the good one but for ``columns``."""
    row = {"op": "matmul_cpu", "shapes": canonical(list(SIZES)), "dtype": "float32", "target": "llvm",
           "hardware": hardware_fingerprint("llvm"), "options": canonical(OPTIONS), "knobs": json.dumps(GOOD_KNOBS),
           "kwargs": json.dumps(GOOD_KWARGS), "trace": "[]", "compile_s": 0.1, "run_s": 1e-6, "noise": 0.01,
           "error": None, "tuner": "hand", "session": "x", "timestamp": 1.0, **columns}
    with sqlite3.connect(path) as conn:
        cursor = conn.execute(f"INSERT INTO records ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                              list(row.values()))
        return cursor.lastrowid


@pytest.fixture
def database(tmp_path, monkeypatch):
    path = tmp_path / "tuning.db"
    monkeypatch.setenv("NESTOR_TUNING_DB", str(path))
    with Database(path) as db:
        db.add(good_record(run_s=1.0))
    return path


def skipped_rows(caught, path) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, TuningWarning) and str(path) in str(w.message)]


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_a_bad_row_is_skipped_with_one_warning_and_never_used(database, kind):
    row = write_bad_row(database, BAD_ROWS[kind])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert lookup_config("matmul", SIZES, db=database) == GOOD_KWARGS
        assert lookup_config("matmul", SIZES, db=database, nearby=False) == GOOD_KWARGS
        s, _ = matmul_cpu(*SIZES)  # a plain call consults the database
        tuned, _ = apply_best("matmul", SIZES, db=database)
    expected = matmul_cpu(*SIZES, **GOOD_KWARGS)[0].trace.to_json()
    assert s.trace.to_json() == tuned.trace.to_json() == expected
    [message] = skipped_rows(caught, database)
    assert f"tuning database {database}: row {row} skipped" in message
    assert f"DELETE FROM records WHERE id = {row}" in message


def test_without_a_valid_row_builds_use_the_template_defaults(tmp_path, monkeypatch):
    path = tmp_path / "tuning.db"
    monkeypatch.setenv("NESTOR_TUNING_DB", str(path))
    Database(path).close()
    write_bad_row(path, BAD_ROWS["knobs of 0"])
    with pytest.warns(TuningWarning, match="row 1 skipped, not a valid point of the matmul_cpu space"):
        s, _ = matmul_cpu(*SIZES)
    assert s.trace.to_json() == matmul_cpu(*SIZES, v1=8)[0].trace.to_json()
    assert lookup_config("matmul", SIZES, db=path) is None


def test_nestor_tune_skips_bad_rows_and_lists_only_valid_ones(database, capsys):
    rows = [write_bad_row(database, columns) for columns in BAD_ROWS.values()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["tune", "matmul", "--shape", "48,48,48", "--trials", "2", "--tuner", "random",
                     "--parallel", "1", "--db", str(database)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "2/2" in err and "v1=0" not in out
    with Database(database) as db, warnings.catch_warnings():
        warnings.simplefilter("ignore", TuningWarning)
        stored = db.records("matmul_cpu", SIZES, "float32", "llvm", OPTIONS)
        valid = [r for r, _ in valid_records(database, SPEC, SPACE, stored) if r.ok]
    ranked = out.strip().splitlines()[1:]
    assert len(ranked) == len(valid) >= 2  # the good row and this run's correct ones: no forged row is ranked
    messages = skipped_rows(caught, database)
    assert sorted(int(m.split(" row ")[1].split()[0]) for m in messages) == rows
    assert main(["tune", "matmul", "--shape", "48,48,48", "--trials", "0", "--db", str(database)]) == 0


def test_malformed_shapes_or_options_do_not_break_nearby_lookups_or_plots(database, tmp_path):
    write_bad_row(database, {"shapes": "[48, 48"})
    write_bad_row(database, {"shapes": "[48, 48, 1e999]"})
    write_bad_row(database, {"options": "not json", "timestamp": 9e9})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        near = lookup_config("matmul", (48, 48, 64), db=database)
    messages = skipped_rows(caught, database)
    assert len(messages) == 2
    assert "row 2 skipped, its shapes are not JSON" in messages[0]
    assert "row 3 skipped, its shapes [48, 48, inf] are not a list of integers" in messages[1]
    assert any(SPEC.to_kwargs(c) == near for c in SPEC.space((48, 48, 64)).points())
    with Database(database) as db, pytest.warns(TuningWarning, match="row 4 skipped"):
        tasks = db.tasks()
    assert [t["shapes"] for t in tasks] == [SIZES]


def test_an_unreadable_database_is_a_clear_error_for_lookups_and_a_warning_for_builds(tmp_path, monkeypatch):
    path = tmp_path / "tuning.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    with pytest.raises(Exception, match=f"tuning database {path}: cannot") as raised:
        lookup_config("matmul", SIZES, db=path)
    assert type(raised.value).__name__ == "TuningError"
    monkeypatch.setenv("NESTOR_TUNING_DB", str(path))
    with pytest.warns(TuningWarning, match="the tuning database is not usable"):
        s, _ = matmul_cpu(*SIZES)
    with pytest.warns(TuningWarning, match="the tuning database is not usable"):  # the defaults, named
        defaults, _ = matmul_cpu(*SIZES, v1=8)
    assert s.trace.to_json() == defaults.trace.to_json()
