"""Reverse-mode differentiation over the graph that tensors record: whether ops record it
(``no_grad``/``enable_grad``, per thread), the order of a backward pass, and the pass itself,
which sums the partial adjoints that reach each node (seed Lec4). Gradients are built from ops,
so a gradient can be differentiated again."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .tensor import Tensor

_grad_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether new ops record the graph for ``backward``."""
    return getattr(_grad_state, "enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Within this block, ops record no graph (evaluation, optimizer updates)."""
    previous = is_grad_enabled()
    _grad_state.enabled = False
    try:
        yield
    finally:
        _grad_state.enabled = previous


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Within this block, ops record the graph again (e.g. to differentiate a gradient)."""
    previous = is_grad_enabled()
    _grad_state.enabled = True
    try:
        yield
    finally:
        _grad_state.enabled = previous


def topological_order(root: Tensor) -> list[Tensor]:
    """The nodes that ``root`` depends on and that require grad, inputs before their users: the
    post-order of :func:`tensorir.graph.post_order` (each node after its inputs, first inputs
    first; iterative, so deep graphs do not hit the recursion limit), walked without building a
    list of children per node (it runs once per ``backward``)."""
    order: list[Tensor] = []
    seen = {id(root)}
    stack = [(root, iter(root.inputs))]
    while stack:
        node, inputs = stack[-1]
        for tensor in inputs:
            if tensor.requires_grad and id(tensor) not in seen:
                seen.add(id(tensor))
                stack.append((tensor, iter(tensor.inputs)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def grad(output: Tensor, inputs, out_grad: Tensor | None = None, create_graph: bool = False) -> list[Tensor | None]:
    """The gradients of ``output`` with respect to ``inputs``, returned rather than accumulated
    into ``.grad``; with ``create_graph`` they can be differentiated again.

    Parameters
    ----------
    output
        The tensor to differentiate (a scalar unless ``out_grad`` is given).
    inputs
        Tensors that ``output`` depends on; None for those it does not reach.
    """
    from .node_grads import checked_out_grad

    out_grad = checked_out_grad("grad", output, out_grad)
    with enable_grad() if create_graph else no_grad():
        found = _backpropagate(output, out_grad, {id(t) for t in inputs})
    return [found.get(id(t)) for t in inputs]


def _regrown(gradient: Tensor) -> Tensor | None:
    """``gradient`` (a leaf's ``.grad`` that ``backward`` made without a graph) built again with
    its graph, while the tensor it differentiates lives; None otherwise."""
    origin = getattr(gradient, "_origin", None)
    if origin is None:
        return None
    root, out_grad, leaf = origin[0](), origin[1], origin[2]()
    if root is None or leaf is None or not root.requires_grad:
        return None
    (regrown,) = grad(root, [leaf], out_grad, create_graph=True)
    return regrown if regrown is not None and regrown.requires_grad else None


def _backpropagate(root: Tensor, out_grad: Tensor, wanted: set[int] | None = None,
                   every_node: bool = False) -> dict[int, Tensor]:
    """Reverse mode over the graph of ``root``: with ``wanted``, the summed adjoints of those
    tensors by id; without, leaves get theirs as ``.grad``, and so do ``root`` and the
    intermediates the user still refers to (every node with ``every_node``, as needle's
    ``compute_gradient_of_variables``; :mod:`frontend.node_grads`)."""
    from .fusion import sum_all
    from .node_grads import shown

    partials: dict[int, list[Tensor]] = {id(root): [out_grad]}
    found: dict[int, Tensor] = {}
    order = topological_order(root)
    visible = shown(order, root, every_node) if wanted is None else set()
    for node in reversed(order):
        grads = partials.pop(id(node), None)
        if not grads:
            continue
        grad = grads[0] if len(grads) == 1 else sum_all(grads)
        grads = None  # the summed partials are not needed apart (the lazy graph need not store them)
        if wanted is not None and id(node) in wanted:
            found[id(node)] = grad
        if wanted is None and (node.op is None or visible is None or id(node) in visible):
            node.grad = grad
            if not is_grad_enabled() and grad is not out_grad:  # differentiable on demand (_regrown)
                grad._origin = (weakref.ref(root), out_grad, weakref.ref(node))
        if node.op is None:
            continue
        for tensor, partial in zip(node.inputs, node.op.gradient(grad, node)):
            if partial is not None and tensor.requires_grad:
                partials.setdefault(id(tensor), []).append(partial)
        tensor = partial = grad = None  # held only where they are needed
    return found
