"""``lower``: a schedule to a finished loop-nest function, the one lowering entry point.

:func:`schedules.lower.lower_schedule` gives the schedule's meaning as a loop nest; the pass
pipeline (:mod:`tensorir.passes.pipeline`) then flattens, simplifies and verifies it. Every
caller that wants a function to compile (``nestor.lower``/``nestor.build``, the frontend's kernel
cache, the tuner's workers) calls :func:`lower` and then :func:`backends.build`.
"""

from __future__ import annotations

from collections.abc import Sequence

from tensorir.errors import LoweringError
from tensorir.passes.pipeline import run as run_passes
from tensorir.stmt import PrimFunc
from tensorir.tensor import Tensor

from .lower import lower_schedule
from .schedule import Schedule


def lower(schedule: Schedule | PrimFunc, args: Sequence[Tensor] | None = None, name: str = "main", binds=None,
          simple_mode: bool = False, print_ir: bool | None = None) -> PrimFunc:
    """The loop-nest function of ``schedule``; ``args`` lists its parameters, inputs then outputs.

    Set ``print_ir=True`` (or the environment variable NESTOR_PRINT_IR=1) to print the IR after
    each pass. ``simple_mode`` is accepted for TVM's signature (the printed function is always
    the simple loop nest); ``binds`` (TVM's buffer declarations) is not supported. A PrimFunc
    (``ns.create_prim_func``) is already lowered and comes back as it is.
    """
    if not isinstance(name, str) or not name.strip():
        raise LoweringError(f"lower: name={name!r:.40} is not a kernel name; pass a non-empty string, e.g. "
                            "name='matmul'")
    if binds is not None and (not isinstance(binds, (dict, list, tuple)) or len(binds)):
        raise LoweringError("lower: binds= (buffer declarations) is not supported; buffers are "
                            "dense and row-major, derived from the tensors' shapes")
    if isinstance(schedule, PrimFunc):  # TVM's lower of a function already lowered (create_prim_func)
        return schedule
    if not isinstance(schedule, Schedule):
        raise LoweringError(
            f"lower: expected a schedule from ns.create_schedule(...), got {type(schedule).__name__}")
    if args is None:
        raise LoweringError("lower: pass the argument tensors, inputs then outputs, e.g. lower(s, [A, B, C])")
    return run_passes(lower_schedule(schedule, args, name), print_ir=print_ir)
