"""The lazy graph and the general elementwise fuser: chains run as one kernel with the values
numpy gives, live intermediates are extra outputs, dead ones are not stored, kernels are shared
by structure and batch size, gradients match finite differences, errors come at the call."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import frontend as nf
from frontend import data, dispatch, fusion, lazy, nn, optim
from frontend.training import ModelSpec, build_model, train_epoch
from tensorir.errors import DefinitionError

from .helpers import gradient_check

#: chains of 3 to 6 elementwise ops with broadcasting and Python numbers: (ours, numpy's)
CHAINS = {
    "scale_shift_tanh": (lambda x, b: (x * 2.0 + b).tanh(),
                         lambda x, b: np.tanh(x * 2.0 + b)),
    "sigmoid_times_input": (lambda x, b: ((x - b).sigmoid() * x) / (b * b + 1.0),
                            lambda x, b: 1 / (1 + np.exp(-(x - b))) * x / (b * b + 1.0)),
    "exp_log_relu": (lambda x, b: ((x * x + 1.0).log() - b).relu() + 0.5 * x,
                     lambda x, b: np.maximum(np.log(x * x + 1.0) - b, 0) + 0.5 * x),
    "powers": (lambda x, b: 3.0 - (x ** 2 + b.exp()) ** 0.5 * 2.0 / (1.0 + b * b),
               lambda x, b: 3.0 - np.sqrt(x ** 2 + np.exp(b)) * 2.0 / (1.0 + b * b)),
    "shared_operand": (lambda x, b: (x * b) * (x * b) + (x * b).tanh() - b,
                       lambda x, b: (x * b) ** 2 + np.tanh(x * b) - b),
}
#: operand shapes that broadcast: a column against a row, a bias row, a scalar-like tensor
SHAPES = [((4, 1, 5), (3, 1)), ((6, 8), (8,)), ((2, 3, 4), ()), ((5,), (5,))]


def _fused(fn, *arrays, dtype="float64"):
    """``fn`` on tensors of ``arrays``; the result's values and the kernels run to get them."""
    tensors = [nf.Tensor(np.asarray(a, dtype=dtype)) for a in arrays]
    dispatch.stats.reset()
    out = fn(*tensors)
    recorded = dispatch.stats.calls
    return out.numpy(), recorded, dispatch.stats.calls


@pytest.mark.parametrize("name", sorted(CHAINS))
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_a_chain_runs_as_one_kernel_with_numpy_values(name, shapes):
    ours, theirs = CHAINS[name]
    rng = np.random.default_rng(0)
    x, b = (rng.standard_normal(s) for s in shapes)
    values, recorded, calls = _fused(ours, x, b)
    np.testing.assert_allclose(values, theirs(x, b), rtol=1e-12, atol=1e-14)
    assert (recorded, calls) == (0, 1)
    with lazy(False):  # eagerly: one kernel per op
        eager, recorded, _ = _fused(ours, x, b)
    np.testing.assert_allclose(values, eager, rtol=1e-12, atol=1e-14)
    assert recorded >= 3


def test_float32_and_casts_fuse():
    rng = np.random.default_rng(1)
    x, b = rng.standard_normal((7, 9)).astype(np.float32), rng.standard_normal(9).astype(np.float32)
    values, _, calls = _fused(lambda x, b: ((x * b).astype("float64") + 1.0).exp().astype("float32") - x, x, b,
                              dtype="float32")
    want = (np.exp((x * b).astype(np.float64) + 1.0)).astype(np.float32) - x
    assert values.dtype == np.float32 and calls == 1
    np.testing.assert_allclose(values, want, rtol=1e-6)


