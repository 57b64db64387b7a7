"""Structural equality and hashing of IR, independent of object identity and of names.

IR nodes compare by identity (``==`` on expressions even builds a comparison node), so structure
is compared through a canonical key instead: a Merkle digest, the sha256 of a node's type and
fields with each child node replaced by its own digest. In the key

* variables are numbered in order of first occurrence (a loop's own variable first occurs where
  the loop binds it), so two trees that differ only in variable names or variable objects have
  the same key (alpha-equivalence);
* buffers are numbered the same way (a function's parameters first, in their positions) and
  keyed by shape, dtype, scope and strides, never by name;
* constants keep their Python type, so ``1``, ``1.0`` and ``True`` differ.

IR is a graph when a subexpression is reused (``x = a * a; y = x + x``): a node's digest is
computed at its first visit and reused at the next (its variables already have their ordinals
then), so a key costs the number of distinct nodes, not of paths, and it is a short ``bytes``
that hashes and compares in constant time. :func:`structural_hash` is its hex text: stable
across processes (no ``id()``, no hash randomisation). :func:`identity_key` adds the variable
and buffer objects themselves, for merging terms or reusing computed values within one function
(analyses, codegen CSE).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from dataclasses import dataclass
from functools import lru_cache

from .buffer import Buffer
from .expr import Combiner, Expr, IterVar, Var
from .stmt import PrimFunc, Stmt


@dataclass(frozen=True, eq=False)
class Canonical:
    """The key (digest) of a tree and the variables and buffers its ordinals stand for, in order."""

    key: bytes
    variables: tuple[Var, ...]
    buffers: tuple[object, ...]


class _Canonicaliser:
    def __init__(self) -> None:
        self.variables: dict[Var, int] = {}
        self.buffers: dict[object, int] = {}
        #: digests of the nodes seen so far, by node (IR nodes hash by identity)
        self.digests: dict[object, bytes] = {}

    def ordinal(self, table: dict, obj) -> int:
        if obj not in table:
            table[obj] = len(table)
        return table[obj]

    def node(self, node) -> bytes:
        digest = self.digests.get(node)
        if digest is None:
            digest = self.digests[node] = _digest(self.fields(node))
        return digest

    def fields(self, node) -> tuple:
        if isinstance(node, Var):
            # a size variable's constraints are part of what a kernel may rely on
            extra = (node.lower, node.divisor) if hasattr(node, "divisor") else ()
            return (type(node).__name__, self.ordinal(self.variables, node), node.dtype.value, *extra)
        fields = tuple(self.value(getattr(node, f.name)) for f in dataclasses.fields(node)
                       if f.name != "name")  # names are not structure
        return (type(node).__name__, *fields)

    def value(self, value) -> object:
        match value:
            case Expr() | Stmt():
                return self.node(value)
            case tuple():
                return tuple(self.value(item) for item in value)
            case None | str():
                return value
            case bool() | int() | float():
                return (type(value).__name__, repr(value))
            case enum.Enum():
                return (type(value).__name__, value.value)
            case Buffer():
                # GPU storage and launch requests are keyed only where made, so older keys hold
                requests = (("double_buffered",) if value.double_buffered else ()) \
                    + (("min_blocks", value.min_blocks) if value.min_blocks else ())
                return ("Buffer", self.ordinal(self.buffers, value), self.value(value.shape),
                        value.dtype.value, value.scope.value, self.value(value.strides)) + requests
            case IterVar():
                return ("IterVar", self.node(value.var), self.value(value.min), self.value(value.extent),
                        value.kind.value)
            case Combiner():  # a user reducer: how it combines, not its name
                return ("Combiner", *(self.value(part) for part in
                                      (value.lhs, value.rhs, value.results, value.identities)))
        if type(value).__name__ == "Tensor":  # definition-level loads (TensorLoad)
            return ("Tensor", self.ordinal(self.buffers, value), self.value(tuple(value.shape)),
                    value.dtype.value)
        raise TypeError(f"no structural key for {type(value).__name__} {value!r}")

    def func(self, func: PrimFunc) -> bytes:
        params = tuple(self.value(p) for p in func.params)
        if func.scalars:  # size variables: their order is the calling convention
            from .symbolic import assumptions

            scalars = tuple(self.node(v) for v in func.scalars)
            assumed = tuple(self.node(c) for c in assumptions(func.scalars))
            return _digest(("PrimFunc", params, scalars, assumed, self.node(func.body)))
        return _digest(("PrimFunc", params, self.node(func.body)))


def _digest(fields: tuple) -> bytes:
    """The sha256 of a node's flat fields (children already digests): its text is the same in
    every process."""
    return hashlib.sha256(repr(fields).encode()).digest()


@lru_cache(maxsize=1 << 16)
def canonical(node: Expr | Stmt | PrimFunc) -> Canonical:
    """The canonical key of ``node`` with its variables and buffers (memoised per node: IR is
    never mutated)."""
    canon = _Canonicaliser()
    key = canon.func(node) if isinstance(node, PrimFunc) else canon.node(node)
    return Canonical(key, tuple(canon.variables), tuple(canon.buffers))


def structural_key(node: Expr | Stmt | PrimFunc) -> bytes:
    """A hashable key, equal for trees of the same structure up to names and object identity."""
    return canonical(node).key


def structural_equal(a: Expr | Stmt | PrimFunc, b: Expr | Stmt | PrimFunc) -> bool:
    """Whether ``a`` and ``b`` have the same structure (up to variable and buffer renaming)."""
    return a is b or structural_key(a) == structural_key(b)


def structural_hash(node: Expr | Stmt | PrimFunc) -> str:
    """The canonical key (a sha256 digest) as hex text: the same in every process."""
    return structural_key(node).hex()


def identity_key(node: Expr | Stmt) -> tuple:
    """A key equal for trees of the same structure over the same variable and buffer objects."""
    found = canonical(node)
    return found.key, found.variables, found.buffers
