"""A compilation that outlasts NESTOR_COMPILE_TIMEOUT is retried at O1, then O0, with a warning
naming the kernel; the optimiser is made slow by monkeypatching, never by a real spin."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import nestor as ns
from backends.llvm import compile as llvm_compile
from backends.llvm import module
from tensorir import config
from tensorir.errors import CodegenError, ConfigurationError

ROOT = Path(__file__).resolve().parents[3]


def _scaled(name: str):
    A = ns.placeholder((7, 5), name="A")
    B = ns.compute((7, 5), lambda i, j: A[i, j] * 2.0 + 1.0, name="B")
    return ns.lower(ns.create_schedule(B), [A, B], name=name)


def _slow_above(level: int, seconds: float = 1.0):
    real = llvm_compile.optimize

    def optimize(llvm_module, opt, machine):
        if opt > level:
            time.sleep(seconds)  # stands for an optimiser that spins; the abandoned thread ends later
        real(llvm_module, opt, machine)

    return optimize


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setenv("NESTOR_CACHE_DIR", "off")
    monkeypatch.setenv("NESTOR_COMPILE_TIMEOUT", "0.2")
    monkeypatch.setenv("NESTOR_LLVM_OPT", "2")
    monkeypatch.setattr(module, "_compiled", {})


def _check(kernel) -> None:
    a = np.arange(35, dtype=np.float32).reshape(7, 5)
    b = np.zeros_like(a)
    kernel(a, b)
    np.testing.assert_array_equal(b, a * 2.0 + 1.0)


def test_slow_optimisation_falls_back_to_a_lower_level(fresh, monkeypatch):
    monkeypatch.setattr(llvm_compile, "optimize", _slow_above(0))
    with pytest.warns(llvm_compile.CompileTimeoutWarning) as caught:
        kernel = ns.build(_scaled("slow_kernel"), target="llvm")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert messages[0].startswith("llvm: compiling kernel 'slow_kernel' at O2 took longer than "
                                  "NESTOR_COMPILE_TIMEOUT=0.2 s; compiling it at O1 instead")
    assert "at O1 took longer" in messages[1] and "compiling it at O0 instead" in messages[1]
    assert "Raise NESTOR_COMPILE_TIMEOUT" in messages[0]
    _check(kernel)


def test_a_kernel_that_never_compiles_is_a_clear_error(fresh, monkeypatch):
    monkeypatch.setattr(llvm_compile, "optimize", _slow_above(-1))
    with pytest.warns(llvm_compile.CompileTimeoutWarning), \
            pytest.raises(CodegenError, match=r"llvm: kernel 'stuck' did not compile within "
                                              r"NESTOR_COMPILE_TIMEOUT=0.2 s even at O0; raise"):
        ns.build(_scaled("stuck"), target="llvm")


def test_fallback_levels():
    assert [llvm_compile.levels(n) for n in range(4)] == [[0], [1, 0], [2, 1, 0], [3, 1, 0]]


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_compile_timeout_knob_is_validated(monkeypatch, value):
    monkeypatch.setenv("NESTOR_COMPILE_TIMEOUT", value)
    with pytest.raises(ConfigurationError, match=rf"NESTOR_COMPILE_TIMEOUT='{value}': must be a positive, "
                                                  r"finite number of seconds"):
        config.COMPILE_TIMEOUT()


ABANDONED = textwrap.dedent("""
    import ctypes, numpy as np, nestor as ns
    from backends.llvm import compile as llvm_compile
    real = llvm_compile.optimize
    def optimize(m, level, machine):
        if level > 0:
            ctypes.CDLL(None).sleep(30)  # stuck in native code, as LLVM would be
        real(m, level, machine)
    llvm_compile.optimize = optimize
    A = ns.placeholder((4,), name="A")
    B = ns.compute((4,), lambda i: A[i] + 1.0, name="B")
    kernel = ns.build(ns.create_schedule(B), [A, B], target="llvm", name="abandoned")
    a = np.arange(4, dtype=np.float32); b = np.zeros_like(a); kernel(a, b)
    print("ok" if (b == a + 1).all() else "wrong")
""")


def test_process_exits_promptly_with_an_abandoned_compilation():
    env = dict(os.environ, PYTHONPATH=str(ROOT), NESTOR_CACHE_DIR="off", NESTOR_COMPILE_TIMEOUT="0.3",
               NESTOR_LLVM_OPT="3")
    done = subprocess.run([sys.executable, "-c", ABANDONED], env=env, capture_output=True, text=True, timeout=25)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert "compiling kernel 'abandoned' at O3" in done.stderr and "at O1 took longer" in done.stderr
