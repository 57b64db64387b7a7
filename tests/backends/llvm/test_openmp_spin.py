"""Idle OpenMP threads spin NESTOR_OMP_SPIN times (libgomp's GOMP_SPINCOUNT) before they sleep,
unless the environment chooses libgomp's waiting itself; the variable is set only while libgomp
loads."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tensorir import config
from tensorir.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[3]
PROBE = """
import json, os
from backends.llvm import target
seen = {}
real = target.llvm.load_library_permanently
def load(name):
    seen.setdefault("spin", os.environ.get("GOMP_SPINCOUNT"))
    return real(name)
target.llvm.load_library_permanently = load
openmp = target.host_target().openmp
print(json.dumps({"openmp": openmp, "spin": seen.get("spin"), "after": os.environ.get("GOMP_SPINCOUNT")}))
"""


def _probe(**env) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY",
                                                                      "NESTOR_OMP_SPIN", "NESTOR_NO_OPENMP")}
    environment.update(PYTHONPATH=str(ROOT), **env)
    out = subprocess.run([sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_libgomp_loads_with_the_spin_count_and_the_variable_is_removed():
    result = _probe()
    if not result["openmp"]:
        pytest.skip("libgomp is not available")
    assert result == {"openmp": True, "spin": "10000", "after": None}
    assert _probe(NESTOR_OMP_SPIN="250")["spin"] == "250"


@pytest.mark.parametrize("variable, value", [("OMP_WAIT_POLICY", "active"), ("GOMP_SPINCOUNT", "5")])
def test_the_user_s_own_openmp_waiting_is_left_alone(variable, value):
    result = _probe(**{variable: value})
    expected = value if variable == "GOMP_SPINCOUNT" else None
    assert result["spin"] == expected and result["after"] == expected


def test_a_bad_spin_count_names_the_variable(monkeypatch):
    monkeypatch.setenv("NESTOR_OMP_SPIN", "-3")
    with pytest.raises(ConfigurationError, match=re.escape("NESTOR_OMP_SPIN")):
        config.OMP_SPIN()
