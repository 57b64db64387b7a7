"""Buffers: the memory that lowered IR loads from and stores to."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .dtypes import DType


class Scope(enum.Enum):
    GLOBAL = "global"
    SHARED = "shared"
    LOCAL = "local"


def row_major_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    if not all(isinstance(extent, int) for extent in shape):
        from .symbolic import row_major_strides as symbolic_strides

        return symbolic_strides(shape)
    strides, step = [], 1
    for extent in reversed(shape):
        strides.append(step)
        step *= extent
    return tuple(reversed(strides))


@dataclass(frozen=True, eq=False)
class Buffer:
    """A named region of ``dtype`` elements; element ``idx`` lives at ``sum(idx * strides)``."""

    name: str
    shape: tuple[int, ...]
    dtype: DType
    scope: Scope = Scope.GLOBAL
    strides: tuple[int, ...] = field(default=())
    #: two copies, one filled while the other is read (``Stage.double_buffer``; the CUDA backend
    #: allocates and alternates them)
    double_buffered: bool = False
    #: for the output of a GPU stage: the resident blocks per SM its kernel asks registers for
    #: (``__launch_bounds__(threads, min_blocks)``, ``Stage.launch_bounds``); 0: no request
    min_blocks: int = 0
    #: a float scalar parameter (a float ``var``): a call may pass it as a Python number
    by_value: bool = False

    def __post_init__(self) -> None:
        if not self.strides:
            object.__setattr__(self, "strides", row_major_strides(self.shape))

    @property
    def size(self) -> int:
        """Elements to allocate: the product of the shape, or the span of the strides where they
        are padded (``storage_align``) and leave gaps between rows."""
        if not all(isinstance(extent, int) for extent in (*self.shape, *self.strides)):
            return self._symbolic_size()
        n = 1
        for extent in self.shape:
            n *= extent
        if n == 0:
            return 0
        return max(n, 1 + sum((extent - 1) * stride for extent, stride in zip(self.shape, self.strides)))

    def _symbolic_size(self):
        """The size of a buffer of symbolic shape: the product of the shape, or, with strides of
        their own (``storage_align`` of rows of symbolic size), the span they reach."""
        from .expr import BinaryOp, binary
        from .structural import structural_equal
        from .symbolic import mul, product, row_major_strides

        if all(a == b if isinstance(a, int) and isinstance(b, int) else
               not isinstance(a, int) and not isinstance(b, int) and structural_equal(a, b)
               for a, b in zip(self.strides, row_major_strides(self.shape))):
            return product(self.shape)
        span = 1
        for extent, stride in zip(self.shape, self.strides):
            span = binary(BinaryOp.ADD, span, mul(binary(BinaryOp.SUB, extent, 1), stride))
        return binary(BinaryOp.MAX, span, 0)  # an empty dimension leaves nothing to store

    def __repr__(self) -> str:
        return f"Buffer({self.name}: {self.dtype}{list(self.shape)}, {self.scope.value})"
