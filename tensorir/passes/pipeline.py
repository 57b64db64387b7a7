"""The lowering passes in order; set NESTOR_PRINT_IR=1 to print the IR after each one."""

from __future__ import annotations

from collections.abc import Callable

from .. import config
from ..stmt import PrimFunc
from ..verifier import verify
from .flatten_buffers import flatten_buffers
from .hoist_guards import hoist_guards
from .insert_barriers import insert_barriers
from .partition_tails import partition_tails
from .simplify import simplify
from .tighten_ranges import tighten_ranges

Pass = Callable[[PrimFunc], PrimFunc]

#: (name, pass) in the order they run on a freshly built loop nest.
PASSES: list[tuple[str, Pass]] = [
    ("flatten_buffers", flatten_buffers),
    ("simplify", simplify),
    ("tighten_ranges", tighten_ranges),
    ("partition_tails", partition_tails),
    ("hoist_guards", hoist_guards),
    ("insert_barriers", insert_barriers),
]


def run(func: PrimFunc, print_ir: bool | None = None, check: bool = True) -> PrimFunc:
    """Run every pass on ``func``, verifying after each; print the IR after each when asked."""
    if print_ir is None:
        print_ir = config.PRINT_IR()
    if print_ir:
        print(f"# after schedule lowering\n{func}")
    if check:
        verify(func, "schedule lowering")
    for name, step in PASSES:
        func = step(func)
        if print_ir:
            print(f"# after {name}\n{func}")
        if check:
            verify(func, name)
    return func
