"""The statements that use heap temporaries, written in a function of their own whose buffer
parameters are ``noalias``.

A kernel's large temporaries (packed operands, a padded product) live in heap memory whose
address is loaded from a global slot (:meth:`Codegen.workspace`), so LLVM cannot tell them apart
from each other or from the kernel's arguments: every store to one may change the others, and
a register tile of a product in such a buffer is stored and reloaded at every reduction step
(2.5x slower single-threaded at 777x1025x513). Parallel loops already run their bodies in
functions with ``noalias`` parameters (:mod:`backends.llvm.parallel`); this does the same for
the body of the innermost heap allocation. The function is ``alwaysinline``: the inliner keeps
what ``noalias`` said as alias scopes, and the code is as if written in place.
"""

from __future__ import annotations

from tensorir.stmt import Stmt

from .parallel import free_names, noalias_function


def emit_noalias(cg, body: Stmt) -> None:
    """Write ``body`` as a call to a new function whose buffer parameters are ``noalias``."""
    state = cg.state
    variables, buffers = free_names(body)
    if cg.status is not None:
        buffers.append(cg.status)
    pointers = [state.buffers[b] for b in buffers]
    values = [state.vars[v] for v in variables]
    cg.outlined += 1
    fn, inner = noalias_function(cg, f"{cg.func.name}.body.{cg.outlined}", buffers, [v.type for v in values])
    inner.in_parallel = state.in_parallel
    inner.loop_depth = state.loop_depth
    inner.vars.update(zip(variables, fn.args[len(buffers):]))
    cg.run_in(inner, lambda: cg.stmt(body))
    cg.b.call(fn, pointers + values)
