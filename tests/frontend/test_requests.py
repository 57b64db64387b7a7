"""Ops are stateless: a forward builds a frozen kernel request, and everything that makes the
kernel reads only the request, so one op object serves any shapes and layouts in any order."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch
from frontend.ops.elementwise import Add, ReLU
from frontend.ops.matmul import MatMul
from frontend.ops.reduce import Sum
from frontend.request import KernelRequest


def _tensor(rng, *shape):
    return nf.Tensor(rng.standard_normal(shape).astype(np.float32))


def test_a_request_is_frozen_hashable_and_names_its_key():
    request = KernelRequest("add_scalar", (1.0, False), ((7,),), ((7,),), ("float32",), "cpu")
    same = KernelRequest("add_scalar", (1.0, False), ((7,),), ((7,),), ("float32",), "cpu")
    assert request == same and hash(request) == hash(same) and {request: 1}[same] == 1
    assert request != dataclasses.replace(request, device="cuda")
    assert request.key == ("add_scalar", 1.0, False, (7,)) and request.kernel_name == "add_scalar"
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.shapes = ((8,),)


def test_one_unary_op_object_on_two_shapes_interleaved(rng):
    op = ReLU()
    small, large = _tensor(rng, 5, 7), _tensor(rng, 3, 4, 33)
    for _ in range(2):
        for x in (small, large):
            out = op(x)
            assert out.shape == x.shape
            np.testing.assert_array_equal(out.numpy(), np.maximum(x.numpy(), 0))
    assert op.key == ("relu",)


def test_one_broadcasting_op_object_on_two_shapes_interleaved(rng):
    op = Add()
    pairs = [(_tensor(rng, 3, 4), _tensor(rng, 4)), (_tensor(rng, 2, 3, 5), _tensor(rng, 2, 1, 5))]
    for _ in range(2):
        for a, b in pairs:
            np.testing.assert_allclose(op(a, b).numpy(), a.numpy() + b.numpy(), rtol=1e-6)


def test_one_reduction_op_object_on_two_shapes_interleaved(rng):
    op = Sum((1,), False)
    inputs = [_tensor(rng, 3, 40), _tensor(rng, 2, 5, 17)]
    for _ in range(2):
        for x in inputs:
            np.testing.assert_allclose(op(x).numpy(), x.numpy().sum(axis=1), rtol=1e-5)


def test_one_matmul_op_object_on_plain_transposed_and_dot_forms_interleaved(rng):
    op = MatMul()
    plain = (_tensor(rng, 37, 23), _tensor(rng, 23, 45))
    transposed_a = (_tensor(rng, 23, 37).transpose(), _tensor(rng, 23, 45))
    dot = (_tensor(rng, 70, 30), _tensor(rng, 30, 3))
    narrow = (_tensor(rng, 70, 30), _tensor(rng, 30, 5))
    before = len(dispatch.cache.kernels)
    for _ in range(2):
        for a, b in (plain, transposed_a, dot, narrow):
            out = op(a, b)
            np.testing.assert_allclose(out.numpy(), a.numpy() @ b.numpy(), rtol=1e-4, atol=1e-4)
    variants = {request.variant for request in list(dispatch.cache.kernels)[before:] if request.op == "matmul"}
    assert {(False, False), (True, False), ("dot",)} <= variants


def test_requests_of_one_signature_are_memoised(rng):
    op = ReLU()
    array = rng.standard_normal(11).astype(np.float32)
    assert op.request([array], "cpu") is op.request([array], "cpu")
    assert op.request([array], "cpu").variant == ()
