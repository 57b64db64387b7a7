"""The summand a reduction's gradient differentiates, for every reducer TVM's ``te.gradient``
accepts: ``sum``, ``max``/``min`` (the adjoint goes to the elements equal to the result) and a
user's single-value ``comm_reducer`` (a product, a log-sum-exp written as a combiner, ...).

A commutative reduction ``T[o] = init (+) s(o, k0) (+) s(o, k1) (+) ...`` is, for each ``k``,
``T[o] = combine(R[o, k], s(o, k))`` where ``R[o, k]`` combines ``init`` and every term but the
``k``-th. So ``dT[o] / d s(o, k)`` is the combiner's derivative in its second argument at
``(R[o, k], s(o, k))``; ``R`` is a compute of its own (the reduction with ``k' != k``), read as a
constant, and the summand differentiated is ``combine(R[o, k], s(o, k))``.
"""

from __future__ import annotations

from functools import reduce as fold

from ..errors import DefinitionError
from ..expr import Expr, IterKind, IterVar, Reduce, ReduceOp, TensorLoad, Var
from ..functions import if_then_else, reduce_identity
from ..tensor import ComputeOp, make_compute
from ..visitor import substitute, walk


def summand(op: ComputeOp, body: Reduce, operand) -> Expr:
    """What the gradient of ``op`` differentiates per reduction point (see the module doc)."""
    _check_init(op, body, operand)
    if body.op is ReduceOp.CUSTOM:
        return _combined_with_the_rest(op, body)
    where = body.condition
    if where is None:
        return body.source
    return if_then_else(where, body.source, reduce_identity(body.op, body.dtype))


def _check_init(op: ComputeOp, body: Reduce, operand) -> None:
    if body.init is None:
        return
    if any(isinstance(node, TensorLoad) and node.tensor.op is operand.op for node in walk(body.init)):
        raise DefinitionError(
            f"gradient of {op.name} with respect to {operand.name}: the reduction starts from "
            f"init={body.init}, which reads {operand.name}; an init that reads what the gradient is taken "
            "through has no derived gradient: "
            "reduce without init= and add the initial value in a compute of its own")


def _combined_with_the_rest(op: ComputeOp, body: Reduce) -> Expr:
    combiner = body.combiner
    if combiner is None or len(combiner.results) != 1 or body.sources:
        raise DefinitionError(
            f"gradient of {op.name}: the tuple reducer {combiner.name if combiner else body.op.value} has no "
            "derived gradient (an argmax's index has none); differentiate a single-value reduction, e.g. "
            "the max itself")
    rest = _rest(op, body)
    offsets = tuple(iv.var - iv.min if _has_min(iv) else iv.var for iv in op.reduce_axis)
    rest_load = rest[(*(iv.var for iv in op.axis), *offsets)]
    value = substitute(combiner.results[0], {combiner.lhs[0]: rest_load, combiner.rhs[0]: body.source})
    if body.condition is None:
        return value
    return if_then_else(body.condition, value, rest_load)


def _has_min(iv: IterVar) -> bool:
    return not (isinstance(iv.min, int) and iv.min == 0)


def _rest(op: ComputeOp, body: Reduce):
    """``R[o, k] = init (+) every term of the reduction but the k-th`` (a compute)."""
    taken = {iv.var.name for iv in (*op.axis, *op.reduce_axis)}
    out = tuple(IterVar(Var(_fresh(f"o{n}", taken)), iv.min, iv.extent, IterKind.DATA_PAR)
                for n, iv in enumerate(op.axis))
    skipped = tuple(IterVar(Var(_fresh(f"k{n}", taken)), 0, iv.extent, IterKind.DATA_PAR)
                    for n, iv in enumerate(op.reduce_axis))
    others = tuple(IterVar(Var(_fresh(f"{iv.var.name}.other", taken)), iv.min, iv.extent, IterKind.REDUCE)
                   for iv in op.reduce_axis)
    renamed = {iv.var: new.var for iv, new in zip(op.axis, out)} | {
        iv.var: new.var for iv, new in zip(op.reduce_axis, others)}
    apart = fold(lambda a, b: a | b, [other.var != skip.var + iv.min
                                      for iv, skip, other in zip(op.reduce_axis, skipped, others)])
    condition = apart if body.condition is None else substitute(body.condition, renamed) & apart
    rest = Reduce(ReduceOp.CUSTOM, substitute(body.source, renamed), others, body.dtype, condition,
                  None if body.init is None else substitute(body.init, renamed), body.combiner)
    return make_compute(f"{op.name}.rest", (*out, *skipped), rest)


def _fresh(name: str, taken: set) -> str:
    while name in taken:
        name += "_"
    taken.add(name)
    return name
