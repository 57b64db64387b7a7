"""Compilations reuse the target machines earlier ones finished with (what a machine derives
for the host CPU is made once), one machine per compilation at a time."""

from __future__ import annotations

import numpy as np

import nestor as ns
from backends.llvm import compile as llvm_compile
from backends.llvm import module


def _kernel(factor: float, name: str):
    A = ns.placeholder((40,), name="A")
    B = ns.compute((40,), lambda i: A[i] * factor, name="B")
    return ns.lower(ns.create_schedule(B), [A, B], name=name)


def test_a_finished_compilation_hands_its_machine_to_the_next(monkeypatch):
    monkeypatch.setenv("NESTOR_CACHE_DIR", "off")
    monkeypatch.setattr(module, "_compiled", {})
    monkeypatch.setattr(llvm_compile, "_free_machines", {})
    used = []
    real = llvm_compile.optimize

    def optimize(llvm_module, level, machine):
        used.append(machine)
        assert machine not in llvm_compile._free_machines.get(3, [])  # taken out while in use
        real(llvm_module, level, machine)

    monkeypatch.setattr(llvm_compile, "optimize", optimize)
    a = np.arange(40, dtype=np.float32)
    for factor in (2.0, 3.0, 4.0):
        b = np.zeros_like(a)
        ns.build(_kernel(factor, f"times{int(factor)}"), target="llvm")(a, b)
        np.testing.assert_array_equal(b, a * factor)
    assert len(used) == 3 and used[0] is used[1] is used[2]
    assert llvm_compile._free_machines[3] == [used[0]]
