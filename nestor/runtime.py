"""TVM's ``tvm.runtime`` names: ``load_module`` (a kernel written by ``f.export_library``),
devices (``cpu``, ``cuda``, ``device``) and ``BenchmarkResult`` (what ``time_evaluator``'s
evaluator returns). See :mod:`backends.runtime_module` for the methods of a built module."""

from __future__ import annotations

from backends.device import Device, cpu, cuda, device
from backends.llvm.export import LoadedModule, load_module
from backends.runtime_module import BenchmarkResult

__all__ = ["BenchmarkResult", "Device", "LoadedModule", "cpu", "cuda", "device", "load_module"]
