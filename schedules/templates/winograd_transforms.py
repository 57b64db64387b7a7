"""The constant matrices of Winograd's minimal filtering algorithms F(2, 3) and F(4, 3) (and
F(4, 2), F(7, 2) for the 2x2 phase filters of a stride-2 3x3 convolution), and the
one-dimensional transforms over them as index expressions.

``Y = A^T [(G g G^T) * (B^T d B)] A`` for a 3x3 filter ``g`` and an ``(m+2)x(m+2)`` input tile
``d`` gives the ``m x m`` output tile. Each two-dimensional transform is two one-dimensional
ones (rows, then columns). A one-dimensional transform ``sum_j M[row, j] * value(j)`` is a chain
of selects over ``row`` whose entries hold only the nonzero terms of their matrix row; where
``row`` is an unrolled loop the code generators take the one entry it selects, so an unrolled
transform is a short sum of constant multiples and no table is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir import functions as fn


@dataclass(frozen=True)
class Winograd:
    """``F(m x m, r x r)``: ``m`` outputs per tile side from ``m + r - 1`` inputs.

    Attributes
    ----------
    m
        Output tile side.
    B_T, G, A_T
        The input (``alpha x alpha``), filter (``alpha x r``) and output (``m x alpha``)
        transform matrices.
    """

    m: int
    B_T: tuple
    G: tuple
    A_T: tuple

    @property
    def r(self) -> int:
        """Filter side (3; 2 for the phases of a stride-2 3x3 filter)."""
        return len(self.G[0])

    @property
    def alpha(self) -> int:
        """Input tile side ``m + r - 1``."""
        return self.m + self.r - 1


#: F(2x2, 3x3) (Lavin and Gray, interpolation points 0, 1, -1)
F2 = Winograd(
    2,
    B_T=((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
    G=((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1)),
    A_T=((1, 1, 1, 0), (0, 1, -1, -1)),
)

#: F(4x4, 3x3) (interpolation points 0, 1, -1, 2, -2): fewer products, larger rounding error
F4 = Winograd(
    4,
    B_T=((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
         (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)),
    G=((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
       (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1)),
    A_T=((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1)),
)

VARIANTS = {2: F2, 4: F4}

#: F(4x4, 2x2) (Toom-Cook, points 0, 1, -1, -2 and infinity; float32 error about 2e-6 of a
#: tile's largest output): the 2x2 phase filters of a stride-2 3x3 convolution
F4_2 = Winograd(
    4,
    B_T=((-2, -1, 2, 1, 0), (0, 2, 3, 1, 0), (0, -2, 1, 1, 0), (0, -1, 0, 1, 0), (0, -2, -1, 2, 1)),
    G=((-1 / 2, 0), (1 / 6, 1 / 6), (1 / 2, -1 / 2), (-1 / 6, 1 / 3), (0, 1)),
    A_T=((1, 1, 1, 1, 0), (0, 1, -1, -2, 0), (0, 1, 1, 4, 0), (0, 1, -1, -8, 1)),
)

#: F(7x7, 2x2) (points 0, +-1, +-2, +-1/2 and infinity; float32 error about 1e-5 of a tile's
#: largest output, as F(4x4,3x3)): 49 outputs per 64 products, so 7, 14 and 28 wide outputs
#: (ResNet-18's stride-2 layers) take whole tiles
F7_2 = Winograd(
    7,
    B_T=((-1, 0, 21 / 4, 0, -21 / 4, 0, 1, 0), (0, 1, 1, -17 / 4, -17 / 4, 1, 1, 0),
         (0, -1, 1, 17 / 4, -17 / 4, -1, 1, 0), (0, 1 / 2, 1 / 4, -5 / 2, -5 / 4, 2, 1, 0),
         (0, -1 / 2, 1 / 4, 5 / 2, -5 / 4, -2, 1, 0), (0, 2, 4, -5 / 2, -5, 1 / 2, 1, 0),
         (0, -2, 4, 5 / 2, -5, -1 / 2, 1, 0), (0, -1, 0, 21 / 4, 0, -21 / 4, 0, 1)),
    G=((-1, 0), (-2 / 9, -2 / 9), (-2 / 9, 2 / 9), (1 / 90, 1 / 45), (1 / 90, -1 / 45), (32 / 45, 16 / 45),
       (32 / 45, -16 / 45), (0, 1)),
    A_T=((1, 1, 1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 1 / 2, -1 / 2, 0), (0, 1, 1, 4, 4, 1 / 4, 1 / 4, 0),
         (0, 1, -1, 8, -8, 1 / 8, -1 / 8, 0), (0, 1, 1, 16, 16, 1 / 16, 1 / 16, 0),
         (0, 1, -1, 32, -32, 1 / 32, -1 / 32, 0), (0, 1, 1, 64, 64, 1 / 64, 1 / 64, 1)),
)

#: the variants for stride-2 3x3 filters, by output tile side
STRIDE2_VARIANTS = {4: F4_2, 7: F7_2}


def _terms(line: tuple, value):
    """``sum_j line[j] * value(j)`` over the nonzero ``line[j]`` (a unit weight adds or
    subtracts without a multiplication)."""
    total = None
    for j, weight in enumerate(line):
        if not weight:
            continue
        term = value(j)
        if weight == -1:
            total = -term if total is None else total - term
            continue
        if weight != 1:
            term = term * float(weight)
        total = term if total is None else total + term
    return total


def row_transform(matrix: tuple, row, value):
    """``sum_j matrix[row][j] * value(j)`` for the index expression ``row``: a chain of selects
    over ``row``, each entry the nonzero terms of its matrix row."""
    result = None
    for i in reversed(range(len(matrix))):
        entry = _terms(matrix[i], value)
        result = entry if result is None else fn.if_then_else(row == i, entry, result)
    return result
