"""The records a schedule keeps about its stages: loop relations, loop annotations, attachment.

A stage's loops are the leaves of its relations over loop variables: ``Split`` makes two loops
of one, ``Fuse`` one of two, ``Singleton`` one of none. An ``Annotation`` gives a loop its kind (serial, parallel,
vectorized, unrolled, bound to a GPU index). An ``Attach`` says where a stage is computed:
``AtRoot`` (its own loop nest, the default), ``Inlined`` (substituted into its readers) or
``At(stage, axis)`` (inside loop ``axis`` of the consumer ``stage``). All are frozen: a
primitive records a change by replacing a value, never by editing one. The queries over
attachment (who consumes a stage, what a proposed attachment would strand) live in
:mod:`schedules.attachment`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tensorir import symbolic
from tensorir.expr import Expr, IterVar
from tensorir.intmath import ceil_div
from tensorir.stmt import ForKind
from tensorir.symbolic import Extent

from .symbolic_split import symbolic_extents

if TYPE_CHECKING:
    from .schedule import Stage


@dataclass(frozen=True, eq=False)
class Split:
    """``parent = outer * |inner| + inner``, by ``factor`` (the inner extent) or ``nparts`` (the
    outer extent), whichever was given. The extents follow from the parent's extent where the
    nest is built (:meth:`extents`), as in TVM: a stage computed over a region splits the
    region's extent, not the whole axis's."""

    parent: IterVar
    outer: IterVar
    inner: IterVar
    factor: int | Expr | None
    nparts: int | Expr | None = None

    def extents(self, parent: Extent) -> tuple[Extent, Extent]:
        """``(outer, inner)`` extents for a parent loop of extent ``parent``. A factor (or
        nparts) beyond a constant extent gives a loop of the extent and a loop of 1, never a guard;
        nparts of a symbolic extent keeps its nparts outer iterations."""
        if isinstance(self.factor, Expr) or isinstance(self.nparts, Expr):  # bound at run time
            return symbolic_extents(self, parent)
        if not isinstance(parent, int) and self.nparts is not None:
            # TVM's meaning: nparts parts of ceil(n / nparts) each, guarded where nparts does not divide n
            parts = min(self.nparts, symbolic.INT32_MAX)
            return parts, symbolic.ceil_div(parent, parts)
        if not isinstance(parent, int):  # symbolic (split by a factor): the guard covers the sizes it exceeds
            inner = min(self.factor, symbolic.INT32_MAX)
            return symbolic.ceil_div(parent, inner), inner
        if self.nparts is not None:
            outer = max(1, min(self.nparts, parent))
            return outer, ceil_div(parent, outer)
        inner = max(1, min(self.factor, parent))
        return ceil_div(parent, inner), inner


@dataclass(frozen=True, eq=False)
class Fuse:
    """``fused`` runs over the product: ``outer = fused // |inner|``, ``inner = fused % |inner|``."""

    outer: IterVar
    inner: IterVar
    fused: IterVar


@dataclass(frozen=True, eq=False)
class Singleton:
    """``fused`` is a new outermost loop of extent 1 that no axis derives from (TVM's fuse of
    no loops): it gives a stage without loops, or before its first loop, one to name."""

    fused: IterVar


Relation = Split | Fuse | Singleton


@dataclass(frozen=True)
class Annotation:
    """The kind of one loop, and the GPU index it is bound to (``thread_tag``), if any."""

    kind: ForKind = ForKind.SERIAL
    thread_tag: str = ""


@dataclass(frozen=True)
class AtRoot:
    """Computed in its own loop nest at the top of the function (every stage starts here)."""


@dataclass(frozen=True)
class Inlined:
    """Never stored: its expression is substituted into every reader."""


@dataclass(frozen=True)
class At:
    """Computed inside loop ``axis`` of the consumer ``stage``, over the region that loop needs."""

    stage: Stage
    axis: IterVar

    def __repr__(self) -> str:
        return f"At({self.stage!r}, {self.axis.name})"


Attach = AtRoot | Inlined | At

AT_ROOT = AtRoot()
INLINED = Inlined()