def test_live_intermediates_are_extra_outputs_of_the_same_kernel():
    rng = np.random.default_rng(2)
    x, b = rng.standard_normal((5, 6)), rng.standard_normal(6)
    xt, bt = nf.Tensor(x, requires_grad=False), nf.Tensor(b, requires_grad=False)
    dispatch.cache.kernels.clear()  # (rebuilt from the compiled ones) to find this group's kernel
    dispatch.stats.reset()
    scaled = xt * 3.0 + bt  # kept by a variable: stored by the kernel that computes ``out``
    column = (bt * 2.0).exp()  # broadcast inside the group: an output of another shape
    out = (scaled.tanh() * column - 1.0) * xt
    np.testing.assert_allclose(out.numpy(), (np.tanh(3 * x + b) * np.exp(2 * b) - 1.0) * x, rtol=1e-12)
    assert dispatch.stats.calls == 1
    np.testing.assert_allclose(scaled.numpy(), 3 * x + b, rtol=1e-12)
    np.testing.assert_allclose(column.numpy(), np.exp(2 * b), rtol=1e-12)
    assert dispatch.stats.calls == 1
    (request,) = [r for r in dispatch.cache.kernels if r.op == "fused" and len(r.variant) == 3]
    assert sorted(request.variant) == [(1, 6), (5, 6), (5, 6)]


def test_dropped_intermediates_are_not_stored():
    rng = np.random.default_rng(3)
    xt = nf.Tensor(rng.standard_normal((4, 3)), requires_grad=False)
    first = xt * 2.0
    second = first + 1.0
    watch = [weakref.ref(first), weakref.ref(second)]
    out = second.tanh() * xt
    del first, second
    dispatch.cache.kernels.clear()
    dispatch.stats.reset()
    out.numpy()
    gc.collect()
    assert [ref() for ref in watch] == [None, None]
    (request,) = [r for r in dispatch.cache.kernels if r.op == "fused"]
    assert len(request.variant) == 1 and dispatch.stats.calls == 1


def test_values_kept_for_the_gradient_are_stored_others_not():
    xt = nf.Tensor(np.linspace(-1, 1, 6), requires_grad=True)
    dispatch.cache.kernels.clear()
    added = xt + 1.0   # add's gradient reads no value, tanh's reads its output
    out = (added * 2.0).tanh()
    del added
    out.numpy()
    (request,) = [r for r in dispatch.cache.kernels if r.op == "fused"]
    assert len(request.variant) == 1  # tanh's output is the root; the two scalings are not kept
    out.backward(nf.Tensor(np.ones(6)))
    np.testing.assert_allclose(xt.grad.numpy(), 2 * (1 - np.tanh(2 * (np.linspace(-1, 1, 6) + 1)) ** 2),
                               rtol=1e-12)


def _model(w, b):
    return lambda x: ((x * w + b).sigmoid() * 3.0 - x).exp()


def test_equal_structures_share_one_compiled_kernel():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 5))
    first = _model(nf.Tensor(rng.standard_normal(5)), nf.Tensor(rng.standard_normal(5)))
    first(nf.Tensor(x)).numpy()
    compiled = dispatch.stats.compiled
    w, b = rng.standard_normal(5), rng.standard_normal(5)
    second = _model(nf.Tensor(w), nf.Tensor(b))  # another model of the same structure, built later
    dispatch.stats.reset()
    np.testing.assert_allclose(second(nf.Tensor(x)).numpy(), np.exp(3 / (1 + np.exp(-(x * w + b))) - x),
                               rtol=1e-12)
    assert dispatch.stats.compiled == 0 and dispatch.stats.calls == 1
    assert compiled > 0
    other = lambda x: ((x * nf.Tensor(w) + nf.Tensor(b)).sigmoid() * 4.0 - x).exp()  # noqa: E731 - another constant
    other(nf.Tensor(x)).numpy()
    assert dispatch.stats.compiled == 1


