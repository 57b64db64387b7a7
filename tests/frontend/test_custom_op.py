"""frontend.custom_op: user index expressions as differentiable ops, and derived gradients equal to
the hand-written ones of the frontend's ops."""

import numpy as np
import pytest

import frontend as nf
import nestor as ns
from frontend import dispatch
from frontend.lazy_graph import lazy

from .helpers import gradient_check


def stencil(a):
    return ns.compute((a.shape[0] - 2,), lambda i: a[i] + 2.0 * a[i + 1] + a[i + 2], name="B")


def scores(q, k):
    r = ns.reduce_axis(q.shape[1], "r")
    scale = 1.0 / np.sqrt(q.shape[1])
    return ns.compute((q.shape[0], k.shape[0]), lambda i, j: ns.sum(q[i, r] * k[j, r] * scale, axis=r), name="S")


def bilinear(x, w, z):
    i, j = ns.reduce_axis(x.shape[0], "i"), ns.reduce_axis(z.shape[0], "j")
    return ns.compute((1,), lambda o: ns.sum(x[i] * w[i, j] * z[j], axis=[i, j]), name="y")


def strided_conv(x, w):
    (n, c, h, wd), (k, _, kr, ks) = x.shape, w.shape
    stride, pad = 2, 1
    oh, ow = (h + 2 * pad - kr) // stride + 1, (wd + 2 * pad - ks) // stride + 1
    rc, rr, rs = ns.reduce_axis(c, "c"), ns.reduce_axis(kr, "r"), ns.reduce_axis(ks, "s")

    def body(b, kk, y, v):
        hy, hx = y * stride + rr - pad, v * stride + rs - pad
        inside = (hy >= 0) & (hy < h) & (hx >= 0) & (hx < wd)
        return ns.sum(ns.if_then_else(inside, x[b, rc, hy, hx], 0.0) * w[kk, rc, rr, rs], axis=[rc, rr, rs])

    return ns.compute((n, k, oh, ow), body, name="Y")


def test_forward_values_match_numpy():
    a = np.arange(7, dtype="float32")
    out = nf.custom_op(stencil)(nf.Tensor(a))
    np.testing.assert_allclose(out.numpy(), a[:-2] + 2 * a[1:-1] + a[2:])


@pytest.mark.parametrize("fn, shapes", [
    (scores, [(3, 4), (5, 4)]),
    (stencil, [(9,)]),
    (bilinear, [(3,), (3, 4), (4,)]),
    (strided_conv, [(1, 2, 6, 6), (2, 2, 3, 3)]),
])
def test_derived_gradients_match_finite_differences(fn, shapes):
    rng = np.random.default_rng(1)
    op = nf.custom_op(fn)
    gradient_check(lambda *ts: op(*ts), *[rng.standard_normal(s) for s in shapes])


