"""Programs in the style of TVM's tests/python/te/test_te_tensor.py, test_te_tag.py and
test_te_autodiff.py (through :mod:`te_shim`): tensor identity and chained indexing, a shape
given as one expression, a reducer called on plain values, a scan without inputs, tag scopes,
and derived gradients of elementwise bodies, on LLVM against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def test_tensor_identity_and_chained_indexing():
    m, n, ell = te.var("m"), te.var("n"), te.var("l")
    A = te.placeholder((m, ell), name="A")
    B = te.placeholder((n, ell), name="B")
    T = te.compute((m, n, ell), lambda i, j, k: A[i, k] * B[j, k])
    assert tuple(T.shape) == (m, n, ell)
    assert type(A.op).__name__ == "PlaceholderOp" and type(T.op).__name__ == "ComputeOp"
    assert A == A and T.op.output(0) == T and hash(T.op.output(0)) == hash(T)
    assert {T.op.output(0): 1}[T] == 1
    assert T[0][0][0].astype("float16").dtype == "float16"
    assert tuple(T.op.input_tensors) == (A, B)


def test_a_shape_given_as_one_expression(rng):
    n = te.var("n")
    A = te.placeholder((n + 2), name="A")

    def compute_b(ii):
        i = ii + 1
        return A[i - 1] + A[i] + A[i + 1]

    B = te.compute(n, compute_b, name="B")
    f = tvm.build(te.create_schedule(B.op), [A, B])
    a = uniform(rng, 9)
    b = empty((7,), "float32")
    f(a, b)
    close(b, a[:-2].astype(np.float64) + a[1:-1] + a[2:])


def test_a_row_of_a_constant_tensor_through_a_slice():
    n = te.var("n")
    A = te.compute((n, n), lambda i, j: 1, name="A")
    B = te.compute((n,), lambda i: A[0][i] + A[0][i], name="B")
    b = empty((4,), "int32")
    tvm.build(te.create_schedule(B.op), [B])(b)
    close(b, [2, 2, 2, 2])


def test_a_reduction_over_a_tuple_of_axes(rng):
    m, n = te.var("m"), te.var("n")
    A = te.placeholder((m, n), name="A")
    k1, k2 = te.reduce_axis((0, n), "k1"), te.reduce_axis((0, m), "k2")
    C = te.compute((1,), lambda _: te.sum(A[k2, k1], axis=(k1, k2)), name="C")
    a = uniform(rng, (3, 4))
    c = empty((1,), "float32")
    tvm.build(te.create_schedule(C.op), [A, C])(a, c)
    close(c, [a.astype(np.float64).sum()])


def test_a_reducer_called_on_values_combines_them(rng):
    m, n = te.var("m"), te.var("n")
    mysum = te.comm_reducer(lambda x, y: x + y, lambda t: tvm.tir.const(0, dtype=t))
    assert str(mysum(m, n)) == "m + n" and str(mysum(m, n, 3)) == "m + n + 3"
    A = te.placeholder((5,), name="A")
    B = te.placeholder((5,), name="B")
    larger = te.comm_reducer(lambda x, y: te.max(x, y), lambda t: te.min_value(t), name="larger")
    C = te.compute((5,), lambda i: larger(A[i], B[i], 0.0), name="C")
    a, b = uniform(rng, 5), uniform(rng, 5)
    c = empty((5,), "float32")
    tvm.build(te.create_schedule(C.op), [A, B, C])(a, b, c)
    close(c, np.maximum(np.maximum(a, b), 0))
    k = te.reduce_axis((0, 5), "k")
    with pytest.raises(te.DefinitionError, match=r"reduce\(..., axis=k\): 1 more values after init; reduce one "
                       r"value \(or one tuple\) over the axes"):
        mysum(A[k], k, None, None, 5)


def test_a_scan_without_inputs():
    m, n = te.var("m"), te.var("n")
    x = te.compute((m, n), lambda i, j: tvm.tir.const(1, "float32"), name="x")
    state = te.placeholder((m, n))
    res = tvm.te.scan(te.compute((1, n), lambda _, i: x[0, i]),
                      te.compute((m, n), lambda t, i: state[t - 1, i] + x[t, i]), state)
    out = empty((4, 3), "float32")
    tvm.build(te.create_schedule(res.op), [res])(out)
    close(out, np.repeat(np.arange(1, 5, dtype=np.float64)[:, None], 3, axis=1))


def test_tag_scope_as_a_block_and_as_a_decorator():
    A = te.placeholder((4, 4), name="A")
    with te.tag_scope(tag="conv"):
        B = te.compute((4, 4), lambda i, j: A[i, j] * 2, name="B")

    @te.tag_scope(tag="ewise")
    def ewise(T):
        return te.compute(T.shape, lambda i, j: T[i, j] + 1, name="C")

    C = ewise(B)
    D = te.compute((4, 4), lambda i, j: C[i, j], name="D")
    assert (B.op.tag, C.op.tag, D.op.tag) == ("conv", "ewise", "")
    with pytest.raises(te.DefinitionError, match=r"tag_scope\('b'\): already inside tag_scope\('a'\); tag "
                       "scopes do not nest"):
        with te.tag_scope("a"), te.tag_scope("b"):
            pass
    with pytest.raises(te.DefinitionError, match=r"compute E: tag='x' inside tag_scope\('a'\); a compute inside "
                       "a tag scope takes the scope's tag"):
        with te.tag_scope("a"):
            te.compute((4,), lambda i: A[i, 0], name="E", tag="x")


GRADIENTS = [
    (te.exp, np.exp),
    (lambda x: te.log(x + 2), lambda x: 1 / (x + 2)),
    (te.sigmoid, lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    (te.tanh, lambda x: 1 - np.tanh(x) ** 2),
    (lambda x: te.sqrt(x + 2), lambda x: 0.5 / np.sqrt(x + 2)),
    (lambda x: te.max(x, 0.0), lambda x: (x > 0).astype(np.float64)),
    (lambda x: x * x / (x + 3), lambda x: (x * x + 6 * x) / (x + 3) ** 2),
    (lambda x: te.power(x + 2, 3.0), lambda x: 3 * (x + 2) ** 2),
]


@pytest.mark.parametrize("case", range(len(GRADIENTS)))
def test_gradient_of_an_elementwise_body(case, rng):
    f, df = GRADIENTS[case]
    A = te.placeholder((5, 3), name="A")
    B = te.compute((5, 3), lambda i, j: f(A[i, j]), name="B")
    H = te.placeholder((5, 3), name="H")
    (dA,) = te.gradient(B, [A], head=H)
    a, h = uniform(rng, (5, 3)), uniform(rng, (5, 3))
    da = empty((5, 3), "float32")
    tvm.build(te.create_schedule(dA.op), [A, H, dA])(a, h, da)
    close(da, h * df(a.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_gradient_without_a_head_is_the_jacobian(rng):
    A = te.placeholder((4,), name="A")
    B = te.compute((3,), lambda i: A[i] * A[i + 1], name="B")
    (J,) = te.gradient(B, [A])
    assert J.shape == (3, 4)
    a = uniform(rng, 4)
    jac = empty((3, 4), "float32")
    tvm.build(te.create_schedule(J.op), [A, J])(a, jac)
    want = np.zeros((3, 4))
    for i in range(3):
        want[i, i], want[i, i + 1] = a[i + 1], a[i]
    close(jac, want)


def test_a_tag_scope_takes_a_string():
    with pytest.raises(te.DefinitionError, match=r"tag_scope\(tag=3\): the tag must be a string, e.g. "
                       "tag='elemwise'"):
        te.tag_scope(tag=3)
