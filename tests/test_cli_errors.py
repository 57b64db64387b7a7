"""The command line refuses nonsense with one line on stderr and exit code 2: out-of-range flags
(argparse, before any work), a missing --data-dir, damaged checkpoints and data files (a
NestorError under a command), bad OMP_NUM_THREADS; never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nestor.cli import main

ROOT = Path(__file__).resolve().parents[1]

BAD_FLAGS = [
    (["train", "mlp", "--epochs", "-1"], "argument --epochs: -1 is out of range"),
    (["train", "mlp", "--epochs", "two"], "argument --epochs: 'two' is not an integer"),
    (["train", "mlp", "--batch-size", "0"], "argument --batch-size: 0 is out of range"),
    (["train", "mlp", "--lr", "nan"], "argument --lr: 'nan' is not a finite number"),
    (["train", "mlp", "--lr", "inf"], "argument --lr: 'inf' is not a finite number"),
    (["train", "mlp", "--lr", "-0.1"], "argument --lr: -0.1 is out of range"),
    (["train", "mlp", "--weight-decay", "-1"], "argument --weight-decay: -1.0 is out of range"),
    (["train", "mlp", "--hidden", "0"], "argument --hidden: 0 is out of range"),
    (["train", "mlp", "--hidden", "10000000"], "argument --hidden: 10000000 is out of range"),
    (["train", "mlp", "--limit", "-1"], "argument --limit: -1 is out of range"),
    (["train", "mlp", "--seed", "-3"], "argument --seed: -3 is out of range"),
    (["train", "mlp", "--dataset", "mnist"], "--dataset mnist needs --data-dir"),
    (["tune", "matmul", "--trials", "-5"], "argument --trials: -5 is out of range"),
    (["tune", "matmul", "--timeout", "0"], "argument --timeout: 0.0 is out of range"),
    (["tune", "matmul", "--timeout", "nan"], "argument --timeout: 'nan' is not a finite number"),
    (["tune", "matmul", "--parallel", "0"], "argument --parallel: 0 is out of range"),
    (["tune", "matmul", "--top", "0"], "argument --top: 0 is out of range"),
    (["tune", "matmul", "--early-stop", "0"], "argument --early-stop: 0 is out of range"),
    (["tune", "matmul", "--dtype", "complex128"], "argument --dtype: invalid choice: 'complex128'"),
    (["tune", "matmul", "--shape", "0,4,4"], "has the extent 0: every extent must be a positive integer"),
    (["tune", "matmul", "--shape", "4,-4,4"], "has the extent -4"),
    (["tune", "matmul", "--shape", "4,x,4"], "give comma-separated integers"),
    (["demo", "--m", "0"], "argument --m: 0 is out of range"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_out_of_range_flags_are_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"nestor {argv[0]}: error: ")


def _run(args: list[str], cwd, **env) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "NESTOR_CACHE_DIR": "off", **env}
    return subprocess.run([sys.executable, "-m", "nestor", *args], capture_output=True, text=True, env=environ,
                          cwd=cwd, timeout=300)


def test_errors_under_a_command_are_one_line_in_a_real_process(tmp_path):
    """The entry point itself: exit codes and stderr of a process, for a damaged checkpoint, a data
    folder with damaged IDX files, and a thread count that would crash the OpenMP runtime."""
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (data / name).write_bytes(b"\x00\x00\x08\x03\x00\x00")
    cases = [
        (["eval", "bad.npz"], {}, "nestor: error: checkpoint bad.npz: not an .npz archive"),
        (["eval", "missing.npz"], {}, "nestor: error: checkpoint missing.npz: no such file"),
        (["train", "mlp", "--dataset", "mnist", "--data-dir", str(data), "--quiet"], {},
         "truncated header"),
        (["train", "mlp", "--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere"), "--quiet"], {},
         "is not a folder"),
        (["tune", "matmul", "--shape", "64,64,64", "--trials", "0", "--db", str(tmp_path / "t.db")],
         {"NESTOR_LLVM_OPT": "fast"}, "NESTOR_LLVM_OPT='fast'"),
        (["demo", "--m", "8"], {"OMP_NUM_THREADS": "100000"}, "OMP_NUM_THREADS='100000'"),
    ]
    for args, env, message in cases:
        done = _run(args, tmp_path, **env)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (args, done.stderr[-2000:])
        assert len(lines) == 1 and lines[0].startswith("nestor: error: ") and message in lines[0], done.stderr


def test_labels_outside_the_classes_stop_training(tmp_path):
    from frontend import data as fdata
    from frontend import optim
    from frontend.errors import DataError
    from frontend.training import ModelSpec, build_model, train_epoch

    images = np.zeros((8, 1, 8, 8), np.float32)
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 12], np.int32)
    model = build_model(ModelSpec("mlp", (1, 8, 8), hidden=4))
    loader = fdata.DataLoader(fdata.ArrayDataset(images, labels), batch_size=8)
    with pytest.raises(DataError, match="label 12 .* outside the 10 classes"):
        train_epoch(model, loader, optim.SGD(model.parameters(), 0.1))
