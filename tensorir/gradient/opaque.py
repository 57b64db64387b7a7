"""Reads whose subscripts have no affine form: ``B[I[i]]`` (TVM's ``take``), ``A[i * i]``,
``A[i // k]`` with ``k`` an index. isl cannot solve such a subscript for the indices, so the
adjoint keeps the Jacobian's equality, as TVM's ``te.gradient`` does:

    dB[x] += sum over the points v of head(v) * d body / d B[f(v)] * (f(v) == x)

The affine subscripts of the same read are still solved (:mod:`.isl_inverse`), so a ``take``
along one axis of a matrix sums over the index tensor only, not over the whole output. The sum
is exact for every index value: repeated indices accumulate, and each target ``x`` lies inside
``B``, so the adjoint never touches memory outside it.

An index the forward checks at run time (a :class:`~tensorir.expr.CheckedIndex`) is checked by
the adjoint too, with the forward's message, and only where the forward reads it (under the
same ``if_then_else`` conditions): the adjoint refuses exactly the index values the forward
refuses, instead of silently dropping their contributions. An index made safe by the user
(``.at(..., mode="clip")`` or ``"wrap"``) sends the gradient where the forward read.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce as fold

from ..expr import Expr, TensorLoad, Var, const
from ..functions import if_then_else
from ..isl_bridge import _guarded_loads
from ..structural import identity_key

Guards = tuple[tuple[Expr, bool], ...]


def matched(value: Expr, load: TensorLoad, source: Expr, targets: Sequence[Var],
            opaque: Sequence[int]) -> Expr:
    """``value`` where each subscript of ``load`` at a position in ``opaque`` equals its target
    (zero elsewhere), evaluated only where ``source`` reads ``load``."""
    if not opaque:
        return value
    zero = const(0.0, value.dtype)
    equal = fold(lambda a, b: a & b, [load.indices[n] == targets[n] for n in opaque])
    tested = if_then_else(equal, value, zero)
    paths = _paths(source, load)
    if any(not path for path in paths):
        return tested
    result: Expr = zero
    for path in reversed(paths):
        result = _under(path, tested, result)
    return result


def _paths(source: Expr, load: TensorLoad) -> list[Guards]:
    """The ``if_then_else`` conditions under which ``source`` reads ``load``, one per occurrence."""
    found: list = []
    _guarded_loads(source, (), found)
    key = identity_key(load)
    paths: list[Guards] = []
    for node, guards in found:
        if identity_key(node) == key and guards not in paths:
            paths.append(guards)
    return paths


def _under(guards: Guards, inner: Expr, otherwise: Expr) -> Expr:
    """``inner`` where every guard holds (tested outermost first, each only once the ones before
    it hold), else ``otherwise``."""
    for cond, holds in reversed(guards):
        inner = if_then_else(cond, inner, otherwise) if holds else if_then_else(cond, otherwise, inner)
    return inner
