"""TVM's ``te.create_prim_func(args)``: the function of a compute graph with its default
schedule, whose parameters are ``args`` in their order (inputs, outputs, and any intermediate
tensor the caller wants stored). The outputs are the listed tensors that no other listed
computation reads; every other stage is computed at root. ``ns.build(func, target=...)`` compiles
it, and ``ns.lower(func)`` hands it back as it is."""

from __future__ import annotations

from collections.abc import Sequence

from schedules import create_schedule, lower
from tensorir.errors import LoweringError
from tensorir.scalar_param import ScalarParamOp
from tensorir.stmt import PrimFunc
from tensorir.tensor import PlaceholderOp, Tensor


def _listed(args: object) -> list:
    if not isinstance(args, (list, tuple)) or not args:
        raise LoweringError(f"create_prim_func: expected a non-empty list of tensors, inputs then outputs "
                            f"(e.g. [A, B, C]), got {args!r:.60}")
    return list(args)


def _read_by_others(tensors: list[Tensor]) -> set:
    """The tensors that some operation of the graphs of ``tensors`` reads."""
    read, seen, stack = set(), set(), [t.op for t in tensors]
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        for t in op.input_tensors:
            read.add(t)
            stack.append(t.op)
    return read


def create_prim_func(args: Sequence, index_dtype_override: str | None = None, name: str = "main") -> PrimFunc:
    """The function computing the listed tensors with their default schedule (TVM's
    ``te.create_prim_func``).

    Parameters
    ----------
    args
        The function's parameters in order: input placeholders (and scalar parameters), then the
        computed tensors the caller receives. A listed computed tensor that no other listed one
        reads is an output.
    index_dtype_override
        TVM's choice of index type: ``None``, ``"int32"`` or ``"int64"`` (Nestor's index
        arithmetic is 64-bit either way).
    name
        The function's name.

    Returns
    -------
    PrimFunc
        The lowered function; compile it with ``ns.build(func, target="llvm")``.
    """
    args = _listed(args)
    if index_dtype_override not in (None, "int32", "int64"):
        raise LoweringError(f"create_prim_func: index_dtype_override={index_dtype_override!r}; use None, 'int32' "
                            "or 'int64'")
    tensors = [a for a in args if isinstance(a, Tensor)]
    computed = [t for t in tensors if not isinstance(t.op, (PlaceholderOp, ScalarParamOp))]
    read = _read_by_others(computed)
    outputs = [t for t in computed if t not in read]
    if not outputs:
        raise LoweringError(f"create_prim_func: none of {[getattr(a, 'name', a) for a in args]} is computed; "
                            "list the computed tensors after the inputs")
    return lower(create_schedule(outputs), args, name)


__all__ = ["create_prim_func"]
