"""The lowering passes in order; set NESTOR_PRINT_IR=1 to print the IR after each one.

The verifier checks the result once, after the last pass (it costs as much as a pass, and
seven of them were a tenth of a small kernel's Python compile time). When that check fails,
or a pass raises on its input, the pipeline runs again with a check before the first pass and
after each one, so the error names the pass that broke the IR (or the loop nest it was given).
``NESTOR_VERIFY_EACH_PASS=1`` checks after every pass from the start (a debugging aid; the
test suite runs with it).
"""

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
    """Run every pass on ``func`` and verify the result; print the IR after each when asked.

    ``check=False`` skips the verifier. With ``NESTOR_VERIFY_EACH_PASS`` set, or when the final
    check fails, the IR is verified before the first pass and after each one (see the module
    docstring)."""
    if print_ir is None:
        print_ir = config.PRINT_IR()
    if not check or config.VERIFY_EACH_PASS():
        return _run(func, print_ir, check)
    try:
        return verify(_run(func, print_ir, check=False), PASSES[-1][0])
    except Exception as error:  # replayed below with a check after each pass, which names the culprit
        failure = error
    _run(func, print_ir=False, check=True)
    raise failure


def _run(func: PrimFunc, print_ir: bool, check: bool) -> PrimFunc:
    """The passes in order, each followed by the verifier when ``check``."""
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

