"""Bad input through the command line and the environment: every subcommand with missing, extra
or bad arguments, missing, unreadable and corrupt files (checkpoints, tuning databases, FIFOs
that would block a reader), bad and misspelt ``NESTOR_*`` variables, and damaged entries of the
on-disk kernel cache. Each gives one ``nestor...: error:`` line and exit code 2 (or, for the
cache, a silent rebuild with the right result): never a traceback, never a hang."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nestor.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def files(tmp_path):
    """Bad files of every kind, in ``tmp_path``."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "garbage.db").write_bytes(b"garbage, not a database\n" * 40)
    (tmp_path / "garbage.npz").write_bytes(os.urandom(64))
    connection = sqlite3.connect(tmp_path / "good.db")
    connection.execute("create table pad(x)")
    connection.executemany("insert into pad values (?)", [("x" * 500,)] * 200)
    connection.commit()
    connection.close()
    whole = (tmp_path / "good.db").read_bytes()
    (tmp_path / "truncated.db").write_bytes(whole[:len(whole) // 3])
    scrambled = bytearray(whole)
    scrambled[100:4000] = bytes(range(256)) * 15 + bytes(60)
    (tmp_path / "scrambled.db").write_bytes(bytes(scrambled))
    return tmp_path


def _error_line(argv, capsys, monkeypatch, cwd) -> str:
    """The one line a refused command prints (exit code 2, in this process), no traceback."""
    monkeypatch.chdir(cwd)
    try:
        code = main(argv)
    except SystemExit as exit_info:  # argparse's usage errors
        code = exit_info.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


#: argv -> the whole last line of stderr
REFUSED = [
    (["bogus"], "nestor: error: argument command: invalid choice: 'bogus' (choose from 'demo', 'tune', 'train', "
                "'eval')"),
    (["demo", "extra"], "nestor: error: unrecognized arguments: extra"),
    (["demo", "--m"], "nestor demo: error: argument --m: expected one argument"),
    (["demo", "--m", "x"], "nestor demo: error: argument --m: 'x' is not an integer from 1 to 4096"),
    (["demo", "--k", "100000000"], "nestor demo: error: argument --k: 100000000 is out of range: give an integer from "
                                   "1 to 4096"),
    (["tune"], "nestor: error: nestor tune: name an operator (e.g. nestor tune matmul --shape 64,64,64) or give --plot "
               "PNG to plot the latest tuned task"),
    (["tune", "matmul"], "nestor: error: nestor tune matmul: give the sizes with --shape, e.g. --shape 1024,1024,1024"),
    (["tune", "matmul", "extra", "--shape", "8,8,8"],
     "nestor: error: nestor tune matmul: unexpected argument 'extra' (only `nestor tune model mlp|cnn` takes a second "
     "name)"),
    (["tune", "matmul", "--shape", "4,4"],
     "nestor: error: matmul_cpu: expected 3 positive sizes (m, n, k), got [4, 4]"),
    (["tune", "matmul", "--shape", ""], "nestor tune: error: argument --shape: '': give comma-separated integers, e.g. "
                                        "1024,1024,1024"),
    (["tune", "matmul", "--shape", "8,8,8", "--option", "transpose_b", "--trials", "0"],
     "nestor: error: --option 'transpose_b': write NAME=VALUE, e.g. --option transpose_b=false"),
    (["tune", "matmul", "--shape", "8,8,8", "--option", "=1", "--trials", "0"],
     "nestor: error: --option '=1': write NAME=VALUE, e.g. --option transpose_b=false"),
    (["tune", "matmul", "--shape", "8,8,8", "--option", "bogus=1", "--trials", "0"],
     "nestor: error: matmul_cpu: unknown options ['bogus']; known: ['parallel', 'transpose_b']"),
    (["tune", "matmul", "--time", "10x"], "nestor tune: error: argument --time: '10x' is not a duration: give a number "
                                          "with a unit, e.g. 30s, 10m or 1h"),
    (["tune", "show", "extra"], "nestor: error: nestor tune show: unexpected argument 'extra'; it shows every task of "
                                "the database (choose it with --db PATH)"),
    (["tune", "model"], "nestor: error: nestor tune model: name the model, one of cnn, mlp (got None), e.g. nestor "
                        "tune model mlp --trials 64"),
    (["tune", "model", "vgg"], "nestor: error: nestor tune model: name the model, one of cnn, mlp (got 'vgg'), e.g. "
                               "nestor tune model mlp --trials 64"),
    (["train"], "nestor train: error: the following arguments are required: model"),
    (["train", "vgg"], "nestor train: error: argument model: invalid choice: 'vgg' (choose from 'cnn', 'lstm', 'mlp', "
                       "'resnet9')"),
    (["train", "mlp", "--dataset", "mnist", "--data-dir", "missing"],
     "nestor: error: mnist: missing is not a folder; give the folder holding the four IDX files"),
    (["train", "mlp", "--dataset", "mnist", "--data-dir", "folder"],
     "nestor: error: mnist: train-images-idx3-ubyte[.gz] not found in folder; give --data-dir the folder holding the "
     "four IDX files of mnist or fashion-mnist"),
    (["eval"], "nestor eval: error: the following arguments are required: checkpoint"),
    (["eval", "missing.npz"], "nestor: error: checkpoint missing.npz: no such file; give a file written by `nestor "
                              "train` (save_checkpoint)"),
    (["eval", "folder"], "nestor: error: checkpoint folder: not a regular file; give a file written by `nestor train` "
                         "(save_checkpoint)"),
    (["eval", "garbage.npz"], "nestor: error: checkpoint garbage.npz: not an .npz archive (no zip directory: wrong "
                              "format or truncated); give a file written by `nestor train` (save_checkpoint)"),
]

#: the tuning database given with --db, for `tune show`, `tune matmul` and `tune --plot`
DATABASES = [
    ("garbage.db", "tuning database garbage.db: cannot open it (file is not a database); pass another file with --db "
                   "PATH or NESTOR_TUNING_DB"),
    ("truncated.db", "tuning database truncated.db: cannot open it (database disk image is malformed)"),
    ("scrambled.db", "tuning database scrambled.db: cannot open it ("),
    ("folder", "tuning database folder: cannot open it (unable to open database file)"),
]


@pytest.mark.parametrize(("argv", "line"), REFUSED, ids=[" ".join(a) or "empty" for a, _ in REFUSED])
def test_a_refused_command_prints_one_line_naming_what_and_how(argv, line, files, capsys, monkeypatch):
    assert _error_line(argv, capsys, monkeypatch, files) == line


@pytest.mark.parametrize("command", [["tune", "show"], ["tune", "matmul", "--shape", "8,8,8", "--trials", "0"],
                                     ["tune", "--plot", "out.png"]], ids=["show", "matmul", "plot"])
@pytest.mark.parametrize(("database", "message"), DATABASES, ids=[d for d, _ in DATABASES])
def test_a_corrupt_tuning_database_is_named_with_the_fix(command, database, message, files, capsys, monkeypatch):
    line = _error_line([*command, "--db", database], capsys, monkeypatch, files)
    assert line.startswith(f"nestor: error: {message}"), line


def _run(args: list[str], cwd, timeout: float = 60, **env) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "NESTOR_CACHE_DIR": "off", **env}
    return subprocess.run([sys.executable, "-m", "nestor", *args], capture_output=True, text=True, env=environ,
                          cwd=cwd, timeout=timeout)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
@pytest.mark.parametrize(("argv", "line"), [
    (["eval", "pipe"], "nestor: error: checkpoint pipe: not a regular file; give a file written by `nestor train` "
                       "(save_checkpoint)"),
    (["tune", "show", "--db", "pipe"], "nestor: error: tuning database pipe: cannot open it ("),
], ids=["checkpoint", "database"])
def test_a_fifo_given_as_a_file_is_refused_without_blocking(argv, line, tmp_path):
    """A FIFO with no writer would block a reader forever: refused (in a child, under a timeout)."""
    os.mkfifo(tmp_path / "pipe")
    done = _run(argv, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(line), done.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_checkpoint_is_named(files, capsys, monkeypatch):
    target = files / "locked.npz"
    target.write_bytes(b"PK")
    target.chmod(0)
    line = _error_line(["eval", "locked.npz"], capsys, monkeypatch, files)
    assert line.startswith("nestor: error: checkpoint locked.npz: "), line


#: variable, value -> the whole error line
ENVIRONMENT = [
    ("NESTOR_LLVM_OPT", "5", "NESTOR_LLVM_OPT='5': must be an integer from 0 to 3 (the LLVM optimisation level); set "
                             "a valid value or unset NESTOR_LLVM_OPT for the default"),
    ("NESTOR_LLVM_OPT", "two", "NESTOR_LLVM_OPT='two': must be an integer from 0 to 3"),
    ("NESTOR_COMPILE_TIMEOUT", "nan", "NESTOR_COMPILE_TIMEOUT='nan': must be a positive, finite number of seconds"),
    ("NESTOR_COMPILE_TIMEOUT", "-1", "NESTOR_COMPILE_TIMEOUT='-1': must be a positive, finite number of seconds"),
    ("NESTOR_THREAD_POOL", "maybe", "NESTOR_THREAD_POOL='maybe': must be one of 1, true, yes, on, 0, false, no, off"),
    ("NESTOR_PRINT_IR", "2", "NESTOR_PRINT_IR='2': must be one of 1, true, yes, on, 0, false, no, off"),
    ("NESTOR_PARALLEL_MIN", "-5", "NESTOR_PARALLEL_MIN='-5': must be an integer of at least 0"),
    ("NESTOR_POOL_SPIN", "1e3", "NESTOR_POOL_SPIN='1e3': must be an integer of at least 0"),
    ("NESTOR_PACKED_WEIGHTS_MB", "lots", "NESTOR_PACKED_WEIGHTS_MB='lots': must be an integer of at least 0"),
    ("OMP_NUM_THREADS", "0", "OMP_NUM_THREADS='0': must be a positive integer (or a comma-separated list of them)"),
    ("OMP_NUM_THREADS", "100000", "OMP_NUM_THREADS='100000': must be a positive integer"),
]


@pytest.mark.parametrize(("variable", "value", "message"), ENVIRONMENT,
                         ids=[f"{v}={x}" for v, x, _ in ENVIRONMENT])
def test_a_bad_environment_value_is_refused_before_any_work(variable, value, message, files, capsys, monkeypatch):
    monkeypatch.setenv(variable, value)
    line = _error_line(["tune", "show", "--db", "missing.db"], capsys, monkeypatch, files)
    assert line.startswith(f"nestor: error: {message}"), line


def test_a_misspelt_environment_variable_is_named_with_the_knob_it_resembles(files, capsys, monkeypatch):
    monkeypatch.setenv("NESTOR_CACHEDIR", "/tmp/x")
    monkeypatch.setenv("NESTOR_LLVM_OPTS", "1")
    monkeypatch.setenv("NESTOR_SOMETHING", "1")
    monkeypatch.setenv("NESTOR_BENCH_SETTLE", "0.1")  # a benchmark's own knob: not reported
    monkeypatch.chdir(files)
    assert main(["tune", "show", "--db", "missing.db"]) == 2
    warning = capsys.readouterr().err.splitlines()[0]
    assert warning == ("nestor: warning: ignoring unknown environment variables: NESTOR_CACHEDIR (did you mean "
                       "NESTOR_CACHE_DIR?); NESTOR_LLVM_OPTS (did you mean NESTOR_LLVM_OPT?); NESTOR_SOMETHING; "
                       "tensorir/config.py lists the knobs")


# -- damaged entries of the on-disk kernel cache --------------------------------------------------------

def _damage(entry: Path, how: str) -> None:
    data = entry.read_bytes()
    match how:
        case "empty":
            entry.write_bytes(b"")
        case "header_only":
            entry.write_bytes(data[:72])
        case "truncated_object":
            entry.write_bytes(data[:72 + (len(data) - 72) // 2])
        case "older_format":
            entry.write_bytes(b"NESTORK1" + data[8:])
        case "random":
            entry.write_bytes(os.urandom(len(data)))
        case "folder":
            entry.unlink()
            entry.mkdir()
        case "link_to_zero_device":
            entry.unlink()
            entry.symlink_to("/dev/zero")


@pytest.mark.parametrize("how", ["empty", "header_only", "truncated_object", "older_format", "random", "folder",
                                 "link_to_zero_device"])
def test_a_damaged_kernel_cache_entry_is_rebuilt(how, tmp_path, monkeypatch):
    """Each damaged entry is ignored (never loaded: its MAC fails or it is no regular file) and
    the kernel compiled again, with the right result."""
    import nestor as ns
    from backends.llvm import module as llvm_module

    monkeypatch.setenv("NESTOR_CACHE_DIR", str(tmp_path))

    def build():
        monkeypatch.setattr(llvm_module, "_compiled", {})  # forget the kernels compiled in this process
        A = ns.placeholder((5, 7), name="A")
        B = ns.compute((5, 7), lambda i, j: A[i, j] * 3.0 - 1.0, name="B")
        return ns.build(ns.create_schedule(B), [A, B], name=f"cache_{how}")

    assert build().cache_hit is None
    (entry,) = tmp_path.glob("*.o")
    _damage(entry, how)
    kernel = build()
    assert kernel.cache_hit is None
    a, out = np.arange(35, dtype=np.float32).reshape(5, 7), np.zeros((5, 7), np.float32)
    kernel(a, out)
    np.testing.assert_array_equal(out, a * 3.0 - 1.0)
