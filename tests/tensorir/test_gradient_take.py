"""ns.gradient through reads whose subscripts have no affine form (TVM's ``take``, ``A[i * i]``,
``A[i // j]``): each adjoint against numpy's ``np.add.at`` and central differences, on the
interpreter and LLVM; index values the forward refuses are refused by the adjoint too."""

import numpy as np
import pytest

import nestor as ns

TARGETS = ["interp", "llvm"]


def _built(tensors, args, target):
    return ns.build(ns.create_schedule(tensors), args, target=target)


def _central(forward, values, position, head, out_shape, eps=1e-6):
    """d sum(head * forward(values)) / d values[position], by central differences."""
    def total(moved):
        out = np.zeros(out_shape)
        forward(*[moved if n == position else v for n, v in enumerate(values)], out)
        return (out * head).sum()

    base = values[position]
    grad = np.zeros(base.shape)
    for index in np.ndindex(base.shape):
        plus, minus = base.copy(), base.copy()
        plus[index] += eps
        minus[index] -= eps
        grad[index] = (total(plus) - total(minus)) / (2 * eps)
    return grad


@pytest.mark.parametrize("target", TARGETS)
def test_take_with_repeated_indices_accumulates(target):
    b, index = ns.placeholder((6,), "float64", name="B"), ns.placeholder((5,), "int32", name="I")
    out = ns.compute((5,), lambda i: b[index[i]] * b[index[i]], name="O")
    head = ns.placeholder((5,), "float64", name="H")
    (db,) = ns.gradient(out, [b], head)
    bv, iv, hv = np.linspace(-1.0, 2.0, 6), np.array([0, 3, 3, 5, 3], "int32"), np.arange(1.0, 6.0)
    got = np.zeros(6)
    _built(db, [b, index, head, db], target)(bv, iv, hv, got)
    want = np.zeros(6)
    np.add.at(want, iv, hv * 2 * bv[iv])
    np.testing.assert_allclose(got, want)
    forward = _built(out, [b, index, out], target)
    np.testing.assert_allclose(got, _central(forward, [bv, iv], 0, hv, (5,)), atol=1e-6)


@pytest.mark.parametrize("target", TARGETS)
def test_take_along_each_axis_of_a_matrix(target):
    a, index = ns.placeholder((6, 3), "float64", name="A"), ns.placeholder((4,), "int32", name="I")
    rows = ns.compute((4, 3), lambda i, j: a[index[i], j], name="rows")
    columns = ns.compute((6, 4), lambda i, j: a[i, index[j] % 3] * 2.0, name="columns")
    rng = np.random.default_rng(3)
    av, iv = rng.standard_normal((6, 3)), np.array([5, 0, 5, 2], "int32")
    for out, picked in ((rows, lambda g: (iv, slice(None))), (columns, lambda g: (slice(None), iv % 3))):
        head = ns.placeholder(out.shape, "float64", name="H")
        (da,) = ns.gradient(out, [a], head)
        hv = rng.standard_normal(out.shape)
        got = np.zeros((6, 3))
        _built(da, [index, head, da], target)(iv, hv, got)
        want = np.zeros((6, 3))
        np.add.at(want, picked(want), hv * (2.0 if out is columns else 1.0))
        np.testing.assert_allclose(got, want)
        forward = _built(out, [a, index, out], target)
        np.testing.assert_allclose(got, _central(forward, [av, iv], 0, hv, out.shape), atol=1e-6)


def test_take_along_an_axis_sums_over_the_indices_only():
    a, index = ns.placeholder((6, 3), "float64", name="A"), ns.placeholder((4,), "int32", name="I")
    out = ns.compute((4, 3), lambda i, j: a[index[i], j], name="O")
    head = ns.placeholder((4, 3), "float64", name="H")
    (da,) = ns.gradient(out, [a], head)
    assert str(ns.lower(ns.create_schedule(da), [index, head, da])) == """\
func main(I: int32[4], H: float64[4, 3], dA: float64[6, 3]) {
  for i0 in 0..6:
    for i1 in 0..3:
      dA[i0, i1] = 0.0
      for i in 0..4:
        dA[i0, i1] = dA[i0, i1] + if_then_else(checked(I[i], 6) == i0, H[i, i1], 0.0)
}"""


