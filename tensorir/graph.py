"""Traversal of dependency graphs (operations of a computation, nodes of an autograd graph)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

Node = TypeVar("Node")


def post_order(roots: Sequence[Node], children: Callable[[Node], Iterable[Node]]) -> list[Node]:
    """Every node reachable from ``roots``, each after all of its children (iterative, so deep
    graphs do not hit the recursion limit); nodes are told apart by identity."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(node, False) for node in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(list(children(node))) if id(child) not in seen)
    return order