def test_second_derivative_is_derived_too():
    def cube(a):
        return ns.compute(a.shape, lambda i: a[i] * a[i] * a[i], name="C")
    x = nf.Tensor(np.array([1.0, 2.0, -1.0]), requires_grad=True)
    (g,) = nf.grad(nf.custom_op(cube)(x).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    (gg,) = nf.grad(g.sum(), [x])
    np.testing.assert_allclose(gg.numpy(), 6 * x.numpy())


def test_custom_op_errors():
    with pytest.raises(ns.DefinitionError, match="custom_op: compute_fn must be a function"):
        nf.custom_op(3)
    op = nf.custom_op(stencil)
    with pytest.raises(ns.DefinitionError, match="custom_op stencil: input 0 is ndarray, not a frontend Tensor"):
        op(np.zeros(4))
    bad = nf.custom_op(lambda a: 1.0, name="bad")
    with pytest.raises(ns.DefinitionError, match=r"custom_op bad: the compute function returned 1.0; it must"):
        bad(nf.Tensor(np.zeros(4)))
    same = nf.custom_op(lambda a: a, name="same")
    with pytest.raises(ns.DefinitionError, match=r"custom_op same: the compute function returned Tensor\(in0"):
        same(nf.Tensor(np.zeros(4)))
    with pytest.raises(ns.DefinitionError, match=r"custom_op stencil: the compute function cannot take 2 inputs "
                                                 r"\(too many positional arguments\)"):
        op(nf.Tensor(np.zeros(4)), nf.Tensor(np.zeros(4)))


# -- derived == hand-written ---------------------------------------------------------------------
def _requests(monkeypatch):
    seen = []
    original = dispatch.cache.run

    def run(op, request, arrays):
        seen.append((op, request))
        return original(op, request, arrays)

    monkeypatch.setattr(dispatch.cache, "run", run)
    monkeypatch.setattr(dispatch.cache, "replays", {})  # a replayed forward would skip ``run``
    return seen


LABELS = nf.Tensor(np.array([0, 4, 2], dtype="int32"))
HAND_WRITTEN = {
    "add": (lambda a, b: a + b, [(3, 4), (4,)]),
    "subtract": (lambda a, b: a - b, [(3, 4), (3, 1)]),
    "multiply": (lambda a, b: a * b, [(3, 4), (3, 4)]),
    "divide": (lambda a, b: a / (b * b + 1.0), [(3, 4), (3, 4)]),
    "exp": (lambda a: nf.exp(a), [(5,)]),
    "log": (lambda a: nf.log(a * a + 1.0), [(5,)]),
    "tanh": (lambda a: nf.tanh(a), [(5,)]),
    "sigmoid": (lambda a: nf.sigmoid(a), [(5,)]),
    "relu": (lambda a: nf.relu(a), [(5,)]),
    "matmul": (lambda a, b: nf.matmul(a, b), [(3, 4), (4, 17)]),
    "conv2d": (lambda x, w: nf.conv2d(x, w, stride=2, padding=1), [(1, 2, 6, 6), (3, 2, 3, 3)]),
    "sum": (lambda a: nf.ops.summation(a, (1,)), [(3, 4)]),
    "max": (lambda a: nf.ops.maximum_over(a, (1,)), [(3, 4)]),
    "logsumexp": (lambda a: nf.logsumexp(a, (1,)), [(3, 4)]),
    "max_pool2d": (lambda x: nf.max_pool2d(x, 2), [(1, 2, 4, 4)]),
    "avg_pool2d": (lambda x: nf.avg_pool2d(x, 2), [(1, 2, 4, 4)]),
    "conv2d:dilated": (lambda x, w: nf.conv2d(x, w, padding=2, dilation=2), [(1, 2, 6, 6), (3, 2, 3, 3)]),
    "conv2d:groups": (lambda x, w: nf.conv2d(x, w, stride=2, groups=2), [(1, 4, 7, 7), (6, 2, 3, 3)]),
    "max_pool2d:overlapping": (lambda x: nf.max_pool2d(x, 3, stride=2), [(1, 2, 7, 7)]),
    "softmax_cross_entropy": (lambda z: nf.ops.softmax_cross_entropy(z, LABELS), [(3, 5)]),
    "stack": (lambda a, b: nf.stack([a, b], axis=1), [(3, 4), (3, 4)]),
    "power": (lambda a, b: nf.ops.power(a * a + 1.0, b), [(5,), (5,)]),
    "negative": (lambda a: -a, [(5,)]),
    "add_scalar": (lambda a: a + 2.0, [(5,)]),
    "mul_scalar": (lambda a: a * 3.0, [(5,)]),
    "div_scalar": (lambda a: 2.0 / (a * a + 1.0), [(5,)]),
    "pow_scalar": (lambda a: (a * a + 1.0) ** 1.5, [(5,)]),
    "relu_backward": (lambda g, x: _inner_grad(nf.relu, x, g), [(5,), (5,)]),
    "tanh_backward": (lambda g, x: _inner_grad(nf.tanh, x, g), [(5,), (5,)]),
    "sigmoid_backward": (lambda g, x: _inner_grad(nf.sigmoid, x, g), [(5,), (5,)]),
    "max_backward": (lambda g, x: _inner_grad(lambda t: nf.ops.maximum_over(t, (1,)), x, g), [(3,), (3, 4)]),
    "conv2d_grad_input": (lambda g, x, w: _inner_grad(lambda t: nf.conv2d(t, w, stride=2, padding=1), x, g),
                          [(1, 3, 3, 3), (1, 2, 6, 6), (3, 2, 3, 3)]),
    "conv2d_grad_weight": (lambda g, x, w: _inner_grad(lambda t: nf.conv2d(x, t, stride=2, padding=1), w, g),
                           [(1, 3, 3, 3), (1, 2, 6, 6), (3, 2, 3, 3)]),
    "avg_pool2d_backward": (lambda g, x: _inner_grad(lambda t: nf.avg_pool2d(t, 2), x, g),
                            [(1, 2, 2, 2), (1, 2, 4, 4)]),
    "softmax_cross_entropy_backward": (
        lambda g, z: _inner_grad(lambda t: nf.ops.softmax_cross_entropy(t, LABELS), z, g), [(3,), (3, 5)]),
}


def _inner_grad(fn, x, g):
    """The gradient of ``fn`` at ``x`` for the adjoint ``g``, as a differentiable tensor."""
    return nf.grad(fn(x), [x], g, create_graph=True)[0]


def _reached(tensors):
    seen, stack = set(), [t.op for t in tensors]
    while stack:
        op = stack.pop()
        if op not in seen:
            seen.add(op)
            stack += [t.op for t in op.inputs]
    return seen


#: the slowest cases (several conv kernels each) run with the slow tests only
SLOW = {"conv2d:dilated", "conv2d:groups", "conv2d_grad_weight", "softmax_cross_entropy_backward"}


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
                                  for name in sorted(HAND_WRITTEN)])
