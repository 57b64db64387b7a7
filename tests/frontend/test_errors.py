"""Each misuse gives a NestorError naming the op, the shapes or values, and a way out."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import nn, ops
from tensorir.errors import BackendUnavailable, DefinitionError, NestorError


def t(*shape, dtype="float32"):
    return nf.Tensor(np.ones(shape, dtype=dtype))


def raises(message: str):
    return pytest.raises(DefinitionError, match=message)


def test_matmul_shapes_do_not_align():
    with raises(r"matmul: shapes \(3, 4\) and \(5, 6\) do not align: 4 != 5"):
        ops.matmul(t(3, 4), t(5, 6))


def test_matmul_needs_two_dimensions():
    with raises(r"matmul: operands need at least 2 dimensions, got shapes \(4,\) and \(4, 2\)"):
        ops.matmul(t(4), t(4, 2))


def test_matmul_batches_do_not_broadcast():
    with raises(r"matmul: batch shapes of \(2, 3, 4\) and \(3, 4, 5\) cannot broadcast"):
        ops.matmul(t(2, 3, 4), t(3, 4, 5))


def test_elementwise_shapes_do_not_broadcast():
    with raises(r"add: shapes \(3, 4\) and \(5,\) cannot broadcast: dimension 4 != 5"):
        t(3, 4) + t(5)


def test_reshape_to_another_size():
    with raises(r"reshape: cannot reshape shape \(3, 4\) \(12 elements\) to \(5,\)"):
        t(3, 4).reshape(5)


def test_broadcast_to_an_incompatible_shape():
    with raises(r"broadcast_to: cannot broadcast shape \(3,\) to \(4, 5\)"):
        ops.broadcast_to(t(3), (4, 5))


def test_transpose_with_a_bad_permutation():
    with raises(r"transpose: axes \(0, 0\) are not a permutation"):
        t(2, 3).transpose(0, 0)


def test_index_out_of_range():
    with raises("getitem: index 5 is out of range for axis 0 of extent 3"):
        t(3, 4)[5]


def test_unsupported_index():
    with raises("getitem: index None is not supported"):
        t(3, 4)[None]


def test_reduction_axis_out_of_range():
    with raises("sum: axis 2 is out of range for a tensor of 2 dimensions"):
        t(3, 4).sum(2)


def test_stack_of_different_shapes():
    with raises("stack: tensors have different shapes"):
        ops.stack([t(2), t(3)])


def test_conv2d_groups_do_not_fit():
    with raises(r"conv2d: input shape \(1, 4, 5, 5\) and weight shape \(6, 3, 3, 3\) do not fit groups=2"):
        ops.conv2d(t(1, 4, 5, 5), t(6, 3, 3, 3), groups=2)


def test_conv2d_needs_4d():
    with raises("conv2d: input and weight must be 4-D"):
        ops.conv2d(t(4, 5, 5), t(6, 4, 3, 3))


def test_conv2d_kernel_larger_than_input():
    with raises("conv2d: a 5x5 kernel .* does not fit the 3x3 input padded by 0"):
        ops.conv2d(t(1, 1, 3, 3), t(1, 1, 5, 5))


def test_conv2d_negative_padding():
    with raises("conv2d: padding must be a non-negative int, got -1"):
        ops.conv2d(t(1, 1, 3, 3), t(1, 1, 3, 3), padding=-1)


def test_pool_window_larger_than_input():
    with raises(r"max_pool2d: a 4x4 window does not fit the input of shape \(1, 1, 3, 3\)"):
        ops.max_pool2d(t(1, 1, 3, 3), 4)


def test_pool_needs_4d():
    with raises(r"avg_pool2d: input must be 4-D \(N, C, H, W\), got shape \(3, 3\)"):
        ops.avg_pool2d(t(3, 3))


def test_backward_without_requires_grad_is_needles_one_node_graph():
    # needle's meaning: an op on constants is a constant, whose graph is itself: it gets the adjoint
    x = nf.Tensor(np.ones(2), requires_grad=False)
    total = x.sum()
    total.backward()
    assert x.grad is None and total.grad.numpy() == 1.0


def test_backward_out_grad_must_be_a_tensor_of_the_shape():
    y = nf.Tensor(np.ones((2, 2))) * 2
    with raises(r"backward: out_grad is a ndarray, not a Tensor; wrap it: Tensor\(out_grad"):
        y.backward(np.ones((2, 2)))
    with raises(r"backward: out_grad has shape \(3, 2\) but the tensor has \(2, 2\); give an adjoint"):
        y.backward(nf.Tensor(np.ones((3, 2))))
    with raises(r"grad: out_grad is a list, not a Tensor"):
        nf.grad(y, [y], [[1.0, 1.0], [1.0, 1.0]])


def test_item_of_many_elements():
    with raises(r"item: the tensor has shape \(2,\)"):
        t(2).item()


def test_unsupported_dtype():
    with raises("Tensor: dtype complex128 is not supported"):
        nf.Tensor(np.ones(2, dtype=np.complex128))


def test_unknown_device():
    with raises("Tensor\\(device='tpu'\\): unknown device"):
        nf.Tensor([1.0], device="tpu")


def test_softmax_loss_shapes():
    with raises(r"softmax_loss: logits \(4, 3\) and labels \(5,\) do not fit"):
        nn.SoftmaxLoss()(t(4, 3), t(5, dtype="int32"))


def test_cuda_without_a_gpu_is_backend_unavailable():
    try:
        from backends.cuda.runtime import driver

        driver()
    except BackendUnavailable:
        with pytest.raises(BackendUnavailable, match="Tensor\\(device='cuda'\\)"):
            nf.Tensor([1.0], device="cuda")
    else:
        pytest.skip("a GPU is present")


def test_every_error_is_a_nestor_error():
    assert issubclass(DefinitionError, NestorError)
