"""One generic traversal of IR nodes, driven by their dataclass fields: the fields whose annotated
types hold Expr or Stmt nodes (alone, in tuples, or optional) are the children."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator
from functools import cache

from .expr import Expr
from .stmt import PrimFunc, Stmt

Node = Expr | Stmt


def _holds_nodes(annotation) -> bool:
    """Whether a field annotated ``annotation`` holds IR nodes: an Expr or Stmt, a tuple of
    them, or either of those or None."""
    if isinstance(annotation, type):
        return issubclass(annotation, (Expr, Stmt))
    origin = typing.get_origin(annotation)
    if origin is tuple:
        return any(_holds_nodes(arg) for arg in typing.get_args(annotation) if arg is not Ellipsis)
    if origin in (typing.Union, types.UnionType):
        return any(_holds_nodes(arg) for arg in typing.get_args(annotation))
    return False


@cache
def _child_fields(cls: type) -> tuple[str, ...]:
    """The fields of node class ``cls`` that hold child nodes, chosen by their annotated types
    (a Var, an Expr, a Stmt, a tuple of them, optional or not); buffers, tensors, enums,
    dtypes, names and iteration axes are data of the node, not children."""
    hints = typing.get_type_hints(cls, localns=_annotation_namespace())
    return tuple(f.name for f in dataclasses.fields(cls) if _holds_nodes(hints[f.name]))


def _annotation_namespace() -> dict:
    from .buffer import Buffer
    from .tensor import Tensor

    return {"Buffer": Buffer, "Tensor": Tensor}


def _children(node: Node) -> Iterator[Node]:
    for name in _child_fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, (Expr, Stmt)):
            yield value
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, (Expr, Stmt)):
                    yield item


def walk(node: Node) -> Iterator[Node]:
    """Every distinct node under ``node`` (itself included) once, parents before children.

    IR is a graph when a subexpression is reused (``x = a * a; y = x + x``): each node is yielded
    at its first visit only, so a walk costs the number of distinct nodes, not of paths."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(reversed(list(_children(current))))


class Mutator:
    """Rebuilds a tree bottom-up; a pass overrides :meth:`rewrite` for the nodes it changes.

    ``rewrite`` returns a replacement node, or None to recurse into the children. Unchanged
    subtrees come back as the same objects. Results are memoised per node, so a shared subtree
    is rewritten once.
    """

    def __init__(self) -> None:
        self._memo: dict[Node, Node] = {}

    def __call__(self, node):
        if isinstance(node, PrimFunc):
            body = self(node.body)
            return node if body is node.body else dataclasses.replace(node, body=body)
        return self.visit(node)

    def visit(self, node: Node) -> Node:
        done = self._memo.get(node)
        if done is not None:
            return done
        result = self.rewrite(node)
        if result is None:
            result = self.generic(node)
        self._memo[node] = result
        return result

    def rewrite(self, node: Node) -> Node | None:
        return None

    def generic(self, node: Node) -> Node:
        changes = {}
        for name in _child_fields(type(node)):
            value = getattr(node, name)
            if isinstance(value, (Expr, Stmt)):
                new = self.visit(value)
                if new is not value:
                    changes[name] = new
            elif isinstance(value, tuple) and any(isinstance(v, (Expr, Stmt)) for v in value):
                new_items = tuple(self.visit(v) if isinstance(v, (Expr, Stmt)) else v for v in value)
                if any(a is not b for a, b in zip(new_items, value)):
                    changes[name] = new_items
        return dataclasses.replace(node, **changes) if changes else node


def map_statements(node: Stmt, fn) -> Stmt:
    """``node`` with ``fn`` applied to each statement directly inside it (a loop's body, a
    sequence's items, a branch); the same object when ``fn`` changes none. For passes that carry
    a context down the tree (the enclosing loops' ranges) and so cannot use the memoised
    :class:`Mutator`."""
    changes = {}
    for name in _child_fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, Stmt):
            new = fn(value)
            if new is not value:
                changes[name] = new
        elif isinstance(value, tuple) and any(isinstance(v, Stmt) for v in value):
            items = tuple(fn(v) if isinstance(v, Stmt) else v for v in value)
            if any(a is not b for a, b in zip(items, value)):
                changes[name] = items
    return dataclasses.replace(node, **changes) if changes else node


class Substitute(Mutator):
    """Replace variables by expressions."""

    def __init__(self, mapping: dict) -> None:
        super().__init__()
        self.mapping = mapping

    def rewrite(self, node):
        return self.mapping.get(node)


def substitute(node, mapping: dict):
    if not mapping:
        return node
    return Substitute(mapping)(node)
