"""``te.gradient`` as TVM's autodiff unit tests use it: a gradient of the sum of the output
(``head`` of ones), built with every input in the argument list whether it is read or not,
checked against central finite differences of the built forward (or against the known
gradient), plus the Jacobian (``head=None``), heads with a prefix, and gradients of gradients.
Convolutions, pooling and softmax are written as computes (no topi)."""

import numpy as np
import pytest

from .helpers import empty
from .te_shim import te, tvm

SHAPE = (10, 10)


def _shape(t):
    return tuple(int(d) for d in t.shape)


def _forward(out, inputs):
    module = tvm.build(te.create_schedule(out.op), [out] + inputs)

    def total(*arrays):
        result = empty(_shape(out), out.dtype)
        module(result, *arrays)
        return float(result.astype(np.float64).sum())
    return total


def derived(out, inputs, data, target="llvm"):
    """The gradients of ``sum(out)`` as TVM's check_grad builds them (every input an argument)."""
    ones = te.compute(out.shape, lambda *i: te.const(1.0, out.dtype), name="ones")
    grads = te.gradient(out, inputs, head=ones)
    s = te.create_schedule([g.op for g in grads])
    assert "jacobian" not in str(tvm.lower(s, list(grads) + inputs, simple_mode=True))
    results = [empty(_shape(x), g.dtype) for x, g in zip(inputs, grads)]
    tvm.build(s, list(grads) + inputs, target=target)(*results, *data)
    return results


def check_grad(out, inputs, data_range=(-10, 10), desired=None, seed=0, delta=1e-3, target="llvm"):
    inputs = inputs if isinstance(inputs, list) else [inputs]
    rng = np.random.default_rng(seed)
    data = [rng.uniform(*data_range, size=_shape(x)).astype(x.dtype) for x in inputs]
    got = derived(out, inputs, data, target)
    if desired is not None:
        for g, want in zip(got, desired):
            np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)
        return
    forward = _forward(out, inputs)
    wide = [d.astype(np.float64) for d in data]
    for position, (x, g) in enumerate(zip(wide, got)):
        numeric = np.zeros_like(x)
        for index in np.ndindex(x.shape):
            old = x[index]
            x[index] = old + delta
            plus = forward(*[w.astype(d.dtype) for w, d in zip(wide, data)])
            x[index] = old - delta
            minus = forward(*[w.astype(d.dtype) for w, d in zip(wide, data)])
            x[index] = old
            numeric[index] = (plus - minus) / (2 * delta)
        np.testing.assert_allclose(g, numeric, rtol=1e-2, atol=1e-2, err_msg=f"input {position}")


def _f64(shape, name):
    return te.placeholder(shape, name=name, dtype="float64")


@pytest.fixture
def A0():
    return _f64(SHAPE, "A0")


@pytest.fixture
def A1():
    return _f64(SHAPE, "A1")


def test_identity_sum_and_transpose_read(A0, A1):
    ones = np.ones(SHAPE)
    check_grad(te.compute(SHAPE, lambda i, j: A0[i, j], name="B"), [A0], desired=[ones])
    check_grad(te.compute(SHAPE, lambda i, j: A0[i, j] + A1[i, j], name="B"), [A0, A1], desired=[ones, ones])
    check_grad(te.compute(SHAPE, lambda i, j: A0[i, j] + A0[j, i], name="B"), [A0], desired=[2 * ones])


def test_an_input_the_output_does_not_read_gets_zeros_and_stays_an_argument(A0, A1):
    B = te.compute(SHAPE, lambda i, j: A0[i, j] * 3.0, name="B")
    check_grad(B, [A0, A1], desired=[np.full(SHAPE, 3.0), np.zeros(SHAPE)])


@pytest.mark.parametrize("fn", ["floor", "ceil", "trunc", "round"])
def test_rounding_functions_pass_no_gradient(A0, fn):
    check_grad(te.compute(SHAPE, lambda i, j: getattr(te, fn)(A0[i, j]), name="B"), A0, desired=[np.zeros(SHAPE)])