@pytest.mark.parametrize("target", TARGETS)
def test_a_take_inside_a_reduction(target):
    v, w = ns.placeholder((6,), "float64", name="V"), ns.placeholder((5, 4), "float64", name="W")
    index = ns.placeholder((4,), "int32", name="I")
    k = ns.reduce_axis(4, "k")
    out = ns.compute((5,), lambda i: ns.sum(v[index[k]] * w[i, k], axis=k), name="R")
    head = ns.placeholder((5,), "float64", name="H")
    dv, dw = ns.gradient(out, [v, w], head)
    rng = np.random.default_rng(5)
    vv, wv, hv = rng.standard_normal(6), rng.standard_normal((5, 4)), rng.standard_normal(5)
    iv = np.array([2, 2, 0, 5], "int32")
    got_v, got_w = np.zeros(6), np.zeros((5, 4))
    _built([dv, dw], [v, w, index, head, dv, dw], target)(vv, wv, iv, hv, got_v, got_w)
    want_v = np.zeros(6)
    np.add.at(want_v, iv, hv @ wv)
    np.testing.assert_allclose(got_v, want_v)
    np.testing.assert_allclose(got_w, np.outer(hv, vv[iv]))
    forward = _built(out, [v, w, index, out], target)
    np.testing.assert_allclose(got_v, _central(forward, [vv, wv, iv], 0, hv, (5,)), atol=1e-6)
    np.testing.assert_allclose(got_w, _central(forward, [vv, wv, iv], 1, hv, (5,)), atol=1e-6)


