"""The cross-thread reduction of lowered IR: one value per thread of a block, combined.

``ThreadAllReduce(op, value, threads)`` is what a reduction loop bound to ``threadIdx.x``
lowers to (TVM's ``tvm_thread_allreduce``): every thread ``threadIdx.x`` in ``0..threads`` of a
block evaluates ``value``, and each of them gets the reduction of those values (threads with
another ``threadIdx.y``/``threadIdx.z`` form groups of their own). Like a barrier, every thread
of the block must reach it, so it appears only as the whole value of a ``Store`` to a local
buffer, outside any condition that depends on a thread index. Backends: the interpreter
exchanges the values between its threads at the barrier steps, CUDA combines them with warp
shuffles and shared memory across warps (:mod:`backends.cuda.allreduce`); the CPU has no threads
of a block and refuses it. :class:`ThreadCombine` is the same with a user-defined reducer.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dtypes import DType
from .expr import Combiner, Expr, ReduceOp
from .stmt import Evaluate, Stmt, Store


@dataclass(frozen=True, eq=False, repr=False)
class ThreadAllReduce(Expr):
    """The ``op``-reduction of ``value`` over the ``threads`` threads of ``threadIdx.x``."""

    op: ReduceOp
    value: Expr
    threads: int
    dtype: DType


@dataclass(frozen=True, eq=False, repr=False)
class ThreadCombine(ThreadAllReduce):
    """Element ``index`` of the user reducer ``combiner`` (``ns.comm_reducer``) folded over the
    tuples ``values`` of the ``threads`` threads of ``threadIdx.x`` (TVM's allreduce with any
    commutative reducer); ``value`` is ``values[index]``. A tuple reducer lowers to one per
    element, each combining the whole tuples. Backends fold the threads' tuples in the order of
    ``threadIdx.x``, the same in every thread, through one buffer per element."""

    values: tuple[Expr, ...] = ()
    index: int = 0
    combiner: Combiner | None = None


def is_thread_allreduce(s: Stmt) -> bool:
    """Whether statement ``s`` is a cross-thread reduction (a block-wide synchronisation)."""
    return isinstance(s, (Store, Evaluate)) and isinstance(s.value, ThreadAllReduce)