ELEMENTWISE = {
    "exp": (lambda A: lambda i, j: A[i, j] + te.exp(A[j, i]), (-3, 3)),
    "log_abs": (lambda A: lambda i, j: te.log(0.1 + te.abs(A[i, j] + te.exp(A[j, i]))), (-3, 3)),
    "sigmoid": (lambda A: lambda i, j: te.sigmoid(A[i, j] * A[i, j] * A[j, i]), (-1.5, 1.5)),
    "tanh": (lambda A: lambda i, j: te.tanh(A[i, j] * A[i, j] * A[j, i]), (-1.5, 1.5)),
    "sqrt": (lambda A: lambda i, j: te.sqrt(A[i, j] * A[i, j] * A[j, i]), (0.1, 10)),
    "power": (lambda A: lambda i, j: te.power(te.abs(A[i, j]), A[j, i]), (0.5, 2)),
    "product": (lambda A: lambda i, j: A[i, j] * A[j, i], (-10, 10)),
    "if_then_else": (lambda A: lambda i, j: te.if_then_else(A[i, j] > A[j, i], A[i, j] * A[i, j], 3.0 * A[j, i]),
                     (-3, 3)),
    "select": (lambda A: lambda i, j: tvm.tir.Select(i < j, te.exp(A[i, j]), A[j, i] / 2.0), (-2, 2)),
}


@pytest.mark.parametrize("case", sorted(ELEMENTWISE))
def test_elementwise_bodies_match_finite_differences(A0, case):
    body, data_range = ELEMENTWISE[case]
    check_grad(te.compute(SHAPE, body(A0), name="B"), A0, data_range=data_range)


def test_mixed_inputs_in_one_body(A0, A1):
    check_grad(te.compute(SHAPE, lambda i, j: A0[i, j] * (A1[j, i] + A0[j, i]), name="B"), [A0, A1])


def test_sum_of_products_of_a_tensor_and_its_transpose(A0):
    k = te.reduce_axis((0, 10), name="k")
    check_grad(te.compute((10,), lambda i: te.sum(A0[i, k] * A0[k, i], axis=k), name="B"), A0)
    check_grad(te.compute(SHAPE, lambda i, j: te.sum(A0[i, k] * A0[k, i] + 5, axis=k), name="B"), A0)


@pytest.mark.parametrize("reducer", ["max", "min"])
def test_max_and_min_pass_the_gradient_to_the_extreme_element(A0, reducer):
    k = te.reduce_axis((0, 10), name="k")
    B = te.compute(SHAPE, lambda i, j: getattr(te, reducer)(A0[i, k] * A0[k, j] + 5, axis=k), name="B")
    check_grad(B, A0)
    # the argmax rule directly: dA[i, k] counts the outputs whose extreme term is A[i, k] * 1
    C = te.compute((10,), lambda i: getattr(te, reducer)(A0[i, k], axis=k), name="C")
    a = np.random.default_rng(1).standard_normal(SHAPE)
    (got,) = derived(C, [A0], [a])
    want = np.zeros(SHAPE)
    want[np.arange(10), (a.argmax if reducer == "max" else a.argmin)(axis=1)] = 1.0
    np.testing.assert_array_equal(got, want)


def test_clamped_and_shifted_subscripts(A0):
    k = te.reduce_axis((0, 10), name="k")
    B = te.compute(SHAPE, lambda i, j: te.sum(A0[k, k] - A0[te.min(j + k, 9), j] * A0[i, k], axis=k), name="B")
    check_grad(B, A0)


