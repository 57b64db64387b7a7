"""Which form a narrow product takes (frontend/ops/matmul.py): the template with its vectors
padded from DOT_MAX columns on, dot products of rows below that and for long reductions; values
against numpy, the epilogue's bias and activation, gradients against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch
from frontend.fusion_epilogue import affine
from frontend.ops.matmul import DOT, DOT_MAX, NARROW, TEMPLATE_TRANSPOSED_A, WHOLE_K_MAX, MatMul, narrow_on_template

from .helpers import gradient_check


def _variants(before: int) -> set:
    return {r.variant for r in list(dispatch.cache.kernels)[before:] if r.op.startswith("matmul")}


@pytest.mark.parametrize("n", [1, DOT_MAX - 1, DOT_MAX, 10, NARROW - 1])
def test_narrow_products_match_numpy_in_either_form(n):
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal((37, 29)).astype(np.float32), rng.standard_normal((29, n)).astype(np.float32)
    before = len(dispatch.cache.kernels)
    out = MatMul()(nf.Tensor(a), nf.Tensor(b))
    np.testing.assert_allclose(out.numpy(), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    assert _variants(before) == ({(False, False)} if n >= DOT_MAX else {DOT})


def test_narrow_on_template_keeps_dot_products_for_few_columns_and_long_reductions():
    assert narrow_on_template(256, 10) and narrow_on_template(WHOLE_K_MAX, DOT_MAX)
    assert not narrow_on_template(256, DOT_MAX - 1)
    assert not narrow_on_template(WHOLE_K_MAX + 1, 10)
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((8, WHOLE_K_MAX + 8)), rng.standard_normal((WHOLE_K_MAX + 8, 10))
    before = len(dispatch.cache.kernels)
    np.testing.assert_allclose(MatMul()(nf.Tensor(a), nf.Tensor(b)).numpy(), a @ b, rtol=1e-10)
    assert _variants(before) == {DOT}


def test_a_transposed_narrow_right_operand_is_not_read_as_stored():
    """Only a C-contiguous B goes to the template as is; W^T (a view) stays a dot product."""
    rng = np.random.default_rng(4)
    a, w = rng.standard_normal((16, 24)), rng.standard_normal((10, 24))
    before = len(dispatch.cache.kernels)
    out = MatMul()(nf.Tensor(a), nf.Tensor(w).transpose())
    np.testing.assert_allclose(out.numpy(), a @ w.T, rtol=1e-10)
    assert _variants(before) == {DOT}


@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
def test_a_narrow_affine_layer_folds_its_epilogue_and_differentiates(activation):
    """The MLP's last layer: 256 -> 10 with its bias (and an activation) in the template's kernel."""
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((12, 20)), rng.standard_normal((20, 10)), rng.standard_normal(10)
    act = {None: lambda z: z, "relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh}[activation]
    before = len(dispatch.cache.kernels)
    dispatch.stats.reset()
    out = affine(nf.Tensor(x), nf.Tensor(w), nf.Tensor(b), activation)
    np.testing.assert_allclose(out.numpy(), act(x @ w + b), rtol=1e-10, atol=1e-12)
    assert dispatch.stats.calls == 1  # no copy of the weight, no separate bias kernel
    assert _variants(before) == {(False, False, False)}
    gradient_check(lambda x, w, b: affine(x, w, b, activation), x, w, b)


@pytest.mark.parametrize("transposed", [False, True])
def test_plain_backward_of_a_product_matches_numpy_and_records_nothing(transposed):
    """A plain backward() runs the two adjoint products on the stored operands (no transpose op,
    no graph); the operand stored transposed gets its gradient in its own shape."""
    rng = np.random.default_rng(6)
    a_store, b, g = rng.standard_normal((9, 7)), rng.standard_normal((9, 11)), rng.standard_normal((7, 11))
    a = nf.Tensor(a_store)
    left = a.transpose() if transposed else nf.Tensor(a_store.T.copy())
    right = nf.Tensor(b)
    (left @ right).backward(nf.Tensor(g))
    source, expected = (a, b @ g.T) if transposed else (left, g @ b.T)
    np.testing.assert_allclose(source.grad.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(right.grad.numpy(), a_store @ g, rtol=1e-12)
    assert right.grad.op is None and not right.grad.requires_grad


def test_a_product_gradient_made_with_create_graph_differentiates_again():
    """create_graph=True keeps the recorded adjoint products: d/dx sum(dL/dw) for L = sum((x w)^2),
    i.e. of sum(2 x^T x w), against central differences."""
    rng = np.random.default_rng(7)
    xs, ws = rng.standard_normal((5, 6)), rng.standard_normal((6, 4))
    x, w = nf.Tensor(xs), nf.Tensor(ws)
    ((x @ w) * (x @ w)).sum().backward(create_graph=True)
    assert w.grad.requires_grad
    np.testing.assert_allclose(w.grad.numpy(), 2 * xs.T @ (xs @ ws), rtol=1e-12)
    w.grad.sum().backward()

    def f(xv):
        return float((2 * xv.T @ (xv @ ws)).sum())

    eps, numeric = 1e-6, np.zeros_like(xs)
    for idx in np.ndindex(xs.shape):
        step = np.zeros_like(xs)
        step[idx] = eps
        numeric[idx] = (f(xs + step) - f(xs - step)) / (2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fused", [True, False])
def test_a_needle_shaped_bias_runs_in_the_product_kernel_and_keeps_its_shape(fused):
    """nn.Linear's (1, out) bias goes to the fused product as is (no reshape op either way); its
    gradient has the bias's shape; fusion off gives the same values through the unfused ops."""
    from frontend import fusion, nn

    rng = np.random.default_rng(8)
    layer = nn.Linear(9, 6, dtype="float64", rng=rng)
    x = rng.standard_normal((5, 9))
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert b.shape == (1, 6)
    with fusion.fusion(fused):
        dispatch.stats.reset()
        out = nn.Sequential(layer, nn.Tanh())(nf.Tensor(x))
        calls = dispatch.stats.calls
        out.sum().backward()
    np.testing.assert_allclose(out.numpy(), np.tanh(x @ w + b), rtol=1e-12)
    assert layer.bias.grad.shape == (1, 6)
    np.testing.assert_allclose(layer.bias.grad.numpy(), (1 - np.tanh(x @ w + b) ** 2).sum(axis=0, keepdims=True),
                               rtol=1e-12)
    assert calls == (1 if fused else 3)  # matmul_bias_tanh; else matmul, add, tanh
    gradient_check(lambda x, w, b: affine(x, w, b, "relu"), x, w, b)


