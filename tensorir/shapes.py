"""Shapes of tensors as the language takes them: positive ints or expressions of size
variables (TVM's ``compute(n, ...)``, integral floats as in its GEMM tutorial), and the most
elements a buffer may hold."""

from __future__ import annotations

from .errors import DefinitionError
from .expr import Expr, IterVar
from .intmath import as_int


class IntDim(int):
    """A constant dimension as a tensor's ``shape`` hands it out: an int that also has TVM's
    ``IntImm.value`` (``A.shape[0].value``). Arithmetic on it gives plain ints."""

    __slots__ = ()

    @property
    def value(self) -> int:
        return int(self)

    def __repr__(self) -> str:
        return int.__repr__(self)

    def __reduce__(self):
        return (IntDim, (int(self),))


def as_dims(shape: tuple) -> tuple:
    """``shape`` with each constant dimension an :class:`IntDim` (symbolic ones as they are)."""
    return tuple(IntDim(d) if type(d) is int else d for d in shape)


def _check_shape(shape: object, who: str, integral_floats: bool = False) -> tuple[int, ...]:
    shape = as_int(shape)
    if isinstance(shape, (int, Expr, IterVar)):  # one dimension: TVM's compute(n, ...)
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):  # () is a rank-0 tensor: one element, no indices
        raise DefinitionError(f"{who}: shape must be a tuple of positive ints (or () for a scalar), "
                              f"got {shape!r}")
    shape = tuple(_symbolic_dim(_integral(as_int(dim)) if integral_floats else as_int(dim), who) for dim in shape)
    for dim in shape:
        if isinstance(dim, Expr):
            continue
        if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
            raise DefinitionError(
                f"{who}: shape {tuple(shape)!r} has the dimension {dim!r}; every dimension must be "
                "a positive int")
    _check_size(shape, who)
    return tuple(shape)


#: the most elements a buffer may have: its byte offsets (8-byte elements at most) are 64-bit
MAX_ELEMENTS = (2**63 - 1) // 8


def _check_size(shape: tuple, who: str) -> None:
    """The static dimensions of ``shape`` must hold at most :data:`MAX_ELEMENTS` elements."""
    elements = 1
    for dim in shape:
        if isinstance(dim, int):
            elements *= dim
    if elements > MAX_ELEMENTS:
        raise DefinitionError(f"{who}: shape {tuple(shape)!r} has {elements} elements, more than the "
                              f"{MAX_ELEMENTS} (2**60 - 1) a buffer can address with 64-bit byte offsets; use "
                              "smaller dimensions")


def _integral(dim: object) -> object:
    """A float dimension with an integral value as that int: TVM's GEMM tutorial computes a
    tensor of shape ``(N / bn, K, bn)`` (placeholders still take ints only)."""
    if isinstance(dim, float) and dim.is_integer():
        return int(dim)
    return dim


def _symbolic_dim(dim: object, who: str) -> object:
    """A dimension given as an expression of size variables (``n``, ``8 * m``) stays symbolic."""
    if isinstance(dim, (Expr, IterVar)):
        from .symbolic import as_extent

        return as_extent(dim, who, "dimension")
    return dim


def check_tensor_size(shape: tuple[int, ...], who: str) -> None:
    """A frontend tensor of static ``shape`` must hold at most :data:`MAX_ELEMENTS` elements."""
    elements = 1
    for dim in shape:
        elements *= dim
    if elements > MAX_ELEMENTS:
        raise DefinitionError(f"{who}: shape {shape} has {elements} elements, more than a tensor can hold "
                              f"({MAX_ELEMENTS}); use smaller sizes")
