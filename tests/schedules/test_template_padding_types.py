"""The templates' zero-padded copies pad with a zero of the data's own type
(``fn.value_or_zero``): a literal ``0.0`` is typed float32 as TVM types literals, which made an
integer product's padded copy -- and so its output -- float32."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from schedules.templates.conv_nchwc import conv2d_nchwc
from schedules.templates.matmul_cpu import matmul_cpu
from tensorir import functions as fn
from tensorir.dtypes import DType
from tensorir.tensor import placeholder


@pytest.mark.parametrize("dtype", ["int32", "int64", "float16", "float64"])
def test_value_or_zero_keeps_the_value_type(dtype):
    A = placeholder((4,), dtype, name="A")
    i = ns.var("i", "int32")
    expr = fn.value_or_zero(i < 3, A[i])
    assert expr.dtype is DType(dtype)


@pytest.mark.parametrize("edge", ["pad", "guard"])
@pytest.mark.parametrize("b3", [None, 16])
def test_integer_matmul_with_partial_blocks_stays_integer(edge, b3):
    m, n, k = 20, 33, 40
    s, args = matmul_cpu(m, n, k, dtype="int32", b3=b3, edge=edge)
    assert all(t.dtype is DType.INT32 for t in args)
    rng = np.random.default_rng(0)
    a = rng.integers(-50, 50, (m, k)).astype(np.int32)
    b = rng.integers(-50, 50, (n, k)).astype(np.int32)
    c = np.zeros((m, n), np.int32)
    ns.build(s, args, target="llvm")(a, b, c)
    np.testing.assert_array_equal(c, a @ b.T)


def test_integer_blocked_conv_with_partial_channel_blocks_stays_integer():
    s, args = conv2d_nchwc(1, 5, 6, 6, 16, 3, padding=1, ic_block=4, dtype="int32")
    assert all(t.dtype is DType.INT32 for t in args)
