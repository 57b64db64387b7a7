"""OMP_NUM_THREADS is validated before the OpenMP runtime loads (libgomp reads it once; 100000
threads crash the first parallel kernel): a bad value is one ConfigurationError naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tensorir import config
from tensorir.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
BAD = ("100000", "0", "-1", "abc", "4,0", " ")

SCRIPT = """
import os, sys
import numpy as np
import nestor as ns
from tensorir.errors import ConfigurationError

def run():
    A = ns.placeholder((64,), name="A")
    C = ns.compute((64,), lambda i: A[i] * 2, name="C")
    s = ns.create_schedule(C)
    s[C].parallel(C.op.axis[0])
    a, c = np.ones(64, np.float32), np.zeros(64, np.float32)
    ns.build(s, [A, C], target="llvm")(a, c)
    return c

for value in sys.argv[1:]:
    os.environ["OMP_NUM_THREADS"] = value
    try:
        run()
        print("accepted", repr(value))
    except ConfigurationError as error:
        print("refused", error)
os.environ["OMP_NUM_THREADS"] = "3"
assert (run() == 2).all()
print("ran")
"""


def test_bad_thread_counts_are_refused_before_the_runtime_loads(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), NESTOR_CACHE_DIR="off")
    done = subprocess.run([sys.executable, "-c", SCRIPT, *BAD], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[-1] == "ran"
    for value, line in zip(BAD, lines):
        assert line.startswith(f"refused OMP_NUM_THREADS={value!r}: must be a positive integer"), line
        assert "unset OMP_NUM_THREADS" in line


@pytest.mark.parametrize(("text", "threads"), [("8", 8), (" 2 ", 2), ("4,2", 4), ("", None)])
def test_good_thread_counts(monkeypatch, text, threads):
    monkeypatch.setenv("OMP_NUM_THREADS", text)
    assert config.OMP_NUM_THREADS() == threads


def test_the_limit_scales_with_the_cpus(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", str(config.max_threads() + 1))
    with pytest.raises(ConfigurationError, match=f"of at most {config.max_threads()}"):
        config.check_all()
