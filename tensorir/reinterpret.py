"""TVM's ``tir.reinterpret(dtype, value)``: the bits of ``value`` read as ``dtype``.

A ``Call(Func.REINTERPRET, (value,), dtype)``: the interpreter packs and unpacks the bytes, LLVM
bitcasts, CUDA C copies the bytes (``memcpy``). Both types have the same width; bool (one bit
in registers, a byte in memory) and float16 (which the CUDA source computes in float32) are
refused, naming the types that work.
"""

from __future__ import annotations

from .dtypes import DType
from .errors import DefinitionError
from .expr import Call, Expr, Func

#: the types reinterpret takes and gives
BIT_TYPES = frozenset(DType) - {DType.BOOL, DType.FLOAT16}


def reinterpret_bits(dtype: DType, value: Expr) -> Expr:
    """``value``'s bits as ``dtype`` (``value`` itself when the types are equal)."""
    who = f"reinterpret({dtype}, {value})"
    for side in (value.dtype, dtype):
        if side not in BIT_TYPES:
            raise DefinitionError(f"{who}: {side} is not supported; reinterpret between integer types and "
                                  "float32/float64 of one width, e.g. reinterpret('int32', x) of a float32 x")
    if value.dtype.bits != dtype.bits:
        raise DefinitionError(f"{who}: {value.dtype} has {value.dtype.bits} bits, {dtype} {dtype.bits}; reinterpret "
                              f"keeps the bits, so pick a type of {value.dtype.bits} bits (or convert with "
                              f".astype('{dtype}'))")
    if value.dtype is dtype:
        return value
    return Call(Func.REINTERPRET, (value,), dtype)
