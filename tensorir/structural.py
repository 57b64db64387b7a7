"""Structural equality and hashing of IR, independent of object identity and of names.

IR nodes compare by identity (``==`` on expressions even builds a comparison node), so structure
is compared through a canonical key instead: a nested tuple of plain values (str, int, float,
bool, None) built from the dataclass fields of the nodes. In the key

* variables are numbered in order of first occurrence (a loop's own variable first occurs where
  the loop binds it), so two trees that differ only in variable names or variable objects have
  the same key (alpha-equivalence);
* buffers are numbered the same way (a function's parameters first, in their positions) and
  keyed by shape, dtype, scope and strides, never by name;
* constants keep their Python type, so ``1``, ``1.0`` and ``True`` differ.

:func:`structural_hash` is the sha256 of the key's text: stable across processes (no ``id()``,
no hash randomisation). :func:`identity_key` adds the variable and buffer objects themselves,
for merging terms or reusing computed values within one function (analyses, codegen CSE).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from dataclasses import dataclass
from functools import lru_cache

from .buffer import Buffer
from .expr import Expr, IterVar, Var
from .stmt import PrimFunc, Stmt


@dataclass(frozen=True, eq=False)
class Canonical:
    """The key of a tree and the variables and buffers its ordinals stand for, in order."""

    key: tuple
    variables: tuple[Var, ...]
    buffers: tuple[object, ...]


class _Canonicaliser:
    def __init__(self) -> None:
        self.variables: dict[Var, int] = {}
        self.buffers: dict[object, int] = {}

    def ordinal(self, table: dict, obj) -> int:
        if obj not in table:
            table[obj] = len(table)
        return table[obj]

    def node(self, node) -> tuple:
        if isinstance(node, Var):
            return ("Var", self.ordinal(self.variables, node), node.dtype.value)
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
                return ("Buffer", self.ordinal(self.buffers, value), value.shape, value.dtype.value,
                        value.scope.value, value.strides)
            case IterVar():
                return ("IterVar", self.node(value.var), value.min, value.extent, value.kind.value)
        if type(value).__name__ == "Tensor":  # definition-level loads (TensorLoad)
            return ("Tensor", self.ordinal(self.buffers, value), tuple(value.shape), value.dtype.value)
        raise TypeError(f"no structural key for {type(value).__name__} {value!r}")

    def func(self, func: PrimFunc) -> tuple:
        params = tuple(self.value(p) for p in func.params)
        return ("PrimFunc", params, self.node(func.body))


@lru_cache(maxsize=1 << 16)
def canonical(node: Expr | Stmt | PrimFunc) -> Canonical:
    """The canonical key of ``node`` with its variables and buffers (memoised per node: IR is
    never mutated)."""
    canon = _Canonicaliser()
    key = canon.func(node) if isinstance(node, PrimFunc) else canon.node(node)
    return Canonical(key, tuple(canon.variables), tuple(canon.buffers))


def structural_key(node: Expr | Stmt | PrimFunc) -> tuple:
    """A hashable key, equal for trees of the same structure up to names and object identity."""
    return canonical(node).key


def structural_equal(a: Expr | Stmt | PrimFunc, b: Expr | Stmt | PrimFunc) -> bool:
    """Whether ``a`` and ``b`` have the same structure (up to variable and buffer renaming)."""
    return a is b or structural_key(a) == structural_key(b)


def structural_hash(node: Expr | Stmt | PrimFunc) -> str:
    """The sha256 (hex) of the canonical key's text: the same in every process."""
    return hashlib.sha256(repr(structural_key(node)).encode()).hexdigest()


def identity_key(node: Expr | Stmt) -> tuple:
    """A key equal for trees of the same structure over the same variable and buffer objects."""
    found = canonical(node)
    return found.key, found.variables, found.buffers