def test_derived_gradient_equals_hand_written(name, monkeypatch):
    fn, shapes = HAND_WRITTEN[name]
    rng = np.random.default_rng(0)
    tensors = [nf.Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    seen = _requests(monkeypatch)
    with lazy(False):  # each op runs its own kernel, whose request is compared
        y = fn(*tensors)
    op = y.op
    assert op.name == name.split(":")[0]
    request = [r for o, r in seen if o is op][-1]
    head = rng.standard_normal(y.shape)
    wrt = [n for n, t in enumerate(y.inputs) if t.requires_grad and t.dtype.startswith("float")]
    hand = nf.grad(y, [y.inputs[n] for n in wrt], nf.Tensor(head))

    inputs = [ns.placeholder(s, d, name=f"in{n}") for n, (s, d) in enumerate(zip(request.shapes, request.dtypes))]
    out = op.compute(request, *inputs)
    adjoint = ns.placeholder(out.shape, out.dtype, name="H")
    grads = ns.gradient(out, [inputs[n] for n in wrt], adjoint)
    used = _reached(grads)
    args = [t for t in [*inputs, adjoint] if t.op in used]
    module = ns.build(ns.create_schedule(grads), [*args, *grads])
    values = dict(zip([*inputs, adjoint], [t.numpy().reshape(s) for t, s in zip(y.inputs, request.shapes)]
                      + [head.reshape(out.shape)]))
    results = [np.zeros(t.shape) for t in grads]
    module(*[values[t] for t in args], *results)
    for got, want in zip(results, hand):
        want = np.zeros(got.shape) if want is None else want.numpy().reshape(got.shape)  # None: zero a.e.
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_register_tiled_adjoints_of_a_matmul_and_a_padded_conv():
    def matmul(a, b):
        k = ns.reduce_axis(a.shape[1], "k")
        return ns.compute((a.shape[0], b.shape[1]), lambda i, j: ns.sum(a[i, k] * b[k, j], axis=k), name="mm")
    rng = np.random.default_rng(3)
    a, b = (nf.Tensor(rng.standard_normal(s), requires_grad=True) for s in [(5, 20), (20, 17)])
    head = rng.standard_normal((5, 17))
    nf.custom_op(matmul)(a, b).backward(nf.Tensor(head))
    np.testing.assert_allclose(a.grad.numpy(), head @ b.numpy().T)
    np.testing.assert_allclose(b.grad.numpy(), a.numpy().T @ head)
    x, w = (nf.Tensor(rng.standard_normal(s), requires_grad=True) for s in [(1, 2, 18, 18), (3, 2, 3, 3)])
    y = nf.custom_op(strided_conv)(x, w)
    dy = rng.standard_normal(y.shape)
    y.backward(nf.Tensor(dy))
    want_x, want_w = nf.grad(nf.conv2d(x, w, stride=2, padding=1), [x, w], nf.Tensor(dy))
    np.testing.assert_allclose(x.grad.numpy(), want_x.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(w.grad.numpy(), want_w.numpy(), rtol=1e-9, atol=1e-9)
