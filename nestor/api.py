"""``lower`` and ``build``: from a schedule to a loop-nest function, and on to a callable module."""

from __future__ import annotations

from collections.abc import Sequence

from schedules import Schedule, lower_schedule
from tensorir.errors import LoweringError
from tensorir.passes.pipeline import run as run_passes
from tensorir.stmt import PrimFunc
from tensorir.tensor import Tensor

TARGETS = ("interp", "llvm", "cuda")


def lower(schedule: Schedule, args: Sequence[Tensor], name: str = "main",
          print_ir: bool | None = None) -> PrimFunc:
    """The loop-nest function of ``schedule``; ``args`` lists its parameters, inputs then outputs.

    Set ``print_ir=True`` (or the environment variable NESTOR_PRINT_IR=1) to print the IR after
    each pass.
    """
    if not isinstance(schedule, Schedule):
        raise LoweringError(
            f"lower: expected a schedule from ns.create_schedule(...), got {type(schedule).__name__}")
    return run_passes(lower_schedule(schedule, args, name), print_ir=print_ir)


def build(schedule: Schedule | PrimFunc, args: Sequence[Tensor] | None = None,
          target: str = "llvm", name: str = "main", **options):
    """Lower ``schedule`` (or take a lowered PrimFunc) and compile it for ``target``: ``"llvm"``
    (native code for this CPU, the default), ``"cuda"`` or ``"interp"`` (the reference
    interpreter).

    ``options`` go to the target's build (for ``cuda``: ``shared_memory_bytes``, ``max_threads``).
    """
    if options and target != "cuda":
        raise LoweringError(f"build: options {sorted(options)} apply to target 'cuda' only, not {target!r}")
    if isinstance(schedule, PrimFunc):
        func = schedule
    else:
        if args is None:
            raise LoweringError("build: pass the argument tensors, e.g. build(s, [A, B, C])")
        func = lower(schedule, args, name)
    if target == "interp":
        from backends.interp import build as build_interp

        return build_interp(func)
    if target == "cuda":
        from backends.cuda import build as build_cuda

        return build_cuda(func, **options)
    if target == "llvm":
        from backends.llvm import build as build_llvm

        return build_llvm(func)
    raise LoweringError(f"build: unknown target {target!r}; available targets: {', '.join(TARGETS)}")
