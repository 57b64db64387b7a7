"""``lower`` and ``build``: from a schedule to a loop-nest function, and on to a callable module.

``build`` only composes the two layers that own the steps: ``schedules.lower`` (schedule ->
loop nest -> passes) and ``backends.build`` (the one target registry).
"""

from __future__ import annotations

from collections.abc import Sequence

import backends
from schedules import Schedule, lower
from tensorir.errors import LoweringError
from tensorir.stmt import PrimFunc
from tensorir.tensor import Tensor

from .arguments import Reordered, plan

TARGETS = tuple(backends.TARGETS)


def build(schedule: Schedule | PrimFunc, args: Sequence[Tensor] | None = None,
          target: str = "llvm", target_host: str | None = None, name: str = "main", **options):
    """Lower ``schedule`` (or take a lowered PrimFunc) and compile it for ``target``: ``"llvm"``
    (native code for this CPU, the default), ``"cuda"`` or ``"interp"`` (the reference
    interpreter).

    ``target_host`` is TVM's target of the host code (``"llvm"``, ``"c"`` or ``"stackvm"``): the
    host side of every target here is this process, so it is checked and otherwise unused.
    ``options`` go to the target's build (for ``cuda``: ``shared_memory_bytes``, ``max_threads``).
    """
    _check_host(target_host)
    backends.target(target, options)  # a bad target or option is refused before any lowering
    if isinstance(schedule, PrimFunc):
        func = schedule
    else:
        if args is None:
            raise LoweringError("build: pass the argument tensors, e.g. build(s, [A, B, C])")
        func = lower(schedule, args, name)
    module = backends.build(func, target, **options)
    order = None if isinstance(schedule, PrimFunc) else plan(args)
    return module if order is None else Reordered(module, order)


def _check_host(target_host: object) -> None:
    if target_host is None:
        return
    if not isinstance(target_host, str) or (target_host.split() or [""])[0] not in ("llvm", "c", "stackvm"):
        raise LoweringError(f"build: target_host={target_host!r:.60} is not a host target; pass 'llvm' (or leave it "
                            "out: the host code runs in this process)")


__all__ = ["TARGETS", "build", "lower"]
