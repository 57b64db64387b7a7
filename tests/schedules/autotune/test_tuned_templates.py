"""Later builds pick the tuned config: a template called without knobs uses the database's best
record for exactly its task; explicit knobs, other sizes or NESTOR_TUNED=0 keep the defaults."""

from __future__ import annotations

from schedules.autotune import Database, Record, hardware_fingerprint
from schedules.templates import matmul_cpu

from .test_database import knobs_of


def _record(sizes, kwargs) -> Record:
    return Record(op="matmul_cpu", shapes=sizes, dtype="float32", target="llvm",
                  hardware=hardware_fingerprint("llvm"), options={"transpose_b": True, "parallel": True},
                  knobs=knobs_of(kwargs, sizes), kwargs=kwargs, trace="[]", compile_s=0.1, run_s=1e-3, noise=0.01)


def _register_tile(s) -> str:
    return next(str(stage.op.shape) for stage in s.stages if stage.name == "B.packed")


def test_a_template_without_knobs_uses_the_tuned_config(tmp_path, monkeypatch):
    path = tmp_path / "tuning.db"
    monkeypatch.setenv("NESTOR_TUNING_DB", str(path))
    tuned = {"v1": 4, "v2": 16, "v3": 2, "b1": 16, "b2": 64, "b3": 32, "pack_b": True}
    with Database(path) as db:
        db.add(_record((64, 64, 64), tuned))
    s, _ = matmul_cpu(64, 64, 64)
    assert _register_tile(s) == "(4, 64, 16)"  # B packed in 16-wide panels: v2 = 16 came from the database
    s, _ = matmul_cpu(64, 64, 64, v2=32)
    assert _register_tile(s) == "(2, 64, 32)"  # an explicit knob keeps the template's own choices
    s, _ = matmul_cpu(96, 64, 64)
    assert _register_tile(s) == "(2, 64, 32)"  # another task: no exact record
    monkeypatch.setenv("NESTOR_TUNED", "0")
    s, _ = matmul_cpu(64, 64, 64)
    assert _register_tile(s) == "(2, 64, 32)"
