"""needle's ``TensorTupleOp``: a program's own op with several outputs (``compute`` returns a tuple
of arrays, ``gradient`` receives the TensorTuple of the parts' adjoints), needle's TensorTuple sum,
and ``sum_node_list`` over TensorTuples. Values against numpy, gradients against central
differences."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.errors import DefinitionError

from .needle_checks import gradient_check
from .needle_shim import ndl


class SumAndProduct(ndl.autograd.TensorTupleOp):
    """``(a + b, a * b)``, as a needle program writes an op with two outputs."""

    def compute(self, a, b):
        return a + b, a * b

    def gradient(self, out_grad, node):
        a, b = node.inputs
        g_sum, g_product = out_grad
        return g_sum + g_product * b, g_sum + g_product * a


class SplitAxis(ndl.autograd.TensorTupleOp):
    """needle's Split written by a program: the slices along ``axis``, gradient ``stack``."""

    def __init__(self, axis):
        self.axis = axis

    def compute(self, a):
        return tuple(np.take(a, k, axis=self.axis) for k in range(a.shape[self.axis]))

    def gradient(self, out_grad, node):
        return ndl.ops.stack(out_grad, self.axis)


def test_a_tuple_op_gives_a_tensor_tuple_with_needles_node_fields():
    a, b = np.random.randn(3, 4), np.random.randn(3, 4)
    x, y = ndl.Tensor(a), ndl.Tensor(b)
    t = SumAndProduct()(x, y)
    assert isinstance(t, ndl.TensorTuple) and len(t) == 2
    assert isinstance(t.op, ndl.autograd.TensorTupleOp) and t.inputs == (x, y) and repr(t.op) == "SumAndProduct()"
    np.testing.assert_allclose(t[0].numpy(), a + b, rtol=1e-14)
    np.testing.assert_allclose(t[1].numpy(), a * b, rtol=1e-14)
    np.testing.assert_allclose(t.realize_cached_data()[1].numpy(), a * b, rtol=1e-14)
    assert [part.shape for part in t.tuple()] == [(3, 4), (3, 4)]


def test_the_program_gradient_runs_once_with_every_parts_adjoint():
    a, b = np.random.randn(3, 4), np.random.randn(3, 4)
    gradient_check(lambda x, y: (lambda t: t[0] * 2.0 + t[1])(SumAndProduct()(x, y)),
                   ndl.Tensor(a), ndl.Tensor(b))


def test_an_unused_part_has_a_zero_adjoint():
    a, b = np.random.randn(2, 3), np.random.randn(2, 3)
    x, y = ndl.Tensor(a), ndl.Tensor(b)
    SumAndProduct()(x, y)[1].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), b, rtol=1e-14)
    np.testing.assert_allclose(y.grad.numpy(), a, rtol=1e-14)


def test_a_programs_split_differentiates_through_stack():
    a = np.random.randn(3, 4)
    parts = SplitAxis(1)(ndl.Tensor(a))
    assert len(parts) == 4 and all(part.shape == (3,) for part in parts)
    np.testing.assert_allclose(parts[2].numpy(), a[:, 2], rtol=1e-14)
    gradient_check(lambda x: (lambda p: p[0] * p[2] + p[3])(SplitAxis(1)(x)), ndl.Tensor(a))


def test_without_gradients_the_tuple_has_no_node():
    t = SumAndProduct()(ndl.Tensor(np.ones(2), requires_grad=False), ndl.Tensor(np.ones(2), requires_grad=False))
    assert t.op is None and t.inputs == () and not t[0].requires_grad


def test_needles_tuple_sum_is_part_by_part_and_sum_node_list_takes_tuples():
    x, y = ndl.Tensor(np.array([1.0, 2.0])), ndl.Tensor(np.array([3.0, 5.0]))
    total = ndl.autograd.sum_node_list([ndl.make_tuple(x, y), ndl.make_tuple(y, x)])
    assert isinstance(total, ndl.TensorTuple) and len(total) == 2
    np.testing.assert_allclose(total[0].numpy(), [4.0, 7.0])
    np.testing.assert_allclose(total[1].numpy(), [4.0, 7.0])
    assert len(ndl.make_tuple(x) + (y,)) == 2  # a plain tuple still concatenates
    with pytest.raises(DefinitionError, match=r"TensorTuple \+ TensorTuple: 1 parts and 2 parts; add TensorTuples "
                                              r"of equally many parts"):
        ndl.make_tuple(x) + ndl.make_tuple(x, y)


class GivesOneArray(ndl.autograd.TensorTupleOp):
    def compute(self, a):
        return a * 2


class GivesMixedDtypes(ndl.autograd.TensorTupleOp):
    def compute(self, a):
        return a, (a > 0).astype(np.int64)