def test_short_and_narrow_reductions_are_not_unrolled():
    """v3 = 1 (half the compile time, as fast) for a reduction shorter than NARROW and for a
    narrow product up to ROLLED_K_MAX long; other whole-k products keep the unrolled default."""
    from frontend.ops.matmul import ROLLED_K_MAX

    op = MatMul()

    def unroll(a_shape, b_shape, variant=(False, False)):
        arrays = [np.zeros(a_shape, np.float32), np.zeros(b_shape, np.float32)]
        return op.default_config(op.request(arrays, "cpu", variant))["v3"]

    assert unroll((128, 256), (256, 10)) == 1  # the MLP's second layer
    assert unroll((128, 10), (256, 10), (False, True)) == 1  # its dZ @ W2^T
    assert unroll((128, ROLLED_K_MAX + 8), (ROLLED_K_MAX + 8, 10)) == 4
    assert unroll((128, 784), (784, 256)) == 4  # the first layer
    rng = np.random.default_rng(9)
    for a_shape, b_shape in (((33, 7), (7, 40)), ((21, 100), (100, 9))):
        a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
        np.testing.assert_allclose(MatMul()(nf.Tensor(a), nf.Tensor(b)).numpy(), a @ b, rtol=1e-10)


def test_a_narrow_layer_serves_every_batch_from_one_symbolic_kernel():
    """The narrow template's kernel takes a symbolic batch like the others: other batch sizes
    (odd ones too) compile nothing and match numpy, rows past the batch never written."""
    from frontend import nn

    rng = np.random.default_rng(10)
    layer = nn.Linear(24, 10, rng=rng)
    w, b = layer.weight.numpy().astype(np.float64), layer.bias.numpy().astype(np.float64)
    layer(nf.Tensor(rng.standard_normal((32, 24)).astype(np.float32)))
    compiled = dispatch.stats.compiled
    for batch in (13, 70, 5, 1):  # a batch of one may build a kernel of its own (as every op's)
        if batch == 1:
            assert dispatch.stats.compiled == compiled
        x = rng.standard_normal((batch, 24)).astype(np.float32)
        np.testing.assert_allclose(layer(nf.Tensor(x)).numpy(), x @ w + b, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not TEMPLATE_TRANSPOSED_A, reason="the matmul_cpu template has no transpose_a form here")
def test_weight_gradient_reads_x_transposed_on_the_template():
    """``X^T @ dZ`` (an MLP's weight gradient) runs on the template from X's storage: no copy
    kernel, one request of form (True, False) whose config says ``transpose_a``, the values those
    of numpy at several batch sizes (one symbolic kernel), and the plain backward agrees."""
    rng = np.random.default_rng(11)
    op, before = MatMul(), len(dispatch.cache.kernels)
    compiled = None
    for rows in (96, 96, 70, 131):
        x, g = rng.standard_normal((rows, 100)).astype(np.float32), rng.standard_normal((rows, 48)).astype(np.float32)
        dispatch.stats.reset()
        out = op.product_of(x.T, g, None, "cpu")
        assert dispatch.stats.calls == 1
        np.testing.assert_allclose(out, x.T.astype(np.float64) @ g, rtol=1e-4, atol=1e-4)
        compiled = dispatch.stats.compiled if compiled is None else compiled + dispatch.stats.compiled
    assert compiled == 1
    kernels = [k for r, k in list(dispatch.cache.kernels.items())[before:] if r.op == "matmul"]
    assert {k.request.variant for k in kernels} == {(True, False)} and all(k.config["transpose_a"] for k in kernels)
    xt = nf.Tensor(x, requires_grad=False)
    w = nf.Tensor(rng.standard_normal((100, 48)), requires_grad=True, dtype="float32")
    (xt @ w).backward(nf.Tensor(g))
    np.testing.assert_allclose(w.grad.numpy(), x.T.astype(np.float64) @ g, rtol=1e-4, atol=1e-4)