def test_another_batch_size_compiles_nothing():
    rng = np.random.default_rng(5)
    w = nf.Tensor(rng.standard_normal(6))
    step = lambda x: ((x * w).tanh() + 1.0) * x  # noqa: E731
    step(nf.Tensor(rng.standard_normal((16, 6)))).numpy()
    dispatch.stats.reset()
    for batch in (9, 5, 2):
        x = rng.standard_normal((batch, 6))
        np.testing.assert_allclose(step(nf.Tensor(x)).numpy(), (np.tanh(x * w.numpy()) + 1.0) * x, rtol=1e-12)
    assert dispatch.stats.compiled == 0 and dispatch.stats.calls == 3


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_gradients_through_fused_chains_match_finite_differences(name):
    rng = np.random.default_rng(6)
    x, b = rng.standard_normal((3, 4)) * 0.5, rng.standard_normal(4) * 0.5
    gradient_check(CHAINS[name][0], x, b)


def _first_derivative(x):
    """d/dx of log(x^2 + 1) * sigmoid(x), in numpy."""
    s = 1 / (1 + np.exp(-x))
    return 2 * x / (x * x + 1) * s + np.log(x * x + 1) * s * (1 - s)


def test_second_derivatives_through_fused_chains():
    x = np.random.default_rng(7).standard_normal((3, 4))
    found = []
    for on in (True, False):
        with lazy(on):
            t = nf.Tensor(x, requires_grad=True)
            (g,) = nf.grad(((t * t + 1.0).log() * t.sigmoid()).sum(), [t], create_graph=True)
            np.testing.assert_allclose(g.numpy(), _first_derivative(x), rtol=1e-12)
            (g * g).sum().backward()
            found.append(t.grad.numpy())
    eps = 1e-6  # d/dx sum(f'(x)^2), elementwise, by central differences
    numeric = (_first_derivative(x + eps) ** 2 - _first_derivative(x - eps) ** 2) / (2 * eps)
    np.testing.assert_allclose(found[0], numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(found[0], found[1], rtol=1e-12)


def test_shape_and_dtype_errors_come_at_the_call():
    a, b = nf.Tensor(np.ones((2, 3))), nf.Tensor(np.ones((4, 3)))
    pending = a * 2.0
    with pytest.raises(DefinitionError, match=r"add: shapes \(2, 3\) and \(4, 3\) cannot broadcast: dimension 2 != 4"):
        pending + b
    from frontend.ops.elementwise import Add

    with pytest.raises(DefinitionError, match=r"add: dtypes float64 and float32 differ; convert one with "
                                              r"\.astype\(\.\.\.\)"):
        Add()(pending, nf.Tensor(np.ones(3, dtype=np.float32)))
    np.testing.assert_array_equal(pending.numpy(), np.full((2, 3), 2.0))


def test_assigning_storage_keeps_the_values_pending_ops_were_applied_to():
    w = nn.Parameter(np.array([1.0, 2.0, 3.0]))
    doubled = w * 2.0 + 1.0
    w.data = np.array([10.0, 20.0, 30.0])
    np.testing.assert_array_equal(doubled.numpy(), [3.0, 5.0, 7.0])
    np.testing.assert_array_equal((w * 2.0).numpy(), [20.0, 40.0, 60.0])


def test_reads_realize_shape_and_dtype_do_not():
    xt = nf.Tensor(np.arange(6.0).reshape(2, 3))
    dispatch.stats.reset()
    y = (xt - 1.0) * 2.0
    assert (y.shape, y.dtype, y.ndim, y.size, len(y)) == ((2, 3), "float64", 2, 6, 2)
    assert dispatch.stats.calls == 0
    assert repr(y).startswith("Tensor([[-2.  0.  2.]") and dispatch.stats.calls == 1
    assert ((xt * 0.0 + 5.0).sum()).item() == 30.0


def test_fusion_off_or_lazy_off_runs_at_once():
    xt = nf.Tensor(np.ones(4))
    for switch in (lazy(False), fusion.fusion(False)):
        dispatch.stats.reset()
        with switch:
            y = (xt + 1.0) * 2.0
            assert dispatch.stats.calls == 2
        np.testing.assert_array_equal(y.numpy(), np.full(4, 4.0))
    with fusion.fusion(False), lazy(True):  # the general fuser alone
        dispatch.stats.reset()
        y = (xt + 1.0) * 2.0
        assert dispatch.stats.calls == 0
        y.numpy()
        assert dispatch.stats.calls == 1


def test_a_long_chain_is_split_into_bounded_kernels():
    xt = nf.Tensor(np.linspace(0, 1, 5))
    y = xt
    for _ in range(300):
        y = y * 1.01 + 0.001
    dispatch.stats.reset()
    want = np.linspace(0, 1, 5)
    for _ in range(300):
        want = want * 1.01 + 0.001
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12)
    assert 600 / 64 <= dispatch.stats.calls <= 600 / 64 + 2


