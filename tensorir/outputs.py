"""Computes with several outputs: a lambda returning a tuple of expressions (or the tuple of
reductions of a tuple reducer) defines one operation with one tensor per element.

The tensors share one stage and one loop nest: every output is written at each point of the
nest. Their bodies must agree on what the nest is: either none reduces, or all reduce over the
same axes (a tuple reducer's values all, in order).
"""

from __future__ import annotations

from .errors import DefinitionError
from .expr import Expr, Reduce, as_expr


def bodies_of(name: str, value: tuple | list) -> tuple[Expr, ...]:
    """The elements of what ``fcompute`` returned, as expressions (a nested tuple of reductions,
    ``argmax((I, X), axis=k)``, stands for its elements)."""
    if not value:
        raise DefinitionError(
            f"compute {name}: fcompute returned an empty {type(value).__name__}; return an "
            "expression, or a tuple of expressions for a compute with several outputs")
    items: list = []
    for element in value:
        items += list(element) if isinstance(element, (tuple, list)) else [element]
    bodies = []
    for n, item in enumerate(items):
        try:
            bodies.append(as_expr(item))
        except DefinitionError as err:
            raise DefinitionError(
                f"compute {name}: output {n} of fcompute is not an expression; {err}") from None
    return tuple(bodies)


def check_output_group(name: str, bodies: tuple[Expr, ...]) -> None:
    """Refuse bodies that cannot share one loop nest."""
    reductions = [isinstance(body, Reduce) for body in bodies]
    if any(reductions) and not all(reductions):
        which = reductions.index(not reductions[0])
        kinds = ["a reduction" if r else "not a reduction" for r in (reductions[0], reductions[which])]
        raise DefinitionError(
            f"compute {name}: output 0 is {kinds[0]} but output {which} is {kinds[1]}; the outputs "
            "of one compute share one loop nest, so define them as separate computes")
    if not any(reductions):
        return
    first = bodies[0]
    assert isinstance(first, Reduce)
    for n, body in enumerate(bodies):
        assert isinstance(body, Reduce)
        if body.axes != first.axes:
            shown = [[iv.name for iv in b.axes] for b in (first, body)]
            raise DefinitionError(
                f"compute {name}: output 0 reduces over {shown[0]} but output {n} over {shown[1]}; "
                "the outputs of one compute reduce over the same axes, in the same order")
    _check_tuple_reducer(name, bodies)


def _check_tuple_reducer(name: str, bodies: tuple[Expr, ...]) -> None:
    """A tuple reducer's values are all the outputs, in order."""
    tuples = [body for body in bodies if isinstance(body, Reduce) and body.sources]
    if not tuples:
        return
    combiner = tuples[0].combiner
    count = len(tuples[0].sources)
    assert combiner is not None
    for n, body in enumerate(bodies):
        assert isinstance(body, Reduce)
        if body.combiner is not combiner or body.value_index != n or len(bodies) != count:
            raise DefinitionError(
                f"compute {name}: output {n} is not value {n} of the tuple reducer "
                f"{combiner.name} (of {count} values); return all the values of one tuple reducer "
                f"call, in order, e.g. T0, T1 = ns.compute(shape, lambda i: "
                f"{combiner.name}((I[i, k], X[i, k]), axis=k))")


def call_tensor(tensor, args: tuple):
    """``tensor(*args)``: TVM's ``T(i, j)`` (an access) inside a compute's lambda, or with index
    expressions; outside one, ``op.output(n)`` with one int (``op.output`` is the first output)."""
    from .dependent import in_definition

    index = [arg for arg in args if isinstance(arg, int) and not isinstance(arg, bool)]
    if in_definition() or len(index) != len(args) or len(args) != 1:
        return tensor[args]
    (n,) = index
    op = tensor.op
    if tensor.value_index != 0:
        raise DefinitionError(
            f"{tensor.name}({n}): outside a compute definition a call picks an output, as TVM's "
            f"op.output({n}); call it on the operation: {op.name}.op.output({n}), or index the "
            f"tensor with {tensor.name}[...] inside a compute")
    if not 0 <= n < op.num_outputs:
        raise DefinitionError(
            f"{op.name}.output({n}): {op.name} has {op.num_outputs} output(s), numbered 0.."
            f"{op.num_outputs - 1}; pick one of those (or index a tensor with T[...] inside a compute)")
    return op.outputs[n]
