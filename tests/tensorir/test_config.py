"""The environment knobs: defaults, parsing, and one clear error per kind of bad value."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import nestor as ns
from tensorir import config
from tensorir.errors import ConfigurationError


def test_defaults_when_unset(monkeypatch):
    for variable in config.SETTINGS:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/xdg-cache")
    assert config.PRINT_IR() is False
    assert config.LLVM_OPT() == 2
    assert config.TUNED() is True
    assert config.PARALLEL_MIN() == 1 << 22
    assert config.CACHE_DIR() == Path("/tmp/xdg-cache/nestor/kernels")


@pytest.mark.parametrize(("text", "value"), [("1", True), ("yes", True), ("ON", True), ("0", False),
                                             ("false", False), ("off", False), ("", False)])
def test_flags(monkeypatch, text, value):
    monkeypatch.setenv("NESTOR_NO_OPENMP", text)
    assert config.NO_OPENMP() is value


def test_values(monkeypatch, tmp_path):
    monkeypatch.setenv("NESTOR_LLVM_OPT", " 3 ")
    monkeypatch.setenv("NESTOR_CACHE_DIR", "off")
    monkeypatch.setenv("NESTOR_TUNING_DB", str(tmp_path / "t.db"))
    assert config.LLVM_OPT() == 3
    assert config.CACHE_DIR() is None
    assert config.TUNING_DB() == tmp_path / "t.db"


@pytest.mark.parametrize(("variable", "text", "accepts"), [
    ("NESTOR_LLVM_OPT", "fast", "must be an integer from 0 to 3"),
    ("NESTOR_LLVM_OPT", "7", "must be an integer from 0 to 3"),
    ("NESTOR_PARALLEL_MIN", "-1", "must be an integer of at least 0"),
    ("NESTOR_PRINT_IR", "maybe", "must be one of 1, true, yes, on, 0, false, no, off"),
    ("NESTOR_TUNED", "2", "must be one of"),
])
def test_a_bad_value_names_the_variable_and_what_it_accepts(monkeypatch, variable, text, accepts):
    monkeypatch.setenv(variable, text)
    with pytest.raises(ConfigurationError, match=re.escape(f"{variable}={text!r}: {accepts}")) as caught:
        config.SETTINGS[variable]()
    assert f"unset {variable} for the default" in str(caught.value)
    with pytest.raises(ConfigurationError, match=variable):
        config.check_all()


def test_a_bad_value_stops_a_build_with_that_error(monkeypatch):
    A = ns.placeholder((4,), name="A")
    B = ns.compute((4,), lambda i: A[i] + 1, name="B")
    monkeypatch.setenv("NESTOR_PRINT_IR", "loud")
    with pytest.raises(ConfigurationError, match="NESTOR_PRINT_IR='loud'"):
        ns.lower(ns.create_schedule(B), [A, B])


def test_nothing_else_reads_nestor_variables():
    root = Path(__file__).resolve().parents[2]
    readers = []
    for package in ("tensorir", "schedules", "backends", "frontend", "nestor"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text()
            if re.search(r"environ(\.get)?\(?\[?[\"']NESTOR_", text) and path.name != "config.py":
                readers.append(str(path.relative_to(root)))
    assert readers == []


def test_dtypes_are_numpy_dtypes_and_strings():
    t = ns.placeholder((2, 3), dtype="float64", name="t")
    assert t.dtype == "float64"
    assert np.dtype(t.dtype) == np.float64
    zeros = np.zeros(t.shape, dtype=t.dtype)
    assert zeros.dtype == np.float64 and zeros.shape == (2, 3)
    assert str(t.dtype) == "float64" and f"{t.dtype}" == "float64"
