"""Fixtures shared by every test package."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A random generator with a fixed seed, so a failure reproduces."""
    return np.random.default_rng(20240601)


@pytest.fixture(autouse=True)
def _no_user_tuning_database(monkeypatch, tmp_path_factory):
    """Templates called without knobs consult the tuning database; tests must not see the
    developer's own records (a test that wants one points NESTOR_TUNING_DB at it)."""
    import os

    if "NESTOR_TUNING_DB" not in os.environ:
        monkeypatch.setenv("NESTOR_TUNING_DB", str(tmp_path_factory.getbasetemp() / "no-tuning.db"))


# the verifier checks the IR after every lowering pass in the tests (builds check it once, at the end)
import os as _os  # noqa: E402

_os.environ.setdefault("NESTOR_VERIFY_EACH_PASS", "1")