def test_empty_tensors_need_no_kernel():
    x, b = nf.Tensor(np.ones((0, 3))), nf.Tensor(np.ones(3))
    dispatch.stats.reset()
    y = (x * 2.0 + b).exp()
    assert y.numpy().shape == (0, 3) and y.dtype == "float64" and dispatch.stats.calls == 0


def test_no_grad_chain_records_no_graph():
    xt = nf.Tensor(np.ones(3), requires_grad=True)
    with nf.no_grad():
        y = (xt * 2.0).exp() - 1.0
    assert y.op is None and not y.requires_grad
    np.testing.assert_allclose(y.numpy(), np.exp(2.0) - 1.0)


def test_a_short_training_run_still_learns():
    train, _ = data.digits()
    loader = data.DataLoader(train.subset(slice(0, 256)), batch_size=32, shuffle=True, seed=0)
    model = build_model(ModelSpec("mlp", (1, 8, 8), hidden=32))
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    first = train_epoch(model, loader, optimizer).loss
    for _ in range(2):
        last = train_epoch(model, loader, optimizer).loss
    assert last < 0.5 * first


#: views as leaves: (ours, numpy's), read in place through their strides
VIEWS = {
    "column_slice": (lambda a: (a[:, 2:6] * 2.0 + 1.0).tanh(), lambda a: np.tanh(a[:, 2:6] * 2 + 1)),
    "transpose": (lambda a: (a.T * a.T.exp() - 1.0) * 3.0, lambda a: (a.T * np.exp(a.T) - 1) * 3),
    "strided_rows_and_columns": (lambda a: (a[1::2, ::3] * 2.0).exp() + a[::2, 1::3],
                                 lambda a: np.exp(a[1::2, ::3] * 2) + a[::2, 1::3]),
    "broadcast_slices": (lambda a: (a[:, 0:1] * 2.0 + a[0:1, :]) * a, lambda a: (a[:, 0:1] * 2 + a[0:1, :]) * a),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_strided_views_are_read_in_place(name):
    ours, theirs = VIEWS[name]
    a = np.random.default_rng(8).standard_normal((6, 8))
    values, recorded, calls = _fused(ours, a)
    np.testing.assert_allclose(values, theirs(a), rtol=1e-12)
    assert (recorded, calls) == (0, 1)


def test_a_view_with_negative_strides_is_copied_first():
    a = np.random.default_rng(8).standard_normal((6, 8))
    reversed_rows = nf.Tensor._wrap(a[::-1])  # a view over a's memory, read backwards (not handed out)
    dispatch.stats.reset()
    np.testing.assert_allclose(((reversed_rows * 2.0).exp() + 1.0).numpy(), np.exp(a[::-1] * 2) + 1, rtol=1e-12)
    assert dispatch.stats.calls == 1  # copied contiguous (as ``ops.contiguous`` does), then the fused chain


def test_gradients_through_sliced_gates():
    def cell(z, c):  # needle's LSTM cell written with slices of the gate pre-activations
        i, f, g, o = z[:, 0:3].sigmoid(), z[:, 3:6].sigmoid(), z[:, 6:9].tanh(), z[:, 9:12].sigmoid()
        c = f * c + i * g
        return o * c.tanh()

    rng = np.random.default_rng(9)
    z, c = rng.standard_normal((4, 12)), rng.standard_normal((4, 3))
    dispatch.stats.reset()
    cell(nf.Tensor(z), nf.Tensor(c)).numpy()
    assert dispatch.stats.calls == 1
    gradient_check(cell, z, c)
