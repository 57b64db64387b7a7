"""Turn every buffer access into one flat element offset ``sum(index * stride)`` for backends."""

from __future__ import annotations

import dataclasses

from ..buffer import Buffer
from ..dtypes import INDEX, DType
from ..expr import BinaryOp, BufferLoad, Expr, binary, cast, const
from ..stmt import PrimFunc, Store
from ..visitor import Mutator

#: buffers with more elements than this get their offsets computed in 64 bits
INT32_OFFSET_LIMIT = 2**31 - 1


def flat_offset(buffer: Buffer, indices: tuple[Expr, ...]) -> Expr:
    """The element offset of ``buffer[indices]`` from the buffer's strides."""
    # a symbolic buffer's offsets are 32-bit: binding its size variables refuses larger sizes
    dtype = DType.INT64 if _size(buffer) > INT32_OFFSET_LIMIT else INDEX
    total: Expr | None = None
    for index, stride in zip(indices, buffer.strides):
        term = cast(index, dtype)
        if not isinstance(stride, int):
            term = binary(BinaryOp.MUL, term, cast(stride, dtype))
        elif stride != 1:
            term = binary(BinaryOp.MUL, term, const(stride, dtype))
        total = term if total is None else binary(BinaryOp.ADD, total, term)
    return total if total is not None else const(0, dtype)


def _size(buffer: Buffer) -> int:
    size = buffer.size
    return size if isinstance(size, int) else 0


class _Flatten(Mutator):
    def rewrite(self, node):
        if isinstance(node, (BufferLoad, Store)) and node.logical is None:
            flat = self.generic(node)  # the indices (and a stored value) flattened inside first
            return dataclasses.replace(flat, indices=(flat_offset(flat.buffer, flat.indices),),
                                       logical=flat.indices)
        return None


def flatten_buffers(func: PrimFunc) -> PrimFunc:
    """``func`` with each multi-dimensional access given its flat offset (accesses that are flat
    already are kept, so running it twice changes nothing)."""
    return _Flatten()(func)
