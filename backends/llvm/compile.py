"""LLVM IR text to object code or assembly, under a time limit (``NESTOR_COMPILE_TIMEOUT``).

LLVM's optimiser can spin for minutes on some kernels, and a llvmlite call cannot be
interrupted. So each attempt runs in a worker thread with an LLVM context and target machine of
its own, and the caller waits at most the limit: past it, the attempt is abandoned (it finishes
in the background and its result is dropped) and the kernel is compiled again at a lower level,
O1 then O0, with a warning naming it. The usual, fast compile costs one thread start.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from typing import Literal

import llvmlite.binding as llvm

from tensorir import config
from tensorir.errors import CodegenError

from . import map_kernels
from .target import new_target_machine

Output = Literal["object", "assembly"]


class CompileTimeoutWarning(RuntimeWarning):
    """A kernel took longer than NESTOR_COMPILE_TIMEOUT to compile and was retried lower."""


def levels(start: int) -> list[int]:
    """The optimisation levels tried in turn: the configured one, then O1 and O0 below it."""
    return [start, *(level for level in (1, 0) if level < start)]


def optimize(module: llvm.ModuleRef, level: int, machine: llvm.TargetMachine) -> None:
    """Run LLVM's default module pipeline for ``level`` (0 to 3) on ``module``."""
    _run_pipeline(module, level, machine, slp=True)


def optimize_vectorized(module: llvm.ModuleRef, level: int, machine: llvm.TargetMachine) -> None:
    """:func:`optimize` for a kernel whose schedule vectorized its loops itself: LLVM's SLP
    vectorizer stays off. It would only re-derive what the vector code says, and it can take a
    third of the compile time on a kernel's gathers. The loop vectorizer (cheap) stays on for
    the loops that run lane by lane. LLVM's loop unroller stays off too: the schedule chose what
    to unroll, and unrolling the vector loops again by a run-time count quadruples a small
    kernel's code (an elementwise kernel of symbolic length: 8 ms of its 19 ms in LLVM) for no
    measured speed (matmul 1024 106 vs 106 GFLOP/s a core, a + b at 4K-1M elements the same).
    A map kernel (:mod:`.map_kernels`) gets a few clean-up passes instead of the pipeline."""
    if map_kernels.is_map(module):
        map_kernels.optimize_map(module, level, machine)
        return
    _run_pipeline(module, level, machine, slp=False)


def _run_pipeline(module: llvm.ModuleRef, level: int, machine: llvm.TargetMachine, slp: bool) -> None:
    tuning = llvm.create_pipeline_tuning_options(speed_level=level)
    tuning.loop_vectorization = True
    tuning.slp_vectorization = slp
    tuning.loop_unrolling = slp
    pass_builder = llvm.create_pass_builder(machine, tuning)
    pass_builder.getModulePassManager().run(module, pass_builder)


def compile_text(text: str, name: str, output: Output = "object", vectorized: bool = False) -> bytes | str:
    """Optimise and emit the LLVM IR ``text`` of kernel ``name``; see the module docstring.
    ``vectorized``: the schedule vectorized the kernel's loops (see :func:`optimize_vectorized`).

    Raises CodegenError when the IR is invalid or even O0 exceeds the limit.
    """
    limit = config.COMPILE_TIMEOUT()
    tries = levels(config.LLVM_OPT())
    for position, level in enumerate(tries):
        attempt = _Attempt(text, level, output, codegen_level=3 if position == 0 else level, vectorized=vectorized)
        if attempt.finished(limit):
            return attempt.result(name)
        if position + 1 < len(tries):
            warnings.warn(f"llvm: compiling kernel {name!r} at O{level} took longer than NESTOR_COMPILE_TIMEOUT="
                          f"{limit:g} s; compiling it at O{tries[position + 1]} instead (slower code). Raise "
                          f"NESTOR_COMPILE_TIMEOUT to wait longer", CompileTimeoutWarning, stacklevel=4)
    raise CodegenError(f"llvm: kernel {name!r} did not compile within NESTOR_COMPILE_TIMEOUT={limit:g} s even "
                       f"at O0; raise NESTOR_COMPILE_TIMEOUT or split the kernel into smaller ones")


#: target machines no compilation is using, by code generator level. A machine keeps what it
#: derived for the host CPU on first use (its subtarget), so a compile that reuses one saves a
#: third of a millisecond; one an abandoned attempt still holds is back when that attempt ends
_free_machines: dict[int, list[llvm.TargetMachine]] = {}


def _take_machine(level: int) -> llvm.TargetMachine:
    free = _free_machines.setdefault(level, [])
    try:
        return free.pop()  # list.pop and list.append are atomic: no two attempts get one machine
    except IndexError:
        return new_target_machine(level)


@dataclass
class _Attempt:
    """One compilation at one level, in a daemon thread that is left to finish if abandoned."""

    text: str
    level: int
    output: Output
    codegen_level: int
    vectorized: bool = False
    _outcome: dict = field(default_factory=dict)

    def finished(self, limit: float) -> bool:
        thread = threading.Thread(target=self._run, name=f"nestor-llvm-O{self.level}", daemon=True)
        thread.start()
        thread.join(limit)
        return not thread.is_alive()

    def result(self, name: str) -> bytes | str:
        if "invalid" in self._outcome:  # a codegen bug, reported with context
            raise CodegenError(f"llvm: generated invalid IR for {name}: {self._outcome['invalid']}")
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["result"]

    def _run(self) -> None:
        try:
            context = llvm.create_context()
            try:
                module = llvm.parse_assembly(self.text, context=context)
                module.verify()
            except RuntimeError as error:
                self._outcome["invalid"] = error
                return
            machine = _take_machine(self.codegen_level)
            (optimize_vectorized if self.vectorized else optimize)(module, self.level, machine)
            emit = machine.emit_object if self.output == "object" else machine.emit_assembly
            self._outcome["result"] = emit(module)
            _free_machines[self.codegen_level].append(machine)  # only a machine that finished
        except BaseException as error:  # handed to the waiting caller
            self._outcome["error"] = error
