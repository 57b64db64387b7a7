"""Every file Nestor writes is replaced atomically: a writer that fails or is killed midway leaves
the previous good file intact (tensorir/atomic.py, used by checkpoints, plots and the kernel cache)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from frontend.training import ModelSpec, build_model, load_checkpoint, save_checkpoint
from tensorir.atomic import atomic_write, write_bytes

ROOT = Path(__file__).resolve().parents[1]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_failing_writer_leaves_the_previous_file(tmp_path):
    target = tmp_path / "data.bin"
    write_bytes(target, b"good")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_write(target) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"good"
    assert _leftovers(tmp_path) == []


def test_modes_follow_the_umask_or_the_replaced_file(tmp_path):
    fresh = tmp_path / "fresh"
    write_bytes(fresh, b"x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
    os.chmod(fresh, 0o640)
    write_bytes(fresh, b"y")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640
    write_bytes(tmp_path / "secret", b"z", mode=0o600)
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600


def _model():
    spec = ModelSpec("mlp", (1, 4, 4), hidden=8)
    return build_model(spec, seed=1), spec


def test_checkpoint_survives_a_save_that_fails_midway(tmp_path, monkeypatch):
    model, spec = _model()
    path = save_checkpoint(tmp_path / "model.npz", model, spec, {"epoch": 1})
    before = path.read_bytes()

    def broken_savez(handle, **arrays):
        handle.write(b"PK\x03\x04 a partial archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("frontend.training.np.savez", broken_savez)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, build_model(spec, seed=2), spec, {"epoch": 2})
    assert path.read_bytes() == before
    _, _, info = load_checkpoint(path)
    assert info == {"epoch": 1} and _leftovers(tmp_path) == []


KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    from frontend.training import ModelSpec, build_model, save_checkpoint
    spec = ModelSpec("mlp", (1, 4, 4), hidden=8)
    save_checkpoint(sys.argv[1], build_model(spec, seed=1), spec, {"epoch": 1})
    os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # killed after writing, before the rename
    save_checkpoint(sys.argv[1], build_model(spec, seed=2), spec, {"epoch": 2})
""")


def test_checkpoint_survives_a_killed_writer(tmp_path):
    path = tmp_path / "model.npz"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(path)], env=env, timeout=120,
                          capture_output=True, text=True)
    assert done.returncode == -9, done.stderr
    model, _, info = load_checkpoint(path)
    expected, _ = _model()
    assert info == {"epoch": 1}
    for name, value in expected.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[name], value)


def test_checkpoint_keeps_its_npz_name(tmp_path):
    model, spec = _model()
    assert save_checkpoint(tmp_path / "plain", model, spec) == tmp_path / "plain.npz"
    assert (tmp_path / "plain.npz").exists() and not (tmp_path / "plain").exists()


def test_plot_survives_a_failing_savefig(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from schedules.autotune.database import Record
    from schedules.autotune.plot import plot_records

    records = [Record("matmul_cpu", (4, 4, 4), "float32", "llvm", "hw", {}, {"tile": t}, {"tile": t},
                      run_s=1e-3 * t) for t in (1, 2, 4)]
    path = plot_records(records, tmp_path / "tuning.png")
    before = path.read_bytes()
    assert before.startswith(b"\x89PNG")

    def broken_savefig(self, handle, **kwargs):
        handle.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError):
        plot_records(records, path)
    assert path.read_bytes() == before and _leftovers(tmp_path) == []