class GivesBooleanPart(ndl.autograd.TensorTupleOp):
    def compute(self, a):
        return (a, a > 0)


class WrongGradientCount(SumAndProduct):
    def gradient(self, out_grad, node):
        return out_grad[0]


@pytest.mark.parametrize("op, message", [
    (GivesOneArray(), r"GivesOneArray.compute returned one array; a TensorTupleOp's compute returns a tuple of "
                      r"arrays, one per output \(use TensorOp for one output\)"),
    (GivesMixedDtypes(), r"GivesMixedDtypes.compute returned outputs of dtypes float64, int64; the outputs of one "
                         r"TensorTupleOp share a dtype: astype them to one"),
    (GivesBooleanPart(), r"GivesBooleanPart.compute returned bool values as output 1; return arrays of one of "
                         r"float32, float64, int32, int64 \(astype\)"),
])
def test_a_bad_compute_is_refused_naming_the_op(op, message):
    with pytest.raises(DefinitionError, match=message):
        op(ndl.Tensor(np.ones(3)))


def test_a_gradient_with_too_few_adjoints_is_refused():
    t = WrongGradientCount()(ndl.Tensor(np.ones(2)), ndl.Tensor(np.ones(2)))
    with pytest.raises(DefinitionError, match=r"WrongGradientCount.gradient returned 1 adjoints for 2 inputs; "
                                              r"return one per input \(None where an input has none\)"):
        t[0].sum().backward()


# -- TensorTuples as inputs: needle's Stack takes make_tuple(*tensors) --------------------------------
class StackTuple(ndl.autograd.TensorOp):
    """needle's Stack as a program writes it: one TensorTuple input, the adjoint a TensorTuple."""

    def __init__(self, axis):
        self.axis = axis

    def compute(self, parts):
        assert isinstance(parts, tuple)
        return np.stack(parts, axis=self.axis)

    def gradient(self, out_grad, node):
        assert isinstance(node.inputs[0], ndl.TensorTuple)
        return ndl.ops.split(out_grad, self.axis)


class ScaleParts(ndl.autograd.TensorTupleOp):
    """A TensorTuple and a Tensor in, a TensorTuple out: each part times ``c``."""

    def compute(self, parts, c):
        return tuple(part * c for part in parts)

    def gradient(self, out_grad, node):
        parts, c = node.inputs
        return (ndl.make_tuple(*[g * c for g in out_grad]),
                sum((g * p).sum() for g, p in zip(out_grad, parts)).reshape((1,)))


def test_a_tensor_op_takes_a_tensor_tuple_and_returns_its_adjoint_as_one():
    a, b = np.random.randn(2, 3), np.random.randn(2, 3)
    out = StackTuple(1)(ndl.make_tuple(ndl.Tensor(a), ndl.Tensor(b)))
    np.testing.assert_allclose(out.numpy(), np.stack([a, b], axis=1), rtol=1e-14)
    assert isinstance(out.inputs[0], ndl.Tensor)  # the graph holds the parts
    gradient_check(lambda x, y: StackTuple(1)(ndl.make_tuple(x, y)) * ndl.Tensor(np.arange(12.0).reshape(2, 2, 3)),
                   ndl.Tensor(a), ndl.Tensor(b))


def test_a_tuple_op_takes_a_tensor_tuple_and_a_tensor():
    a, b, c = np.random.randn(3), np.random.randn(2), np.random.randn(1)
    scaled = ScaleParts()(ndl.make_tuple(ndl.Tensor(a), ndl.Tensor(b)), ndl.Tensor(c))
    np.testing.assert_allclose(scaled[1].numpy(), b * c, rtol=1e-14)
    assert isinstance(scaled.inputs[0], ndl.TensorTuple) and len(scaled.inputs[0]) == 2
    gradient_check(lambda x, y, z: (lambda t: t[0].sum() * 2.0 + (t[1] * t[1]).sum())(
        ScaleParts()(ndl.make_tuple(x, y), z)), ndl.Tensor(a), ndl.Tensor(b), ndl.Tensor(c))


class BadTupleAdjoint(StackTuple):
    def gradient(self, out_grad, node):
        return (out_grad, out_grad, out_grad)


def test_an_adjoint_of_the_wrong_arity_for_a_tuple_input_is_refused():
    out = BadTupleAdjoint(0)(ndl.make_tuple(ndl.Tensor(np.ones(2)), ndl.Tensor(np.ones(2))))
    with pytest.raises(DefinitionError, match=r"BadTupleAdjoint.gradient returned 3 adjoints for 1 inputs; return "
                                              r"one per input \(None where an input has none\)"):
        out.sum().backward()
