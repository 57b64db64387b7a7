"""Reductions fused with their elementwise producers: one kernel with the values numpy gives,
live members stored as extra outputs, kernels shared by structure and batch size, gradients
match finite differences, errors come at the call, and ``lazy(False)`` is the eager path."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch, fusion, lazy
from tensorir.errors import DefinitionError

from .helpers import gradient_check

#: (ours, numpy's) reductions of elementwise chains of ``x`` and a broadcast row ``b``
CASES = {
    "sum_of_squares": (lambda x, b: (x * b * (x * b)).sum(), lambda x, b: ((x * b) ** 2).sum()),
    "squared_error_mean": (lambda x, b: ((x - b) ** 2).mean(), lambda x, b: ((x - b) ** 2).mean()),
    "max_rows_keepdims": (lambda x, b: (x * 2.0 + b).tanh().max(-1, keepdims=True),
                          lambda x, b: np.tanh(x * 2.0 + b).max(-1, keepdims=True)),
    "sum_columns": (lambda x, b: (x * b + 1.0).exp().sum(0), lambda x, b: np.exp(x * b + 1.0).sum(0)),
    "mean_rows": (lambda x, b: (x.sigmoid() * b).mean(1), lambda x, b: (b / (1 + np.exp(-x))).mean(1)),
    "empty_axes": (lambda x, b: (x + b).sum(()), lambda x, b: (x + b).sum(())),
}


def _run(fn, *arrays, dtype="float64"):
    tensors = [nf.Tensor(np.asarray(a, dtype=dtype), requires_grad=False) for a in arrays]
    dispatch.stats.reset()
    values = fn(*tensors).numpy()
    return values, dispatch.stats.calls


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_reduction_of_a_chain_is_one_kernel_with_numpys_values(name):
    rng = np.random.default_rng(1)
    x, b = rng.standard_normal((6, 8)), rng.standard_normal(8)
    ours, theirs = CASES[name]
    values, calls = _run(ours, x, b)
    np.testing.assert_allclose(values, theirs(x, b), rtol=1e-12)
    assert calls == 1
    with lazy(False):
        eager, eager_calls = _run(ours, x, b)
    np.testing.assert_allclose(eager, values, rtol=1e-12)
    assert eager_calls > 1


def test_softmax_denominator_is_two_kernels_instead_of_four():
    # the max of x (its own kernel), then exp(x - max) summed in one kernel
    x = np.random.default_rng(2).standard_normal((5, 7)).astype(np.float32)
    values, calls = _run(lambda t: (t - t.max(1, keepdims=True)).exp().sum(1), x, dtype="float32")
    np.testing.assert_allclose(values, np.exp(x - x.max(1, keepdims=True)).sum(1), rtol=1e-5)
    assert calls == 2
    with fusion.fusion(False):
        _, eager_calls = _run(lambda t: (t - t.max(1, keepdims=True)).exp().sum(1), x, dtype="float32")
    assert eager_calls == 4


@pytest.mark.parametrize("axes", [0, 1, 2, -1, -2, (0, 2), (1, 2), (0, 1, 2), None])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("kind", ["sum", "max", "mean"])
def test_any_axes_and_keepdims(kind, axes, keepdims):
    rng = np.random.default_rng(3)
    x, c = rng.standard_normal((3, 4, 5)), rng.standard_normal((4, 1))
    values, calls = _run(lambda t, u: getattr((t * u).exp() - t, kind)(axes, keepdims), x, c)
    want = getattr(np.exp(x * c) - x, kind)(axis=axes, keepdims=keepdims)
    assert values.shape == want.shape
    np.testing.assert_allclose(values, want, rtol=1e-12)
    assert calls == 1


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_sum_and_max(dtype):
    rng = np.random.default_rng(4)
    x, b = rng.integers(-50, 50, (6, 9)), rng.integers(-5, 5, 9)
    for kind in ("sum", "max"):
        values, calls = _run(lambda t, u, kind=kind: getattr(t * u - t, kind)(1), x, b, dtype=dtype)
        want = getattr((x * b - x).astype(dtype), kind)(1)  # numpy's dtypes: a sum of int32 is int64
        assert values.dtype == want.dtype == np.dtype("int64" if kind == "sum" else dtype) and calls == 1
        np.testing.assert_array_equal(values, want)
    values, _ = _run(lambda t, u: (t * u).mean(0), x, b, dtype=dtype)
    assert values.dtype == np.float64  # numpy's (and needle's) mean of integers, as the eager one
    np.testing.assert_allclose(values, (x * b).mean(0), rtol=1e-6)


def test_a_member_used_elsewhere_is_an_extra_output_of_the_same_kernel():
    rng = np.random.default_rng(5)
    x, b = rng.standard_normal((4, 6)), rng.standard_normal(6)
    xt, bt = nf.Tensor(x, requires_grad=False), nf.Tensor(b, requires_grad=False)
    dispatch.stats.reset()
    shifted = (xt - bt).tanh()  # kept by the user
    total = (shifted * shifted).sum(1)
    np.testing.assert_allclose(total.numpy(), (np.tanh(x - b) ** 2).sum(1), rtol=1e-12)
    assert shifted._lazy is None and dispatch.stats.calls == 1  # stored by the reduction's kernel
    np.testing.assert_allclose(shifted.numpy(), np.tanh(x - b), rtol=1e-12)
    assert dispatch.stats.calls == 1
    (request,) = [r for r in dispatch.cache.kernels if r.op == "fused_reduce" and len(r.params[1]) == 2
                  and [key[0] for key, _ in r.params[0]] == ["subtract", "tanh", "multiply", "sum"]]
    assert len(request.variant[2]) == 1  # one extra output before the reduction


def test_max_keeps_its_input_for_the_gradient():
    x = np.random.default_rng(6).standard_normal((3, 5))
    xt = nf.Tensor(x, requires_grad=True)
    top = (xt * 2.0).max(1)
    top.numpy()
    (pending_input,) = top.inputs
    assert pending_input._lazy is None  # stored: max's gradient reads it
    total = (xt * 3.0).sum(1)
    total.numpy()
    assert total.inputs[0]._lazy is not None  # not stored: sum's gradient reads only its shape


#: (ours, numpy's) elementwise groups that read reductions of their own shape: one kernel, a
#: stage per reduction, then the elementwise stage
TWO_STAGE = {
    "center_rows": (lambda t: t * 2.0 - (t * 2.0).sum(1, keepdims=True) / 6.0,
                    lambda x: 2 * x - (2 * x).sum(1, keepdims=True) / 6.0),
    "softmax": (lambda t: (t - t.max(1, keepdims=True)).exp() / (t - t.max(1, keepdims=True)).exp().sum(1, True),
                lambda x: np.exp(x - x.max(1, keepdims=True)) / np.exp(x - x.max(1, keepdims=True)).sum(1, None, None,
                                                                                                      True)),
    "center_columns_no_keepdims": (lambda t: t - t.mean(0), lambda x: x - x.mean(0)),
    "normalize": (lambda t: (t - t.mean(-1, keepdims=True)) / ((t - t.mean(-1, keepdims=True)) ** 2
                                                                 ).mean(-1, keepdims=True) ** 0.5,
                  lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(((x - x.mean(-1, keepdims=True)) ** 2
                                                                        ).mean(-1, keepdims=True))),
}


@pytest.mark.parametrize("name", sorted(TWO_STAGE))
def test_elementwise_ops_reading_reductions_of_their_shape_are_one_kernel(name):
    x = np.random.default_rng(7).standard_normal((5, 6))
    ours, theirs = TWO_STAGE[name]
    values, calls = _run(ours, x)
    np.testing.assert_allclose(values, theirs(x), rtol=1e-12)
    assert calls == 1
    with lazy(False):
        eager, _ = _run(ours, x)
    np.testing.assert_allclose(eager, values, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(TWO_STAGE))
def test_gradients_through_reduction_stages_match_finite_differences(name):
    x = np.random.default_rng(12).standard_normal((3, 4))
    gradient_check(TWO_STAGE[name][0], x)


def test_a_reduction_of_another_shape_runs_first():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 6))
    values, calls = _run(lambda t: (t * t).sum(1).sum(), x)
    np.testing.assert_allclose(values, (x * x).sum(), rtol=1e-12)
    assert calls == 2
    values, calls = _run(lambda t: (t * 2.0).sum(1) * 3.0, x)  # (5,) from (5, 6): not of the root's shape
    np.testing.assert_allclose(values, (2 * x).sum(1) * 3.0, rtol=1e-12)
    assert calls == 2
    values, calls = _run(lambda t: t - t.sum(1), np.ones((6, 6)))  # the last axis reduced, not broadcast by it
    np.testing.assert_allclose(values, np.ones((6, 6)) - 6.0, rtol=1e-12)
    assert calls == 2


def test_a_reduction_stage_used_elsewhere_is_an_output_and_kernels_are_shared_across_batches():
    rng = np.random.default_rng(13)
    center = lambda t: t - t.max(1, keepdims=True)  # noqa: E731
    center(nf.Tensor(rng.standard_normal((16, 80)), requires_grad=False)).numpy()
    dispatch.stats.reset()
    for batch in (9, 4):
        x = rng.standard_normal((batch, 80))
        t = nf.Tensor(x, requires_grad=False)
        top = t.max(1, keepdims=True)
        out = t - top
        np.testing.assert_allclose(out.numpy(), x - x.max(1, keepdims=True), rtol=1e-12)
        assert top._lazy is None  # held by a variable: stored by the same kernel
        np.testing.assert_array_equal(top.numpy(), x.max(1, keepdims=True))
    assert dispatch.stats.calls == 2 and dispatch.stats.compiled == 1  # the kernel with the extra output
    x = rng.integers(-9, 9, (7, 5))
    values, calls = _run(lambda t: t * 2 - t.max(0), x, dtype="int64")
    np.testing.assert_array_equal(values, x * 2 - x.max(0))
    assert calls == 1


def test_equal_structures_share_a_kernel_across_batch_sizes_models_and_axes():
    rng = np.random.default_rng(8)
    loss = lambda y, t: ((y - t) ** 2).mean()  # noqa: E731
    y, t = rng.standard_normal((16, 10)), rng.standard_normal((16, 10))
    _run(loss, y, t)
    dispatch.stats.reset()
    for batch in (9, 5, 3):
        y, t = rng.standard_normal((batch, 10)), rng.standard_normal((batch, 10))
        tensors = nf.Tensor(y, requires_grad=False), nf.Tensor(t, requires_grad=False)
        np.testing.assert_allclose(loss(*tensors).numpy(), ((y - t) ** 2).mean(), rtol=1e-12)
    assert dispatch.stats.compiled == 0 and dispatch.stats.calls == 3
    # a sum of rows: the batch is kept; a reduction over axis 1 of a (b, 10, 1) tensor is the same kernel
    rows = lambda x, w: (x * w).relu().sum(1)  # noqa: E731
    _run(rows, rng.standard_normal((12, 10)), rng.standard_normal(10))
    dispatch.stats.reset()
    x, w = rng.standard_normal((7, 10, 1)), rng.standard_normal((10, 1))
    values, calls = _run(rows, x, w)
    np.testing.assert_allclose(values, np.maximum(x * w, 0).sum(1), rtol=1e-12)
    assert dispatch.stats.compiled == 0 and calls == 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_through_fused_reductions_match_finite_differences(name):
    rng = np.random.default_rng(9)
    x, b = rng.standard_normal((3, 4)) * 0.5, rng.standard_normal(4) * 0.5
    gradient_check(CASES[name][0], x, b)


def test_gradient_of_a_softmax_denominator_and_of_gradients():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 5))
    gradient_check(lambda t: (t - t.max(1, keepdims=True)).exp().sum(1).log(), x)
    t = nf.Tensor(x, requires_grad=True)
    (g,) = nf.grad(((t * t).sum(1) * t.sum(1)).sum(), [t], create_graph=True)
    (g * g).sum().backward()
    s, q = x.sum(1, keepdims=True), (x * x).sum(1, keepdims=True)
    want_g = 2 * x * s + q
    np.testing.assert_allclose(g.numpy(), want_g, rtol=1e-12)
    # d/dx sum((2 x s + q)^2): through x directly, through s and through q
    h = 2 * want_g
    want = 2 * s * h + (2 * x * h).sum(1, keepdims=True) + 2 * x * h.sum(1, keepdims=True)
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-10)


def test_errors_come_at_the_call():
    x = nf.Tensor(np.ones((2, 3)))
    y = x * 2.0
    with pytest.raises(DefinitionError, match="sum: axis 2 is out of range for a tensor of 2 dimensions"):
        y.sum(2)
    with pytest.raises(DefinitionError, match=r"max: axis \(1, -1\) lists an axis twice"):
        y.max((1, -1))
    empty = nf.Tensor(np.ones((0, 3))) * 2.0
    with pytest.raises(DefinitionError, match=r"mean: the input of shape \(0, 3\) is empty; a reduction "
                                              "needs every dimension positive"):
        empty.mean(0)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32"])
def test_a_long_inner_reduction_in_vector_lanes_across_batch_sizes(dtype):
    # an inner reduced axis of 128: 16 partial results per row in one vector, then summed
    rng = np.random.default_rng(11)
    rows = lambda x, w: (x * w - w).max(1) + (x * w).sum(1)  # noqa: E731
    make = (lambda *s: rng.integers(-9, 9, s)) if dtype == "int32" else (lambda *s: rng.standard_normal(s))
    _run(rows, make(24, 128), make(128), dtype=dtype)
    dispatch.stats.reset()
    for batch in (7, 3):
        x, w = make(batch, 128), make(128)
        values, _ = _run(rows, x, w, dtype=dtype)
        want = (x * w - w).max(1) + (x * w).sum(1)
        np.testing.assert_allclose(values, want.astype(dtype), rtol=1e-5 if dtype == "float32" else 1e-12)
    assert dispatch.stats.compiled == 0
    request = next(r for r in dispatch.cache.kernels if r.op == "fused_reduce" and r.variant[1] == ("K", "R")
                   and r.variant[0][1] == 128 and r.dtypes[0] == dtype and r.params[0][-1][0][0] == "sum")
    kernel = dispatch.cache.kernels[request]
    assert "<16 x" in kernel.module.source  # the sum's partial results are one vector


def _softmax(t):
    e = (t - t.max(1, keepdims=True)).exp()
    return e / e.sum(1, keepdims=True)


def test_a_member_read_by_a_stage_and_after_it_is_stored_once():
    x = np.random.default_rng(14).standard_normal((4, 7))
    values, calls = _run(_softmax, x)
    want = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(values, want / want.sum(1, keepdims=True), rtol=1e-12)
    assert calls == 1
    (request,) = [r for r in dispatch.cache.kernels if r.op == "fused" and len(r.params[0]) == 5
                  and r.params[0][0][0][0] == "max" and r.variant[-1] == (4, 1)]
    # the sum's stage and the division both read the exp (member 2): computed once, stored
    assert request.params[1] == (2, 4)