SUBSCRIPTS = {
    "i_plus_k": ((10,), lambda A, k: lambda i: te.sum(A[i, k] * A[(i + k) % 10, k], axis=k)),
    "twice": ((5,), lambda A, k: lambda i: te.sum(A[i * 2, k] * A[i * 2 + 1, k], axis=k)),
    "half": ((20,), lambda A, k: lambda i: te.sum(A[i // 2, k] * te.exp(A[k, i // 2] / 10.0), axis=k)),
    "mod3": ((12,), lambda A, k: lambda i: te.sum(A[i % 3, k] * A[i % 3 + 3, k], axis=k)),
}


@pytest.mark.parametrize("case", sorted(SUBSCRIPTS))
def test_affine_and_quasi_affine_subscripts(A0, case):
    shape, body = SUBSCRIPTS[case]
    k = te.reduce_axis((0, 10), name="k")
    check_grad(te.compute(shape, body(A0, k), name="B"), A0, data_range=(-2, 2))


def test_a_user_product_reducer(A0):
    prod = te.comm_reducer(lambda x, y: x * y, lambda t: tvm.tir.const(1, t), name="prod")
    k = te.reduce_axis((0, 10), name="k")
    B = te.compute(SHAPE, lambda i, j: prod(A0[i, k] + A0[k, i], axis=k), name="B")
    check_grad(B, A0, data_range=(-1, 1))


def test_user_reducers_over_a_shifted_axis_with_a_condition():
    A = _f64((4, 8), "A")
    prod = te.comm_reducer(lambda x, y: x * y, lambda t: tvm.tir.const(1, t), name="prod")
    k = te.reduce_axis((2, 7), name="k")
    check_grad(te.compute((4,), lambda i: prod(A[i, k] + 0.5, axis=k, where=k != 4), name="P"), A, data_range=(-1, 1))
    logsumexp = te.comm_reducer(lambda x, y: te.log(te.exp(x) + te.exp(y)), lambda t: te.min_value(t), name="lse")
    r = te.reduce_axis((1, 6), name="r")
    check_grad(te.compute((4,), lambda i: logsumexp(A[i, r] * A[i, r], axis=r), name="L"), A, data_range=(-1, 1))


def test_a_reduction_with_init(A0):
    k = te.reduce_axis((0, 10), name="k")
    check_grad(te.compute((10,), lambda i: te.sum(A0[i, k] * A0[k, i], axis=k, init=0.0), name="B"), A0)
    check_grad(te.compute((10,), lambda i: te.max(A0[i, k], axis=k, init=-100.0), name="B"), A0)


def test_a_dot_product_of_two_intermediate_stages_to_a_scalar():
    X = _f64((10,), "X")
    A = te.compute((10,), lambda i: X[i] + X[9 - i], name="A")
    B = te.compute((10,), lambda i: X[i] * X[9 - i], name="B")
    r = te.reduce_axis((0, 10), name="r")
    check_grad(te.compute((), lambda: te.sum(A[r] * B[r], axis=r), name="Y"), X)


def _conv(X, W, stride, padding, dilation):
    n, c, h, w = _shape(X)
    f, _, kh, kw = _shape(W)
    P = te.compute((n, c, h + 2 * padding, w + 2 * padding), lambda b, ch, y, x: te.if_then_else(
        te.all(y >= padding, y < h + padding, x >= padding, x < w + padding),
        X[b, ch, y - padding, x - padding], te.const(0.0, X.dtype)), name="pad")
    oh = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ow = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    rc, ry, rx = te.reduce_axis((0, c), "rc"), te.reduce_axis((0, kh), "ry"), te.reduce_axis((0, kw), "rx")
    return te.compute((n, f, oh, ow), lambda b, o, y, x: te.sum(
        P[b, rc, y * stride + ry * dilation, x * stride + rx * dilation] * W[o, rc, ry, rx], axis=[rc, ry, rx]),
        name="conv")


@pytest.mark.parametrize("stride,padding,dilation,kernel", [
    (1, 1, 1, 3), (2, 0, 1, 2), (3, 0, 2, 2), (2, 1, 2, 3), (1, 0, 3, 1)])
def test_strided_dilated_padded_conv2d(stride, padding, dilation, kernel):
    X, W = _f64((1, 2, 7, 7), "X"), _f64((2, 2, kernel, kernel), "W")
    check_grad(_conv(X, W, stride, padding, dilation), [X, W], data_range=(-1, 1))


def test_conv_of_relu_of_conv():
    X, W, W1 = _f64((1, 2, 5, 5), "X"), _f64((3, 2, 3, 3), "W"), _f64((2, 3, 3, 3), "W1")
    R = _conv(X, W, 1, 1, 1)
    relu = te.compute(R.shape, lambda *i: te.max(R(*i), te.const(0.0, R.dtype)), name="relu")
    check_grad(_conv(relu, W1, 1, 0, 1), [X, W, W1], data_range=(-1, 1))


@pytest.mark.parametrize("window,stride", [(1, 1), (2, 2), (3, 2), (2, 3)])
def test_max_and_average_pooling(window, stride):
    X = _f64((1, 2, 8, 8), "X")
    out = (8 - window) // stride + 1
    ry, rx = te.reduce_axis((0, window), "ry"), te.reduce_axis((0, window), "rx")
    pooled = te.compute((1, 2, out, out), lambda b, c, y, x: te.max(
        X[b, c, y * stride + ry, x * stride + rx], axis=[ry, rx]), name="maxpool")
    check_grad(pooled, X)
    qy, qx = te.reduce_axis((0, window), "qy"), te.reduce_axis((0, window), "qx")
    average = te.compute((1, 2, out, out), lambda b, c, y, x: te.sum(
        X[b, c, y * stride + qy, x * stride + qx] / float(window * window), axis=[qy, qx]), name="avgpool")
    check_grad(average, X)


def _softmax(X, log=False):
    m, n = _shape(X)
    k1, k2 = te.reduce_axis((0, n), "k1"), te.reduce_axis((0, n), "k2")
    top = te.compute((m,), lambda i: te.max(X[i, k1], axis=k1), name="top")
    exps = te.compute((m, n), lambda i, j: te.exp(X[i, j] - top[i]), name="exps")
    total = te.compute((m,), lambda i: te.sum(exps[i, k2], axis=k2), name="total")
    if log:
        return te.compute((m, n), lambda i, j: X[i, j] - top[i] - te.log(total[i]), name="logsoftmax")
    return te.compute((m, n), lambda i, j: exps[i, j] / total[i], name="softmax")


def _weighted(S, weights):
    return te.compute(S.shape, lambda i, j: S[i, j] * weights[i, j], name="weighted")


def test_softmax_and_log_softmax_written_as_computes():
    X, W = _f64((3, 5), "X"), _f64((5, 5), "W")
    k = te.reduce_axis((0, 5), "k")
    dense = te.compute((3, 5), lambda i, j: te.sum(X[i, k] * W[j, k], axis=k), name="dense")
    weights = te.compute((3, 5), lambda i, j: te.sin(j * 1.0 + i), name="weights")  # softmax sums to one
    for log in (False, True):
        check_grad(_weighted(_softmax(dense, log), weights), [X, W], data_range=(-1, 1))


def test_the_jacobian_when_the_head_is_none():
    A = _f64((3, 4), "A")
    B = te.compute((4, 3), lambda i, j: A[j, i] * A[j, i], name="B")
    (J,) = te.gradient(B, [A])
    assert _shape(J) == (4, 3, 3, 4)
    a = np.random.default_rng(2).standard_normal((3, 4))
    got = empty((4, 3, 3, 4), "float64")
    tvm.build(te.create_schedule(J.op), [A, J])(a, got)
    want = np.zeros((4, 3, 3, 4))
    for i, j in np.ndindex(4, 3):
        want[i, j, j, i] = 2 * a[j, i]
    np.testing.assert_allclose(got, want)


def test_a_head_with_a_prefix_gives_one_gradient_per_row_of_heads():
    A = _f64((4,), "A")
    B = te.compute((4,), lambda i: te.exp(A[i]), name="B")
    H = _f64((2, 4), "H")
    (dA,) = te.gradient(B, [A], head=H)
    a, h = np.linspace(-1, 1, 4), np.arange(8.0).reshape(2, 4)
    got = empty((2, 4), "float64")
    tvm.build(te.create_schedule(dA.op), [A, H, dA])(a, h, got)
    np.testing.assert_allclose(got, h * np.exp(a))


def test_gradients_of_several_outputs_are_summed_by_the_caller():
    A = _f64((6,), "A")
    B = te.compute((6,), lambda i: A[i] * A[i], name="B")
    C = te.compute((6,), lambda i: te.sin(A[i]), name="C")
    ones = te.compute((6,), lambda i: te.const(1.0, "float64"), name="ones")
    (dB,), (dC,) = te.gradient(B, [A], ones), te.gradient(C, [A], ones)
    total = te.compute((6,), lambda i: dB[i] + dC[i], name="total")
    a = np.linspace(-2, 2, 6)
    got = empty((6,), "float64")
    tvm.build(te.create_schedule(total.op), [A, total])(a, got)
    np.testing.assert_allclose(got, 2 * a + np.cos(a))


def test_gradients_through_a_compute_with_several_outputs():
    A = _f64((5,), "A")
    B0, B1 = te.compute((5,), lambda i: (A[i] * 2.0, A[i] * A[i]), name="B")
    C = te.compute((5,), lambda i: B0[i] + te.sin(B1[i]), name="C")
    ones = te.compute((5,), lambda i: te.const(1.0, "float64"), name="ones")
    a = np.linspace(-1, 1, 5)
    for out, want in [(C, 2 + np.cos(a * a) * 2 * a), (B1, 2 * a), (B0, np.full(5, 2.0))]:
        (dA,) = te.gradient(out, [A], ones)
        got = empty((5,), "float64")
        tvm.build(te.create_schedule(dA.op), [A, dA])(a, got)
        np.testing.assert_allclose(got, want)
    check_grad(C, A, data_range=(-2, 2))


def test_the_gradient_of_a_gradient():
    A = _f64((5,), "A")
    B = te.compute((5,), lambda i: A[i] * A[i] * A[i] + te.exp(A[i]), name="B")
    ones = te.compute((5,), lambda i: te.const(1.0, "float64"), name="ones")
    (dA,) = te.gradient(B, [A], ones)
    (ddA,) = te.gradient(dA, [A], ones)
    a = np.linspace(-1, 1, 5)
    got = empty((5,), "float64")
    tvm.build(te.create_schedule(ddA.op), [A, ddA])(a, got)
    np.testing.assert_allclose(got, 6 * a + np.exp(a))


def test_the_derived_gradient_is_the_same_on_every_call(A0):
    k = te.reduce_axis((0, 10), name="k")
    R = te.compute(SHAPE, lambda i, j: te.sum(A0[i, k] * A0[k, j], axis=k), name="R")
    ones = te.compute(SHAPE, lambda i, j: te.const(1.0, "float64"), name="ones")

    def text():
        (g,) = te.gradient(R, [A0], head=ones)
        return str(tvm.lower(te.create_schedule(g.op), [A0, g], simple_mode=True))
    first = text()
    assert all(text() == first for _ in range(3))


def test_interp_computes_the_same_gradient(A0):
    k = te.reduce_axis((0, 10), name="k")
    B = te.compute(SHAPE, lambda i, j: te.max(A0[i, k] * A0[k, j], axis=k), name="B")
    a = np.random.default_rng(3).uniform(-1, 1, SHAPE)
    np.testing.assert_allclose(derived(B, [A0], [a], "interp")[0], derived(B, [A0], [a], "llvm")[0])


def test_a_tuple_reducer_is_refused_with_what_to_differentiate(A0):
    def combine(x, y):
        keep = x[1] >= y[1]
        return te.if_then_else(keep, x[0], y[0]), te.if_then_else(keep, x[1], y[1])

    argmax = te.comm_reducer(combine, lambda t0, t1: (tvm.tir.const(-1, t0), te.min_value(t1)), name="argmax")
    idx = te.placeholder((10, 10), name="idx", dtype="int32")
    k = te.reduce_axis((0, 10), name="k")
    T0, T1 = te.compute((10,), lambda i: argmax((idx[i, k], A0[i, k]), axis=k), name="T")
    with pytest.raises(te.DefinitionError, match=r"gradient of T: the tuple reducer argmax has no derived "
                       r"gradient \(an argmax's index has none\); differentiate a single-value reduction"):
        te.gradient(T1, [A0])
