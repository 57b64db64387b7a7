"""Test-only tunable templates. FAULTY: its ``inject_fault`` knob makes a candidate crash, hang, fail to
compile or compute a wrong result, at build time in the builder or (with the environment variable
``NESTOR_TUNE_INJECT_FAULTS=1``) at run time in the runner. STEADY: the same kernel, every
candidate good."""

from __future__ import annotations

import os
import time

from schedules import create_schedule
from schedules.autotune import ConfigSpace, TunableTemplate
from tensorir.errors import ScheduleError
from tensorir.tensor import compute, placeholder

FAULTS = ("none", "build_crash", "build_hang", "build_error", "wrong", "run_crash", "run_hang")


def scaled(n: int, *, tile: int = 8, inject_fault: str = "none", dtype: str = "float32"):
    """``B[i] = 2 * A[i]`` (``+ 1`` for the ``wrong`` fault), split by ``tile``."""
    if inject_fault == "build_crash":
        os._exit(71)
    if inject_fault == "build_hang":
        time.sleep(3600)
    if inject_fault == "build_error":
        raise ScheduleError("scaled: a deliberately broken schedule")
    A = placeholder((n,), dtype, name="A")
    offset = 1.0 if inject_fault == "wrong" else 0.0
    B = compute((n,), lambda i: A[i] * 2.0 + offset, name="B")
    s = create_schedule(B)
    s[B].split(B.op.axis[0], factor=tile)
    return s, [A, B]


def _declare(cfg: ConfigSpace, sizes: tuple, options: dict, dtype: str) -> None:
    cfg.define_knob("tile", [8])
    cfg.define_knob("inject_fault", FAULTS)


FAULTY = TunableTemplate(
    "scaled_faulty", scaled, ("n",), "llvm", _declare, dict,
    lambda inputs, sizes, options: [inputs[0] * 2.0], {},
    locator="tests.schedules.autotune.faulty:FAULTY")


def _declare_steady(cfg: ConfigSpace, sizes: tuple, options: dict, dtype: str) -> None:
    cfg.define_knob("tile", [1, 2, 4, 8, 16, 32])


#: the same kernel without faults: every candidate compiles, runs and is right
STEADY = TunableTemplate(
    "scaled_steady", scaled, ("n",), "llvm", _declare_steady, dict,
    lambda inputs, sizes, options: [inputs[0] * 2.0], {},
    locator="tests.schedules.autotune.faulty:STEADY")
