"""LLVM types of Nestor's scalar types, in memory and in registers."""

from __future__ import annotations

from llvmlite import ir

from tensorir.dtypes import DType

F16, F32, F64 = ir.HalfType(), ir.FloatType(), ir.DoubleType()
I1, I8, I16, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
VOID = ir.VoidType()
I8P = I8.as_pointer()

#: how an element is stored in a buffer (bool as a byte, like numpy)
STORAGE = {DType.FLOAT32: F32, DType.FLOAT64: F64, DType.INT32: I32, DType.INT64: I64, DType.BOOL: I8}
#: how a value lives in a register
VALUE = {DType.FLOAT32: F32, DType.FLOAT64: F64, DType.INT32: I32, DType.INT64: I64, DType.BOOL: I1}
SIZE = {DType.FLOAT32: 4, DType.FLOAT64: 8, DType.INT32: 4, DType.INT64: 8, DType.BOOL: 1}
# the types beyond the first release's: unsigned integers live in the same registers as signed
# ones (the instructions differ), float16 as half
for _dtype, _ty in ((DType.INT8, I8), (DType.INT16, I16), (DType.UINT8, I8), (DType.UINT16, I16),
                    (DType.UINT32, I32), (DType.UINT64, I64), (DType.FLOAT16, F16)):
    STORAGE[_dtype] = VALUE[_dtype] = _ty
    SIZE[_dtype] = _dtype.numpy.itemsize


def i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)
