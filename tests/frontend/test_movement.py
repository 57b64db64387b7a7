"""flip, dilate/undilate, pad and negative-step slicing: values against numpy, gradients against
finite differences, and the error of each misuse."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import ops
from tensorir.errors import DefinitionError

from .helpers import gradient_check


@pytest.fixture
def data():
    return np.random.default_rng(3).standard_normal((3, 4, 5))


def _numpy_dilate(a, axes, dilation):
    shape = [n * (dilation + 1) if k in axes else n for k, n in enumerate(a.shape)]
    out = np.zeros(shape, a.dtype)
    out[tuple(slice(None, None, dilation + 1) if k in axes else slice(None) for k in range(a.ndim))] = a
    return out


@pytest.mark.parametrize("axes", [(0,), (1, 2), (0, 1, 2), (-1,)])
def test_flip(axes, data):
    np.testing.assert_array_equal(ops.flip(nf.Tensor(data), axes).numpy(), np.flip(data, axes))
    gradient_check(lambda x: ops.flip(x, axes), data)


@pytest.mark.parametrize("axes, dilation", [((0,), 1), ((1, 2), 2), ((2,), 0)])
def test_dilate_and_undilate(axes, dilation, data):
    dilated = ops.dilate(nf.Tensor(data), axes, dilation)
    np.testing.assert_array_equal(dilated.numpy(), _numpy_dilate(data, axes, dilation))
    np.testing.assert_array_equal(ops.undilate(dilated, axes, dilation).numpy(), data)
    gradient_check(lambda x: ops.dilate(x, axes, dilation), data)
    gradient_check(lambda x: ops.undilate(x, axes, dilation), data)


def test_undilate_of_an_extent_that_is_no_multiple():
    a = np.arange(7.0)
    np.testing.assert_array_equal(ops.undilate(nf.Tensor(a), (0,), 2).numpy(), a[::3])
    gradient_check(lambda x: ops.undilate(x, 0, 2), a)


def test_dilate_of_integers_keeps_the_dtype():
    out = ops.dilate(nf.Tensor(np.array([1, 2], dtype=np.int32)), (0,), 1)
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), [1, 0, 2, 0])


@pytest.mark.parametrize("widths, value", [(((1, 0), (0, 2), (3, 1)), 0.0), (((0, 0), (2, 2), (0, 0)), -1.5),
                                           ((1, 2), 4.0)])
def test_pad(widths, value, data):
    got = ops.pad(nf.Tensor(data), widths, value)
    np.testing.assert_array_equal(got.numpy(), np.pad(data, widths, constant_values=value))
    gradient_check(lambda x: ops.pad(x, widths, value), data)


@pytest.mark.parametrize("index", [np.s_[::-1], np.s_[:, ::-2, 1], np.s_[..., 4:0:-3], np.s_[2, 1:, ::-1],
                                   np.s_[::-1, 1:3, ::-2]])
def test_negative_step_slices(index, data):
    np.testing.assert_array_equal(nf.Tensor(data)[index].numpy(), data[index])
    gradient_check(lambda x: x[index], data)


def test_second_derivative_through_flip_and_pad(data):
    gradient_check(lambda x: ops.flip(ops.pad(x, (1, 1)), (0, 2)) * ops.flip(ops.pad(x, (1, 1)), (1,)), data)


def test_flip_axis_out_of_range():
    with pytest.raises(DefinitionError, match=r"flip: axis 3 is out of range for a tensor of 2 dimensions; use "
                                              r"integers from -2 to 1"):
        ops.flip(nf.Tensor(np.zeros((2, 2))), (3,))


def test_flip_axis_twice():
    with pytest.raises(DefinitionError, match=r"flip: axes \(0, -2\) name an axis twice"):
        ops.flip(nf.Tensor(np.zeros((2, 2))), (0, -2))


def test_dilation_must_be_a_non_negative_int():
    with pytest.raises(DefinitionError, match="dilate: dilation must be a non-negative int .*got -1"):
        ops.dilate(nf.Tensor(np.zeros(2)), (0,), -1)


@pytest.mark.parametrize("widths", [((1, 1), (1, 1), (1, 1)), ((1, -1), (0, 0)), "ab"])
def test_pad_widths_must_fit(widths):
    with pytest.raises(DefinitionError, match="pad: widths .* must be one \\(before, after\\) pair of non-negative "
                                              "ints per axis \\(2 pairs\\)"):
        ops.pad(nf.Tensor(np.zeros((2, 2))), widths)


def test_stack_and_split_have_needle_signatures(data):
    pieces = ops.split(nf.Tensor(data), 1)
    assert len(pieces) == 4
    np.testing.assert_array_equal(ops.stack(pieces, 2).numpy(), np.stack([data[:, k] for k in range(4)], 2))
    gradient_check(lambda x: ops.stack(ops.split(x, 1)[::-1], 0), data)


def test_pad_of_integers_needs_a_whole_value():
    with pytest.raises(DefinitionError, match="pad: value 0.5 is not a whole number but the tensor holds int32"):
        ops.pad(nf.Tensor(np.zeros(2, dtype=np.int32)), (1, 1), 0.5)
    np.testing.assert_array_equal(ops.pad(nf.Tensor(np.ones(2, dtype=np.int32)), (1, 0), 7).numpy(), [7, 1, 1])
