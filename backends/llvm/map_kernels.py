"""Map kernels: each buffer argument only read or only written, no temporaries, one function.

Such a kernel (the frontend's fused elementwise kernels, a broadcast, a cast) has no memory a
loop both reads and writes, nothing to inline and no register tile to keep out of memory: of
LLVM's default O2 module pipeline, which costs a small kernel's build more time than anything
else (an elementwise kernel of two loops: 5-7 ms), it needs only the clean-up of the
codegen's index arithmetic. The code generator marks such a kernel's arguments ``readonly`` /
``writeonly`` (facts LLVM may use anywhere); an explicitly vectorized kernel whose one function
carries those marks on every buffer argument gets :data:`MAP_PASSES` instead of the module
pipeline. The machine code of the hot loops is the same (measured: see ``optimize_map``).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

import llvmlite.binding as llvm
from llvmlite import ir

from tensorir.buffer import Buffer
from tensorir.expr import BufferLoad
from tensorir.stmt import Allocate, PrimFunc, Store
from tensorir.visitor import walk

READ_ONLY, WRITE_ONLY = "readonly", "writeonly"

#: the function passes a map kernel gets, in order
MAP_PASSES = ("sroa", "instruction_combine", "simplify_cfg")


class _ArgumentAttributes(ir.values.ArgumentAttributes):
    """llvmlite's argument attributes plus the two memory-effect ones it does not list."""

    _known = MappingProxyType({**ir.values.ArgumentAttributes._known, READ_ONLY: False, WRITE_ONLY: False})


def mark_arguments(func: PrimFunc, buffers: Sequence[Buffer], args: Sequence[ir.Argument]) -> None:
    """Mark ``args`` (the LLVM arguments of ``buffers``) readonly / writeonly when ``func`` is a
    map kernel; leave them as they are otherwise. ``buffers`` that are not parameters of
    ``func`` (the status slot of run-time checks) make it no map kernel."""
    access = _accesses(func)
    if access is None or len(buffers) != len(func.params):
        return
    read, written = access
    if any(b in read and b in written for b in buffers):
        return
    for arg, buffer in zip(args, buffers):
        attributes = _ArgumentAttributes(arg.attributes)
        attributes.add(WRITE_ONLY if buffer in written else READ_ONLY)
        arg.attributes = attributes


def _accesses(func: PrimFunc) -> tuple[set[Buffer], set[Buffer]] | None:
    """The buffers ``func`` reads and those it writes, or None when it allocates temporaries."""
    read, written = set(), set()
    for node in walk(func.body):
        match node:
            case Allocate():
                return None
            case BufferLoad(buffer=buffer):
                read.add(buffer)
            case Store(buffer=buffer):
                written.add(buffer)
    return read, written


def is_map(module: llvm.ModuleRef) -> bool:
    """Whether ``module`` is one function whose every pointer argument is readonly or writeonly."""
    defined = [f for f in module.functions if not f.is_declaration]
    if len(defined) != 1:
        return False
    marks = {READ_ONLY.encode(), WRITE_ONLY.encode()}
    return all(not arg.type.is_pointer or not marks.isdisjoint(arg.attributes) for arg in defined[0].arguments)


def optimize_map(module: llvm.ModuleRef, level: int, machine: llvm.TargetMachine) -> None:
    """Run :data:`MAP_PASSES` on ``module``'s functions (none at ``level`` 0)."""
    if level == 0:
        return
    builder = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=level))
    passes = llvm.create_new_function_pass_manager()
    for name in MAP_PASSES:
        getattr(passes, f"add_{name}_pass")()
    for function in module.functions:
        if not function.is_declaration:
            passes.run(function, builder)
