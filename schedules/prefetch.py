"""TVM's ``s[C].prefetch(tensor, var, offset)``: at the top of every iteration of loop ``var``,
ask the memory system for the data of ``tensor`` that iteration ``var + offset`` will read.

The primitive records the request; lowering then puts, first in the body of each loop over
``var`` that reads ``tensor``, one ``prefetch(tensor[index])`` per distinct access of the tensor
inside it, where ``index`` is the access with ``var`` advanced by ``offset`` and every loop
nested inside ``var`` at its first iteration (the start of the region the later iteration
reads), clamped into the tensor so that no address leaves it. A prefetch has no value: the LLVM
backend emits ``llvm.prefetch`` (read, high locality, data cache), the interpreter and CUDA
emit nothing, and the kernel's results are the same with and without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tensorir.dtypes import DType
from tensorir.errors import LoweringError, ScheduleError
from tensorir.expr import BinaryOp, BufferLoad, Call, Expr, IterVar, TensorLoad, Var, binary, const
from tensorir.intmath import as_int
from tensorir.op_kinds import Func
from tensorir.stmt import Evaluate, For, ForKind, Stmt, seq
from tensorir.symbolic import to_expr
from tensorir.tensor import Tensor
from tensorir.visitor import Mutator, substitute, walk

if TYPE_CHECKING:
    from .schedule import Stage


@dataclass(frozen=True, eq=False)
class Prefetch:
    """Prefetch ``tensor`` ``offset`` iterations ahead at the top of loop ``loop``."""

    tensor: Tensor
    loop: IterVar
    offset: int


class PrefetchPrimitive:
    """Mixed into ``Stage``: ``prefetch``, recording requests in the stage's ``prefetches``."""

    name: str
    prefetches: tuple

    def prefetch(self, tensor, var, offset) -> None:
        """Prefetch the data of ``tensor`` that iteration ``var + offset`` reads, at the top of
        every iteration of loop ``var``.

        Before: ``for k in 0..n: C[i] += A[i, k]``.  After ``prefetch(A, k, 4)``::

            for k in 0..n:
              prefetch(A[i, min(k + 4, n - 1)])
              C[i] = C[i] + A[i, k]

        Parameters
        ----------
        tensor : Tensor
            A tensor this stage reads (or its stage's name).
        var : IterVar
            A current loop of this stage (or its name).
        offset : int
            How many iterations ahead to fetch (negative: behind).
        """
        tensor = self._prefetched_tensor(tensor, var, offset)
        call = f"prefetch({tensor.name}, {getattr(var, 'name', var)}, {offset})"
        loop = self._leaf(call, var)  # type: ignore[attr-defined]
        amount = as_int(offset)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ScheduleError(f"s[{self.name}].{call}: the offset must be an integer number of iterations, "
                                f"got {offset!r}; e.g. prefetch({tensor.name}, {loop.name}, 1)")
        self.prefetches = (*self.prefetches, Prefetch(tensor, loop, amount))
        self._record("prefetch", {"tensor": tensor.name, "var": loop.name, "offset": amount})  # type: ignore[attr-defined]

    def _prefetched_tensor(self, tensor, var, offset) -> Tensor:
        if isinstance(tensor, str):
            from .cache import _tensor_named

            tensor = _tensor_named(self.schedule, tensor)  # type: ignore[attr-defined]
        call = f"prefetch({getattr(tensor, 'name', tensor)}, {getattr(var, 'name', var)}, {offset})"
        if not isinstance(tensor, Tensor):
            raise ScheduleError(f"s[{self.name}].{call}: {tensor!r} is not a tensor; pass one this stage reads")
        inputs = getattr(self.op, "inputs", ())  # type: ignore[attr-defined]
        if not any(t is tensor for t in inputs):
            names = [t.name for t in inputs]
            raise ScheduleError(f"s[{self.name}].{call}: {self.name} does not read {tensor.name} (it reads "
                                f"{names}); prefetch a tensor the stage reads")
        return tensor


def insert_prefetches(body: Stmt, stages, buffer_of) -> Stmt:
    """``body`` with every stage's prefetch requests placed (see the module docstring);
    ``buffer_of(stage, tensor)`` is the buffer the stage reads ``tensor`` from (None where the
    tensor is inlined into the stage: no memory to fetch from)."""
    for stage in stages:
        for request in getattr(stage, "prefetches", ()):
            buffer = buffer_of(stage, request.tensor)
            if buffer is not None:
                body = _Placer(stage, request, buffer)(body)
    return body


def read_from(stage: Stage, tensor: Tensor) -> Stage:
    """The stage whose buffer ``stage`` reads ``tensor`` from: its producer, or the copy a
    ``cache_read`` made after the prefetch was asked for (the stage reads that copy now)."""
    schedule = stage.schedule
    inputs = getattr(stage.op, "inputs", ())
    if any(read is tensor for read in inputs):
        return stage.producer_of(tensor)
    for read in inputs:
        copy = getattr(read.op, "body", None)
        if read is not tensor and isinstance(copy, TensorLoad) and copy.tensor is tensor:
            return schedule.stage_of(read)
    return stage.producer_of(tensor)


class _Placer(Mutator):
    def __init__(self, stage: Stage, request: Prefetch, buffer) -> None:
        super().__init__()
        self.stage, self.request, self.buffer = stage, request, buffer

    def rewrite(self, node):
        if not (isinstance(node, For) and node.var is self.request.loop.var):
            return None
        loads = _distinct_loads(node.body, self.buffer)
        if not loads:
            return None
        if node.kind is ForKind.VECTORIZED:
            raise LoweringError(
                f"lower: s[{self.stage.name}].prefetch({self.request.tensor.name}, {node.var.name}, "
                f"{self.request.offset}): loop {node.var.name} is vectorized; prefetch at a loop "
                "outside the vector loop")
        ahead = _ahead(node, self.request.offset)
        firsts = {loop.var: loop.min for loop in walk(node.body) if isinstance(loop, For)}
        calls = [Evaluate(Call(Func.PREFETCH, (_clamped(load, ahead, firsts),), DType.INT32)) for load in loads]
        return For(node.var, node.min, node.extent, node.kind, seq(*calls, node.body), node.thread_tag)


def _ahead(loop: For, offset: int) -> dict[Var, Expr]:
    return {loop.var: binary(BinaryOp.ADD, loop.var, const(offset))} if offset else {}


def _distinct_loads(body: Stmt, buffer) -> list[BufferLoad]:
    found: dict[str, BufferLoad] = {}
    for node in walk(body):
        if isinstance(node, BufferLoad) and node.buffer is buffer:
            found.setdefault(str(node), node)
    return list(found.values())


def _clamped(load: BufferLoad, ahead: dict, firsts: dict) -> BufferLoad:
    indices = tuple(substitute(substitute(i, firsts), ahead) for i in _logical(load))
    shape = load.buffer.shape
    inside = tuple(binary(BinaryOp.MAX, binary(BinaryOp.MIN, i, binary(BinaryOp.SUB, to_expr(d), const(1))),
                          const(0)) for i, d in zip(indices, shape))
    return BufferLoad(load.buffer, inside, load.dtype) if len(inside) == len(shape) else load


def _logical(load: BufferLoad) -> tuple[Expr, ...]:
    return load.indices
