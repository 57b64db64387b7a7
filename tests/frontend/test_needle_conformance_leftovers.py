"""needle conformance, the leftovers: reduction dtypes and axes, the entry of ``backward``, the
Tensor's operators, the initialisers' signatures and draws, and the modules' bookkeeping, each
written as a needle program would be and checked against numpy (values, dtypes, seeded draws)
or central differences (gradients)."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.errors import DefinitionError

from .needle_checks import gradient_check
from .needle_shim import ndl


def _ints(dtype: str, shape=(3, 4)) -> np.ndarray:
    return np.random.default_rng(0).integers(-20, 20, shape).astype(dtype)


# -- 1. reductions: dtypes as numpy's, axes as needle's -----------------------------------------
@pytest.mark.parametrize("dtype", ["int32", "int64", "float32", "float64"])
@pytest.mark.parametrize("axes", [None, 0, (1,), (0, 1), -1, (-1, 0)])
def test_summation_dtype_and_axes_as_numpy(dtype, axes):
    a = _ints(dtype)
    for got in (ndl.summation(ndl.Tensor(a), axes=axes), ndl.Tensor(a).sum(axes)):
        want = np.sum(a, axis=axes)
        assert got.dtype == want.dtype.name and got.numpy().dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32"])
def test_max_keeps_the_dtype(dtype):
    a = _ints(dtype)
    got = ndl.Tensor(a).max(1)
    assert got.dtype == dtype and got.numpy().dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got.numpy(), a.max(1))


def test_summation_over_no_axes_is_the_tensor_and_its_gradient_ones():
    a = np.random.randn(3, 4)
    got = ndl.summation(ndl.Tensor(a), axes=())
    assert got.shape == (3, 4)
    np.testing.assert_array_equal(got.numpy(), np.sum(a, axis=()))
    gradient_check(ndl.summation, ndl.Tensor(a), axes=())


@pytest.mark.parametrize("axes", [(-1,), (0, -1), -2])
def test_summation_with_negative_axes_gradients(axes):
    gradient_check(ndl.summation, ndl.Tensor(np.random.randn(2, 3, 4)), axes=axes)


@pytest.mark.parametrize("axes", [None, (0,), (1,), (2,), (0, 2), (-1,), -1, (0, 1, 2)])
def test_logsumexp_axes_as_needle(axes):
    a = np.random.randn(2, 3, 4) * 3
    got = ndl.logsumexp(ndl.Tensor(a), axes=axes)
    want = np.log(np.sum(np.exp(a), axis=axes))
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    gradient_check(ndl.logsumexp, ndl.Tensor(a), axes=axes)


def test_int32_sum_has_its_gradient_path_free_of_the_widening():
    # the widening cast is inside the graph of a float computation only through its values
    x = ndl.Tensor(np.random.randn(3, 4))
    counts = ndl.Tensor(_ints("int32"), requires_grad=False)
    total = ndl.summation(counts, axes=(1,))
    assert total.dtype == "int64" and not total.requires_grad
    loss = (x * 2).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 4), 2.0))


def test_broadcast_to_and_reshape_with_minus_one():
    a = np.random.randn(1, 3)
    got = ndl.broadcast_to(ndl.Tensor(a), (4, -1))
    np.testing.assert_array_equal(got.numpy(), np.broadcast_to(a, (4, 3)))
    got = ndl.broadcast_to(ndl.Tensor(a), (2, 4, -1))
    assert got.shape == (2, 4, 3)
    gradient_check(lambda t: ndl.broadcast_to(t, (5, -1)), ndl.Tensor(a))
    b = np.random.randn(2, 3, 4)
    for shape in ((-1, 4), (6, -1), (-1,), (2, -1, 2)):
        np.testing.assert_array_equal(ndl.reshape(ndl.Tensor(b), shape).numpy(), b.reshape(shape))
    gradient_check(lambda t: ndl.reshape(t, (-1, 2)), ndl.Tensor(b))
    with pytest.raises(DefinitionError, match=r"broadcast_to: extent -1 at axis 0 of \(-1, 1, 3\) is a new axis "
                                              r"of the input of shape \(1, 3\), which has no extent to keep"):
        ndl.broadcast_to(ndl.Tensor(a), (-1, 1, 3))


# -- 2. backward's entry and the Tensor's operators ---------------------------------------------
def test_backward_of_a_constant_gives_it_the_adjoint_alone():
    x = ndl.Tensor(np.ones((2, 2)), requires_grad=False)
    y = ndl.Tensor(np.ones((2, 2)), requires_grad=False)
    z = x * y + x  # an op on two no-grad tensors is a constant: no op, no inputs
    assert not z.requires_grad and z.op is None and len(z.inputs) == 0 and z.is_leaf()
    z.backward(ndl.Tensor(np.full((2, 2), 3.0)))
    np.testing.assert_array_equal(z.grad.numpy(), np.full((2, 2), 3.0))
    assert x.grad is None and y.grad is None
    x.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 2)))
    ndl.autograd.compute_gradient_of_variables(y, ndl.Tensor(np.full((2, 2), 2.0)))
    np.testing.assert_array_equal(y.grad.numpy(), np.full((2, 2), 2.0))


def test_requires_grad_propagates_from_any_input():
    x, c = ndl.Tensor(np.ones(3)), ndl.Tensor(np.ones(3), requires_grad=False)
    assert (x + c).requires_grad and (c * x).requires_grad and not (c + c).requires_grad
    assert (x + c).op is not None and (c + c).op is None


@pytest.mark.parametrize(("out_grad", "message"), [
    (np.ones((2, 3)), r"backward: out_grad is a ndarray, not a Tensor; wrap it: Tensor\(out_grad"),
    (2.0, r"backward: out_grad is a float, not a Tensor"),
    (ndl.Tensor(np.ones((3, 2))), r"backward: out_grad has shape \(3, 2\) but the tensor has \(2, 3\); give an "
                                  r"adjoint of the tensor's shape"),
])
def test_a_bad_out_grad_is_refused_at_the_call(out_grad, message):
    x = ndl.Tensor(np.ones((2, 3)))
    with pytest.raises(DefinitionError, match=message):
        (x * 2).backward(out_grad)
    assert x.grad is None


def test_two_losses_of_one_graph():
    a = np.random.randn(3, 4)
    x = ndl.Tensor(a)
    h = ndl.exp(x)
    first, second = (h * 2).sum(), (h * h).sum()
    first.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(a), rtol=1e-12)
    second.backward()  # needle: each backward sets .grad anew; it does not add to the last one
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(2 * a), rtol=1e-12)
    (first + second).backward()  # both losses in one backward: their adjoints add
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(a) + 2 * np.exp(2 * a), rtol=1e-12)


def test_detach_and_data_are_the_same_values_without_grad():
    a = np.random.randn(2, 3).astype(np.float32)
    x = ndl.Tensor(a)
    y = x * 3
    for view in (y.detach(), y.data):
        assert not view.requires_grad and view.op is None and view.dtype == "float32"
        np.testing.assert_array_equal(np.asarray(view), a * np.float32(3))
        np.testing.assert_array_equal(view.numpy(), y.numpy())
    (y.detach() * x).sum().backward()  # the detached factor is a constant
    np.testing.assert_allclose(x.grad.numpy(), a * 3, rtol=1e-6)


def test_tensors_compare_by_identity_and_hash_as_objects():
    x, y = ndl.Tensor(np.ones(2)), ndl.Tensor(np.ones(2))
    assert x == x and x != y and not (x == y)  # noqa: PLR0124 - needle's Tensor has no __eq__ of values
    seen = {x: "x", y: "y"}
    assert seen[x] == "x" and seen[y] == "y" and len({x, x, y}) == 2


def test_operators_as_needle():
    a, b = np.random.randn(2, 3) + 3, np.random.randn(3, 2)
    x, w = ndl.Tensor(a), ndl.Tensor(b)
    cases = [
        (-x, -a), (x ** 2, a ** 2), (x ** 0.5, a ** 0.5), (5 - x, 5 - a), (2 / x, 2 / a), (x - 5, a - 5),
        (x / 4, a / 4), (3 * x, 3 * a), (1 + x, 1 + a), (x @ w, a @ b),
    ]
    for got, want in cases:
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    for f in (lambda t: t ** 2, lambda t: -t, lambda t: 5 - t, lambda t: 2 / t, lambda t: t ** 3):
        gradient_check(f, ndl.Tensor(a))
    gradient_check(lambda t, u: t @ u, x, w)


def test_transpose_swaps_the_two_given_axes():
    a = np.random.randn(2, 3, 4)
    for axes in ((0, 2), (2, 0), (0, 1), (1, 2)):
        want = np.swapaxes(a, *axes)
        np.testing.assert_array_equal(ndl.transpose(ndl.Tensor(a), axes).numpy(), want)
        np.testing.assert_array_equal(ndl.Tensor(a).transpose(axes).numpy(), want)
        np.testing.assert_array_equal(ndl.ops.Transpose(axes)(ndl.Tensor(a)).numpy(), want)
    np.testing.assert_array_equal(ndl.transpose(ndl.Tensor(a)).numpy(), np.swapaxes(a, 1, 2))
    gradient_check(lambda t: ndl.transpose(t, (0, 2)), ndl.Tensor(a))


# -- 3. initialisers: needle's signatures and seeded draws --------------------------------------
def _seeded(make, reference, seed=3):
    np.random.seed(seed)
    got = make()
    np.random.seed(seed)
    want = reference()
    np.testing.assert_array_equal(got.numpy(), np.asarray(want).astype(got.numpy().dtype))
    return got


def test_basic_initialisers_draw_as_needle():
    got = _seeded(lambda: ndl.init.rand(3, 4, low=-2.0, high=5.0, device=ndl.cpu(), dtype="float32",
                                        requires_grad=True), lambda: np.random.rand(3, 4) * 7.0 - 2.0)
    assert got.requires_grad and got.dtype == "float32"
    got = _seeded(lambda: ndl.init.randn(2, 5, mean=1.0, std=3.0), lambda: np.random.randn(2, 5) * 3.0 + 1.0)
    assert not got.requires_grad
    _seeded(lambda: ndl.init.randb(4, 6, p=0.3), lambda: np.random.rand(4, 6) <= 0.3)
    np.testing.assert_array_equal(ndl.init.constant(2, 3, c=-1.5).numpy(), np.full((2, 3), -1.5))
    ones, zeros = ndl.init.ones(2, 2, dtype="float64"), ndl.init.zeros(3)
    assert ones.dtype == "float64" and zeros.dtype == "float32" and not ones.requires_grad
    base = ndl.Tensor(np.ones((2, 3), dtype=np.float64))
    assert ndl.init.zeros_like(base).dtype == "float64" and ndl.init.ones_like(base).shape == (2, 3)
    np.testing.assert_array_equal(ndl.init.ones_like(base, requires_grad=True).numpy(), np.ones((2, 3)))


def test_one_hot_of_labels_of_any_shape():
    labels = np.array([[0, 3], [2, 2], [1, 0]])
    got = ndl.init.one_hot(4, ndl.Tensor(labels, requires_grad=False))
    np.testing.assert_array_equal(got.numpy(), np.eye(4)[labels])
    np.testing.assert_array_equal(ndl.init.one_hot(3, [2, 0]).numpy(), np.eye(3)[[2, 0]])


@pytest.mark.parametrize("name", ["xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"])
def test_fan_initialisers_draw_as_needle(name):
    fan_in, fan_out, gain = 6, 4, 1.5
    uniform = lambda bound, shape: np.random.rand(*shape) * 2 * bound - bound  # noqa: E731
    normal = lambda std, shape: np.random.randn(*shape) * std  # noqa: E731
    draws = {
        "xavier_uniform": lambda shape: uniform(gain * np.sqrt(6 / (fan_in + fan_out)), shape),
        "xavier_normal": lambda shape: normal(gain * np.sqrt(2 / (fan_in + fan_out)), shape),
        "kaiming_uniform": lambda shape: uniform(np.sqrt(2) * np.sqrt(3 / fan_in), shape),
        "kaiming_normal": lambda shape: normal(np.sqrt(2) / np.sqrt(fan_in), shape),
    }
    make = getattr(ndl.init, name)
    extra = {"gain": gain} if name.startswith("xavier") else {"nonlinearity": "relu"}
    got = _seeded(lambda: make(fan_in, fan_out, **extra), lambda: draws[name]((fan_in, fan_out)))
    assert got.shape == (fan_in, fan_out) and not got.requires_grad and got.dtype == "float32"
    shape = (1, 2, 3, fan_out)  # hw4's conv weight: fans given, the shape apart
    got = _seeded(lambda: make(fan_in, fan_out, shape=shape, **extra), lambda: draws[name](shape))
    assert got.shape == shape
    got = make(fan_in, fan_out, dtype="float64", requires_grad=True, **extra)
    assert got.dtype == "float64" and got.requires_grad


def test_needles_positional_shape_of_the_fan_initialisers():
    np.random.seed(0)
    got = ndl.init.kaiming_uniform(6, 4, (2, 3, 4), "relu")
    np.random.seed(0)
    want = np.random.rand(2, 3, 4) * 2 * np.sqrt(1.0) - np.sqrt(1.0)
    np.testing.assert_array_equal(got.numpy(), want.astype(np.float32))
    assert ndl.init.xavier_uniform(6, 4, (3, 8)).shape == (3, 8)
    assert ndl.init.xavier_uniform(6, 4, None, 2.0).shape == (6, 4)


# -- 4. modules ---------------------------------------------------------------------------------
class _Net(ndl.nn.Module):
    def __init__(self):
        super().__init__()
        self.first = ndl.nn.Linear(2, 3)
        self.blocks = [ndl.nn.Dropout(0.5), {"inner": ndl.nn.Sequential(ndl.nn.ReLU(), ndl.nn.Linear(3, 3))}]
        self.scale = ndl.nn.Parameter(ndl.Tensor(np.ones(3, dtype=np.float32)))
        self.shared = self.first  # one module twice: its parameters are listed once


def test_module_training_flags_recurse_into_lists_and_dicts():
    net = _Net()
    modules = net._children()
    assert [type(m).__name__ for m in modules] == ["Linear", "Dropout", "Sequential", "ReLU", "Linear", "Linear"]
    assert net.training and all(m.training for m in modules)
    net.eval()
    assert not net.training and not any(m.training for m in modules)
    net.train()
    assert net.training and all(m.training for m in modules)
    seq = ndl.nn.Sequential(ndl.nn.ReLU(), ndl.nn.Sequential(ndl.nn.Tanh()))
    assert [type(m).__name__ for m in seq._children()] == ["ReLU", "Sequential", "Tanh"]


def test_parameters_in_needles_order_each_once():
    net = _Net()
    params = net.parameters()
    inner = net.blocks[1]["inner"].modules[1]
    want = [net.first.weight, net.first.bias, inner.weight, inner.bias, net.scale]
    assert len(params) == len(want) and all(p is w for p, w in zip(params, want))
    assert all(isinstance(p, ndl.nn.Parameter) and isinstance(p, ndl.Tensor) and p.requires_grad for p in params)


def test_an_empty_sequential_is_the_identity():
    a = np.random.randn(2, 3)
    np.testing.assert_array_equal(ndl.nn.Sequential()(ndl.Tensor(a)).numpy(), a)
    assert ndl.nn.Sequential().parameters() == []


def test_dropout_masks_are_needles_randb_draws():
    a = np.random.randn(5, 7).astype(np.float32)
    np.random.seed(0)
    layer = ndl.nn.Dropout(0.45)
    got = layer(ndl.Tensor(a)).numpy()
    np.random.seed(0)
    mask = ndl.init.randb(5, 7, p=1 - 0.45).numpy()  # needle: randb(p=1-p), then x * mask / (1-p)
    np.testing.assert_allclose(got, a * mask / (1 - 0.45), rtol=1e-6)
    np.random.seed(0)
    np.testing.assert_array_equal(mask, (np.random.rand(5, 7) <= 0.55).astype(np.float32))
    layer.eval()
    np.testing.assert_array_equal(layer(ndl.Tensor(a)).numpy(), a)


def test_dropout_masks_match_needles_float64_draw_at_the_threshold():
    # seed 25 draws one sample of 1e6 within float32 rounding of 1 - 0.45: compared in float32 it
    # would be kept where needle (float64) drops it
    p, n = 0.45, 1_000_000
    np.random.seed(25)
    drawn = np.random.rand(n)
    assert ((drawn.astype(np.float32) <= np.float32(1 - p)) != (drawn <= 1 - p)).sum() == 1
    np.random.seed(25)
    got = ndl.nn.Dropout(p)(ndl.Tensor(np.ones(n, dtype=np.float32))).numpy()
    np.testing.assert_array_equal(got != 0, drawn <= 1 - p)
    np.testing.assert_allclose(got[got != 0], 1 / (1 - p), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32", "float64"])
@pytest.mark.parametrize("axes", [None, 1, (0,), (-1, 0)])
def test_min_keeps_the_dtype_and_its_gradient_goes_to_the_minimum(dtype, axes):
    a = _ints(dtype)
    got = ndl.Tensor(a, requires_grad=False).min(axes)
    want = np.min(a, axis=axes)
    assert got.dtype == want.dtype.name and got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(ndl.ops.min(ndl.Tensor(a), axes=axes, keepdims=True).numpy(),
                                  np.min(a, axis=axes, keepdims=True))
    if dtype == "float64":
        gradient_check(lambda t: t.min(axes), ndl.Tensor(np.random.randn(3, 4)))


def test_dropout_of_zero_draws_its_mask_as_needle_so_later_draws_agree():
    a = np.random.randn(3, 4).astype(np.float32)
    np.random.seed(2)
    out = ndl.nn.Dropout(0.0)(ndl.Tensor(a))
    after = ndl.init.rand(5).numpy()
    np.testing.assert_array_equal(out.numpy(), a)
    np.random.seed(2)
    np.random.rand(3, 4)  # needle's randb(3, 4, p=1)
    np.testing.assert_array_equal(after, np.random.rand(5).astype(np.float32))
    np.random.seed(2)
    layer = ndl.nn.Dropout(0.0)
    layer.eval()
    layer(ndl.Tensor(a))  # in evaluation nothing is drawn
    np.testing.assert_array_equal(ndl.init.rand(5).numpy(), np.random.RandomState(2).rand(5).astype(np.float32))


def test_an_int32_leaf_gets_its_gradient_through_the_widened_sum():
    x = ndl.Tensor(np.arange(6, dtype=np.int32).reshape(2, 3))
    total = ndl.summation(x * 3, axes=(1,))
    assert total.dtype == "int64" and total.requires_grad
    total.backward()
    assert x.grad.dtype == "int32"  # the gradient has the leaf's dtype
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 3))


def test_an_integer_out_grad_of_a_float_tensor_is_taken_as_floats():
    x = ndl.Tensor(np.ones((2, 2), dtype=np.float32))
    (x * 2).backward(ndl.Tensor(np.full((2, 2), 3, dtype=np.int64)))
    assert x.grad.dtype == "float32"
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 6.0))


def test_a_constant_gradient_is_a_one_node_graph_too():
    x = ndl.Tensor(np.ones(3))
    total = (x * 2).sum()
    total.backward()
    gradient = x.grad  # 2 everywhere, made from the constant adjoint: it depends on nothing
    gradient.backward()
    np.testing.assert_array_equal(gradient.grad.numpy(), np.ones(3))
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 2.0))
