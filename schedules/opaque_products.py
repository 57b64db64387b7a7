"""Products of a fixed loop and a size (``i.outer * ((n - 1) // 4 + 1)``, as nparts of a symbolic
loop makes) named as parameters of their own, so that isl bounds the region an attached stage
needs (a product of a loop and a parameter is not affine; a fresh parameter is).

Inside the attach loop those loops are fixed, so the product is one unknown non-negative value
there: the region's base is an expression of it, substituted back once isl has bounded the box.
"""

from __future__ import annotations

from collections.abc import Sequence

from tensorir.expr import Binary, BinaryOp, Expr, Var, binary
from tensorir.isl_params import always
from tensorir.structural import structural_equal
from tensorir.symbolic import ShapeVar
from tensorir.visitor import Mutator, walk


def _size_expr(expr: Expr) -> bool:
    return all(isinstance(n, ShapeVar) or not isinstance(n, Var) for n in walk(expr))


class _Name(Mutator):
    def __init__(self, loops: dict[Var, int], extents: Sequence[Expr]):
        super().__init__()
        self.loops, self.extents, self.names = loops, extents, {}

    def rewrite(self, node):
        if not (isinstance(node, Binary) and node.op is BinaryOp.MUL):
            return None
        for loop, size in ((node.a, node.b), (node.b, node.a)):
            if self.loops.get(loop, -1) >= 0 and _size_expr(size) and self._never_negative(size):
                fresh = ShapeVar(f"{loop.name}.times{len(self.names)}", node.dtype, 0)
                self.names[fresh] = node
                return fresh
        return None

    def _never_negative(self, size: Expr) -> bool:
        """Where ``size`` is the extent of an enclosing loop, a negative value runs nothing."""
        if not any(isinstance(n, ShapeVar) for n in walk(size)):
            return False
        return any(structural_equal(size, extent) for extent in self.extents) or \
            always(binary(BinaryOp.GE, size, 0))


def name_products(accesses: Sequence[tuple[Expr, ...]], fixed: dict[Var, int], extents: Sequence[Expr]):
    """``accesses`` with each product of a fixed loop (``fixed``: its lowest value) and a size
    expression that is never negative where the accesses run (``extents``: those of the loops
    around them) a fresh parameter; and those parameters with their products."""
    namer = _Name(fixed, extents)
    renamed = [tuple(namer.visit(i) for i in access) for access in accesses]
    return renamed, namer.names
