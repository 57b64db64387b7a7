"""Which intermediate tensors ``backward`` gives a ``.grad``: those the user can still see.

needle sets ``.grad`` on every node of the graph. Here the leaves and the differentiated tensor
always get theirs; an intermediate tensor (made by an op) gets it when something outside the
graph still refers to it: a user's variable, a list, a module's attribute. Storing the gradient
of a node that nobody can reach would keep that gradient alive with the graph (and, in the lazy
graph, make its fused kernel store it: :mod:`frontend.lazy_liveness`), so the intermediates of a
training step, referred to by the graph alone, get none, at no cost.

The graph refers to a node once per use as an input of another node of the graph (a pending
node's inputs are the same tuple); the traversal's list refers to it once. The references that
``sys.getrefcount`` finds beyond those are outside ones, counted against the baseline that
:mod:`frontend.lazy_liveness` calibrates at import (an object held by a list alone, queried the
same way). Where that calibration found that counts do not add up, every node gets its gradient,
as in needle (correct, at the cost of keeping them). A reference the count cannot tell from the
user's (an op applied to the node under ``no_grad`` and still pending) gives the node its
gradient too: never a missing ``.grad`` where the user holds the node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy_liveness import BASELINE, _references

if TYPE_CHECKING:
    from .tensor import Tensor


def shown(order: list, root, every_node: bool = False) -> set[int] | None:
    """The ids of the tensors of ``order`` (the graph of ``root``, inputs first) that get a
    ``.grad`` besides the leaves: ``root`` and the intermediates referred to from outside the
    graph; None for every node."""
    if every_node or BASELINE is None:
        return None
    uses = _uses(order)
    found = {id(root)}
    for n in range(len(order)):  # by position: a loop variable would hold one more reference
        if order[n].op is not None and _references(order, n) - BASELINE > uses.get(id(order[n]), 0):
            found.add(id(order[n]))
    return found


def _uses(order: list) -> dict[int, int]:
    """How often each tensor is an input of a node of ``order``, by id."""
    uses: dict[int, int] = {}
    for node in order:
        for source in node.inputs:
            key = id(source)
            uses[key] = uses.get(key, 0) + 1
    return uses


def checked_out_grad(name: str, tensor: Tensor, out_grad) -> Tensor:
    """``out_grad`` checked to be a Tensor of ``tensor``'s shape; ones of that shape when None."""
    from tensorir.errors import DefinitionError

    from .ops.creation import ones_like
    from .tensor import Tensor  # noqa: F811 - the class itself, at run time

    if out_grad is None:
        return ones_like(tensor)
    if not isinstance(out_grad, Tensor):
        raise DefinitionError(f"{name}: out_grad is a {type(out_grad).__name__}, not a Tensor; wrap it: "
                              f"Tensor(out_grad, requires_grad=False)")
    if tuple(out_grad.shape) != tensor.shape:
        raise DefinitionError(f"{name}: out_grad has shape {out_grad.shape} but the tensor has {tensor.shape}; "
                              "give an adjoint of the tensor's shape")
    if tensor.dtype.startswith("float") and out_grad.dtype != tensor.dtype:
        from .ops.elementwise import cast

        # integer adjoints of a float tensor (ones as ints), float64 adjoints of a float32 one
        # (needle's tests draw them with numpy; needle's float32 arrays take them as float32)
        return cast(out_grad, tensor.dtype)
    return out_grad
