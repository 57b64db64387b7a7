"""LLVM types of Nestor's scalar types, in memory and in registers."""

from __future__ import annotations

from llvmlite import ir

from tensorir.dtypes import DType

F32, F64 = ir.FloatType(), ir.DoubleType()
I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
VOID = ir.VoidType()
I8P = I8.as_pointer()

#: how an element is stored in a buffer (bool as a byte, like numpy)
STORAGE = {DType.FLOAT32: F32, DType.FLOAT64: F64, DType.INT32: I32, DType.INT64: I64, DType.BOOL: I8}
#: how a value lives in a register
VALUE = {DType.FLOAT32: F32, DType.FLOAT64: F64, DType.INT32: I32, DType.INT64: I64, DType.BOOL: I1}
SIZE = {DType.FLOAT32: 4, DType.FLOAT64: 8, DType.INT32: 4, DType.INT64: 8, DType.BOOL: 1}


def i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)