@pytest.mark.parametrize("target", TARGETS)
def test_floor_division_by_a_reduce_axis(target):
    a = ns.placeholder((8,), "float64", name="A")
    j = ns.reduce_axis((1, 4), "j")
    out = ns.compute((8,), lambda i: ns.sum(a[i // j] * a[i // j], axis=j), name="Q")
    head = ns.placeholder((8,), "float64", name="H")
    (da,) = ns.gradient(out, [a], head)
    rng = np.random.default_rng(7)
    av, hv = rng.standard_normal(8), rng.standard_normal(8)
    got = np.zeros(8)
    _built(da, [a, head, da], target)(av, hv, got)
    want = np.zeros(8)
    for d in (1, 2, 3):
        read = np.arange(8) // d
        np.add.at(want, read, hv * 2 * av[read])
    np.testing.assert_allclose(got, want)
    forward = _built(out, [a, out], target)
    np.testing.assert_allclose(got, _central(forward, [av], 0, hv, (8,)), atol=1e-6)


@pytest.mark.parametrize("target", TARGETS)
def test_the_adjoint_refuses_the_indices_the_forward_refuses(target):
    b, index = ns.placeholder((6,), "float64", name="B"), ns.placeholder((5,), "int32", name="I")
    head = ns.placeholder((5,), "float64", name="H")
    out = ns.compute((5,), lambda i: b[index[i]] * 3.0, name="O")
    (db,) = ns.gradient(out, [b], head)
    adjoint = _built(db, [index, head, db], target)
    forward = _built(out, [b, index, out], target)
    message = (rf"{target}: compute O: the access B\[I\[i\]\] reads dimension 0 of B \(shape \[6\]\) at index "
               r"I\[i\] = (-1|6), outside 0..5")
    for bad in (6, -1):
        iv = np.array([0, 1, bad, 2, 3], "int32")
        with pytest.raises(ns.OutOfBoundsError, match=message):
            forward(np.zeros(6), iv, np.zeros(5))
        with pytest.raises(ns.OutOfBoundsError, match=message):
            adjoint(iv, np.ones(5), np.zeros(6))
    guarded = ns.compute((5,), lambda i: ns.if_then_else(index[i] < 6, b[index[i]] * 3.0, 0.0), name="G")
    (db,) = ns.gradient(guarded, [b], head)
    got = np.zeros(6)
    _built(db, [index, head, db], target)(np.array([0, 9, 9, 2, 0], "int32"), np.arange(1.0, 6.0), got)
    np.testing.assert_allclose(got, [18.0, 0.0, 12.0, 0.0, 0.0, 0.0])  # index 9 is never read


@pytest.mark.parametrize("mode", ["clip", "wrap"])
def test_clipped_and_wrapped_indices_send_the_gradient_where_the_forward_read(mode):
    b, index = ns.placeholder((6,), "float64", name="B"), ns.placeholder((5,), "int32", name="I")
    head = ns.placeholder((5,), "float64", name="H")
    out = ns.compute((5,), lambda i: b.at(index[i], mode=mode), name="O")
    (db,) = ns.gradient(out, [b], head)
    iv, hv = np.array([-2, 7, 3, 30, 5], "int32"), np.arange(1.0, 6.0)
    got = np.zeros(6)
    _built(db, [index, head, db], "llvm")(iv, hv, got)
    want = np.zeros(6)
    np.add.at(want, np.clip(iv, 0, 5) if mode == "clip" else iv % 6, hv)
    np.testing.assert_allclose(got, want)


def test_the_jacobian_of_a_take():
    b, index = ns.placeholder((4,), name="B"), ns.placeholder((3,), "int32", name="I")
    (jacobian,) = ns.gradient(ns.compute((3,), lambda i: b[index[i]], name="O"), [b])
    got = np.zeros((3, 4), "float32")
    _built(jacobian, [index, jacobian], "interp")(np.array([3, 0, 3], "int32"), got)
    np.testing.assert_array_equal(got, np.eye(4, dtype="float32")[[3, 0, 3]])


def test_an_index_computed_from_the_data_passes_no_gradient():
    b = ns.placeholder((4,), "float64", name="B")
    index = ns.compute((4,), lambda i: b[i].astype("int32") % 4, name="I")
    out = ns.compute((4,), lambda i: ns.if_then_else(b[i].astype("int32") > 1, b[index[i]] * b[i], 0.0), name="O")
    head = ns.placeholder((4,), "float64", name="H")
    (db,) = ns.gradient(out, [b], head)
    bv, hv = np.array([1.5, 3.25, 2.75, 0.5]), np.arange(1.0, 5.0)
    got = np.zeros(4)
    _built(db, [b, head, db], "llvm")(bv, hv, got)
    iv, read = bv.astype(int) % 4, bv.astype(int) > 1
    want = np.where(read, hv * bv[iv], 0.0)
    np.add.at(want, iv[read], (hv * bv)[read])
    np.testing.assert_allclose(got, want)
    forward = _built(out, [b, out], "llvm")
    np.testing.assert_allclose(got, _central(forward, [bv], 0, hv, (4,)), atol=1e-6)


def test_a_max_over_a_take_sends_the_gradient_to_the_winner():
    v, w = ns.placeholder((6,), "float64", name="V"), ns.placeholder((3, 4), "float64", name="W")
    index = ns.placeholder((4,), "int32", name="I")
    k = ns.reduce_axis(4, "k")
    out = ns.compute((3,), lambda i: ns.max(v[index[k]] * w[i, k], axis=k), name="M")
    head = ns.placeholder((3,), "float64", name="H")
    (dv,) = ns.gradient(out, [v], head)
    rng = np.random.default_rng(0)
    vv, wv, hv, iv = rng.standard_normal(6), rng.standard_normal((3, 4)), rng.standard_normal(3), np.array(
        [1, 4, 1, 2], "int32")
    got = np.zeros(6)
    _built(dv, [v, w, index, head, dv], "interp")(vv, wv, iv, hv, got)
    winner = (vv[iv][None, :] * wv).argmax(axis=1)
    want = np.zeros(6)
    np.add.at(want, iv[winner], hv * wv[np.arange(3), winner])
    np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("target", TARGETS)
def test_tvms_take_of_a_flattened_matrix_with_clipped_indices(target):
    # TVM's autodiff test: R = topi.take(X, topi.abs(I)), X of shape (4, 5), 100 indices, mode "clip"
    x, index = ns.placeholder((4, 5), "float64", name="X"), ns.placeholder((100,), "int32", name="I")

    def flat(i):
        return ns.min(ns.abs(index[i]), 19)  # clipped: abs leaves no negative index

    out = ns.compute((100,), lambda i: x[flat(i) // 5, flat(i) % 5], name="R")
    head = ns.placeholder((100,), "float64", name="H")
    (dx,) = ns.gradient(out, [x], head)
    rng = np.random.default_rng(9)
    iv, hv = rng.integers(-30, 30, 100).astype("int32"), rng.standard_normal(100)
    got = np.zeros((4, 5))
    _built(dx, [index, head, dx], target)(iv, hv, got)
    want = np.zeros(20)
    np.add.at(want, np.minimum(np.abs(iv), 19), hv)
    np.testing.assert_allclose(got, want.reshape(4, 5))
