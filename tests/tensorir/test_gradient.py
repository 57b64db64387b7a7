"""ns.gradient: adjoints derived from index expressions, checked against finite differences."""

import numpy as np
import pytest

import nestor as ns


def _reached(tensors):
    seen, stack = set(), [t.op for t in tensors]
    while stack:
        op = stack.pop()
        if op not in seen:
            seen.add(op)
            stack += [t.op for t in op.inputs]
    return seen


def derived(fn, shapes, seed=0, target="llvm"):
    """The inputs, head, derived gradients and the forward of ``fn`` on random float64 data."""
    rng = np.random.default_rng(seed)
    inputs = [ns.placeholder(shape, "float64", name=f"X{n}") for n, shape in enumerate(shapes)]
    out = fn(*inputs)
    head = ns.placeholder(out.shape, "float64", name="H")
    grads = ns.gradient(out, inputs, head)
    used = _reached(grads)
    args = [t for t in [*inputs, head] if t.op in used]
    backward = ns.build(ns.create_schedule(grads), [*args, *grads], target=target)
    forward = ns.build(ns.create_schedule(out), [*inputs, out], target=target)
    values = {t: rng.standard_normal(t.shape) for t in [*inputs, head]}
    results = [np.zeros(t.shape) for t in grads]
    backward(*[values[t] for t in args], *results)
    return [values[t] for t in inputs], values[head], results, forward, out.shape


def finite_differences(forward, xs, head, out_shape, eps=1e-6):
    def loss():
        out = np.zeros(out_shape)
        forward(*xs, out)
        return float((out * head).sum())

    grads = []
    for x in xs:
        numeric = np.zeros_like(x)
        for index in np.ndindex(x.shape):
            old = x[index]
            x[index] = old + eps
            plus = loss()
            x[index] = old - eps
            numeric[index] = (plus - loss()) / (2 * eps)
            x[index] = old
        grads.append(numeric)
    return grads


def check(fn, shapes, target="llvm"):
    xs, head, grads, forward, out_shape = derived(fn, shapes, target=target)
    for got, want in zip(grads, finite_differences(forward, xs, head, out_shape)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def attention_scores(q, k):
    d = q.shape[1]
    r = ns.reduce_axis(d, "r")
    return ns.compute((q.shape[0], k.shape[0]), lambda i, j: ns.sum(q[i, r] * k[j, r] / np.sqrt(d), axis=r),
                      name="S")


def stencil(a):
    return ns.compute((a.shape[0] - 2,), lambda i: a[i] + 2.0 * a[i + 1] + a[i + 2], name="B")


def bilinear(x, w, z):
    i, j = ns.reduce_axis(x.shape[0], "i"), ns.reduce_axis(z.shape[0], "j")
    return ns.compute((1,), lambda o: ns.sum(x[i] * w[i, j] * z[j], axis=[i, j]), name="y")


def conv2d(stride, padding, dilation):
    def build(x, w):
        (n, c, h, wd), (k, _, kr, ks) = x.shape, w.shape
        oh = (h + 2 * padding - dilation * (kr - 1) - 1) // stride + 1
        ow = (wd + 2 * padding - dilation * (ks - 1) - 1) // stride + 1
        rc, rr, rs = ns.reduce_axis(c, "c"), ns.reduce_axis(kr, "r"), ns.reduce_axis(ks, "s")

        def body(b, kk, y, v):
            hy, hx = y * stride + rr * dilation - padding, v * stride + rs * dilation - padding
            inside = (hy >= 0) & (hy < h) & (hx >= 0) & (hx < wd)
            return ns.sum(ns.if_then_else(inside, x[b, rc, hy, hx], 0.0) * w[kk, rc, rr, rs], axis=[rc, rr, rs])

        return ns.compute((n, k, oh, ow), body, name="Y")
    return build


def test_attention_scores_matches_finite_differences():
    check(attention_scores, [(3, 4), (5, 4)])


def test_stencil_over_an_interior_matches_finite_differences():
    check(stencil, [(9,)])


def test_bilinear_form_matches_finite_differences():
    check(bilinear, [(3,), (3, 4), (4,)])


@pytest.mark.parametrize("stride, padding, dilation", [(2, 1, 1), pytest.param(1, 2, 2, marks=pytest.mark.slow),
                                                       (3, 0, 1)])
def test_strided_padded_dilated_conv2d_matches_finite_differences(stride, padding, dilation):
    check(conv2d(stride, padding, dilation), [(1, 2, 7, 7), (2, 2, 3, 3)])


def test_strided_conv_input_adjoint_is_a_gather_over_channels_and_taps():
    x, w = ns.placeholder((1, 2, 7, 7), name="X"), ns.placeholder((3, 2, 3, 3), name="W")
    y = conv2d(2, 1, 1)(x, w)
    dx, _ = ns.gradient(y, [x, w], ns.placeholder(y.shape, name="dY"))
    body = dx.op.body
    assert dx.shape == x.shape and [iv.name for iv in body.axes] == ["kk", "r", "s"]
    text = str(body)
    assert "// 2" in text and "if_then_else" in text  # the output position solved, guarded where exact


def test_elementwise_functions_match_finite_differences():
    def body(a, b):
        def value(i):
            x, y = a[i], b[i]
            return (ns.exp(x) * ns.tanh(y) + ns.sigmoid(x) / ns.sqrt(y * y + 1.0) + ns.abs(x)
                    + ns.maximum(x, y) - ns.minimum(x, 0.5 * y) + ns.if_then_else(x > 0, x, 0.1 * x)
                    + ns.log(y * y + 1.0) + ns.power(y * y + 1.0, 1.5) + x / (y * y + 2.0))
        return ns.compute(a.shape, value, name="E")
    check(body, [(7,), (7,)])


def test_max_reduction_passes_the_adjoint_to_the_maximum():
    def rowmax(a):
        k = ns.reduce_axis(a.shape[1], "k")
        return ns.compute((a.shape[0],), lambda i: ns.max(a[i, k] * 2.0, axis=k), name="M")
    check(rowmax, [(3, 5)])


def test_gradient_flows_through_intermediate_stages_and_repeated_reads():
    def two_stages(a, b):
        t = ns.compute((4, 4), lambda i, j: a[i, j] * b[j], name="T")
        k = ns.reduce_axis(4, "k")
        return ns.compute((4,), lambda i: ns.sum(ns.tanh(t[i, k]) + t[k, i] * t[k, i], axis=k), name="U")
    check(two_stages, [(4, 4), (4,)])


def test_interp_backend_agrees():
    check(stencil, [(6,)], target="interp")


def test_ones_head_gives_the_gradient_of_the_sum_and_unused_inputs_get_zeros():
    a, b = ns.placeholder((4,), name="A"), ns.placeholder((3,), name="B")
    out = ns.compute((4,), lambda i: a[i] * a[i], name="O")
    ones = ns.compute((4,), lambda i: 1.0, name="ones")
    da, db = ns.gradient(out, [a, b], ones)
    assert "ones" not in str(da.op.body)  # a constant head is folded in, not loaded
    f = ns.build(ns.create_schedule([da, db]), [a, da, db])
    x = np.arange(4, dtype="float32")
    got_a, got_b = np.empty(4, "float32"), np.ones(3, "float32")
    f(x, got_a, got_b)
    np.testing.assert_allclose(got_a, 2 * x)
    np.testing.assert_array_equal(got_b, 0)


def test_default_head_gives_the_jacobian_as_in_tvm():
    a = ns.placeholder((3, 2), "float64", name="A")
    k = ns.reduce_axis(2, "k")
    out = ns.compute((3,), lambda i: ns.sum(a[i, k] * a[i, k], axis=k), name="O")
    (jac,) = ns.gradient(out, [a])
    assert jac.shape == (3, 3, 2)
    f = ns.build(ns.create_schedule(jac), [a, jac])
    x = np.arange(6.0).reshape(3, 2)
    got = np.zeros((3, 3, 2))
    f(x, got)
    want = np.zeros((3, 3, 2))
    for i in range(3):
        want[i, i] = 2 * x[i]
    np.testing.assert_allclose(got, want)


def test_a_head_with_a_prefix_multiplies_the_jacobians():
    def build(a, w):
        k = ns.reduce_axis(3, "k")
        t = ns.compute((4,), lambda i: ns.sum(w[i, k] * a[k], axis=k), name="T")
        return ns.compute((4,), lambda i: ns.tanh(t[i]), name="O")
    a, w = ns.placeholder((3,), "float64", name="A"), ns.placeholder((4, 3), "float64", name="W")
    head = ns.placeholder((2, 4), "float64", name="H")
    da, dw = ns.gradient(build(a, w), [a, w], head)
    assert da.shape == (2, 3) and dw.shape == (2, 4, 3)
    f = ns.build(ns.create_schedule([da, dw]), [a, w, head, da, dw])
    rng = np.random.default_rng(0)
    x, m, h = rng.standard_normal(3), rng.standard_normal((4, 3)), rng.standard_normal((2, 4))
    got_a, got_w = np.zeros((2, 3)), np.zeros((2, 4, 3))
    f(x, m, h, got_a, got_w)
    local = h * (1 - np.tanh(m @ x) ** 2)  # (2, 4)
    np.testing.assert_allclose(got_a, local @ m)
    np.testing.assert_allclose(got_w, local[:, :, None] * x[None, None, :])


def test_floor_division_index_sums_every_reader():
    def upsample(a):
        return ns.compute((8,), lambda i: a[i // 2] * 3.0, name="U")
    check(upsample, [(4,)])


def test_min_max_division_and_modulo_in_subscripts():
    def clamped(a):
        k = ns.reduce_axis(6, "k")
        return ns.compute((6, 6), lambda i, j: ns.sum(a[k, k] - a[ns.minimum(j + k, 5), j] * a[i, k], axis=k),
                          name="B")

    def folded(a):
        return ns.compute((6, 6), lambda i, j: a[i // 2, j % 3] * a[j, ns.maximum(i - 2, 0)], name="C")
    check(clamped, [(6, 6)])
    check(folded, [(6, 6)])


def test_a_free_index_is_narrowed_to_its_window():
    a = ns.placeholder((4,), name="A")
    out = ns.compute((8,), lambda i: a[i // 2] * 3.0, name="U")
    (da,) = ns.gradient(out, [a], ns.placeholder((8,), name="H"))
    assert str(da.op.body) == "sum(H[i0 * 2 + i] * 3.0, axis=[i])"
    assert [(iv.min, iv.extent) for iv in da.op.body.axes] == [(0, 2)]  # two readers, not eight


def test_overlapping_max_pool_matches_finite_differences():
    def pool(x):
        r, s = ns.reduce_axis(3, "r"), ns.reduce_axis(3, "s")
        return ns.compute((1, 2, 3, 3), lambda n, c, y, v: ns.max(x[n, c, y * 2 + r, v * 2 + s], axis=[r, s]),
                          name="P")
    check(pool, [(1, 2, 7, 7)])


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_a_non_affine_subscript_gathers_by_equality(target):
    check(lambda a: ns.compute((4,), lambda i: a[i * i] * a[i], name="Q"), [(16,)], target=target)
    a = ns.placeholder((16,), name="A")
    (da,) = ns.gradient(ns.compute((4,), lambda i: a[i * i], name="Q"), [a])  # the Jacobian: dQ[i] / dA[x]
    jacobian = np.zeros((4, 16), "float32")
    ns.build(ns.create_schedule(da), [da], target=target)(jacobian)
    np.testing.assert_array_equal(jacobian, np.eye(16, dtype="float32")[[0, 1, 4, 9]])


def test_refuses_a_body_with_floor_division_of_floats():
    a = ns.placeholder((4,), name="A")
    out = ns.compute((4,), lambda i: a[i] // 2.0, name="F")
    with pytest.raises(ns.DefinitionError, match=r"gradient of F with respect to A: `//` .* rewrite it"):
        ns.gradient(out, [a])


def test_refuses_integer_tensors():
    a = ns.placeholder((4,), "int32", name="A")
    out = ns.compute((4,), lambda i: a[i] * 2, name="I")
    with pytest.raises(ns.DefinitionError, match="I has type int32; only float tensors have gradients"):
        ns.gradient(out, [a])


def test_refuses_a_head_of_the_wrong_shape():
    a = ns.placeholder((4,), name="A")
    out = ns.compute((4,), lambda i: a[i] * 2.0, name="O")
    with pytest.raises(ns.DefinitionError, match=r"head H has shape \[3\], which does not end with the output's "
                                                 r"shape \[4\]"):
        ns.gradient(out, [a], ns.placeholder((3,), name="H"))


def test_refuses_inputs_that_are_not_tensors():
    a = ns.placeholder((4,), name="A")
    out = ns.compute((4,), lambda i: a[i] * 2.0, name="O")
    with pytest.raises(ns.DefinitionError, match="inputs must be a list of tensors, got 3"):
        ns.gradient(out, 3)
    with pytest.raises(ns.DefinitionError, match="output must be a tensor"):
        ns.gradient("O", [a])


def test_refuses_modulo_of_a_tensor_element():
    a = ns.placeholder((4,), name="A")
    out = ns.compute((4,), lambda i: a[i] % 2.0, name="R")
    with pytest.raises(ns.DefinitionError, match=r"gradient of R with respect to A: `%` .* modulo of float values"):
        ns.gradient(out, [a])


def test_a_cast_to_integer_passes_no_gradient():
    def rounded(a):
        return ns.compute(a.shape, lambda i: a[i].astype("int32").astype("float64") * a[i], name="R")
    check(rounded, [(5,)])


def test_an_intermediate_compute_can_be_an_input():
    a = ns.placeholder((3,), "float64", name="A")
    t = ns.compute((3,), lambda i: a[i] * 2.0, name="T")
    out = ns.compute((3,), lambda i: ns.exp(t[i]), name="O")
    dt, da = ns.gradient(out, [t, a], ns.compute((3,), lambda i: 1.0, name="ones"))
    f = ns.build(ns.create_schedule([dt, da]), [a, dt, da])
    x = np.array([0.1, -0.2, 0.3])
    got_t, got_a = np.zeros(3), np.zeros(3)
    f(x, got_t, got_a)
    np.testing.assert_allclose(got_t, np.exp(2 * x))
    np.testing.assert_allclose(got_a, 2 * np.exp(2 * x))


def test_output_value_is_read_instead_of_computing_the_output_again():
    a = ns.placeholder((6,), "float64", name="A")
    out = ns.compute((6,), lambda i: ns.tanh(a[i]), name="T")
    head, value = ns.placeholder((6,), "float64", name="H"), ns.placeholder((6,), "float64", name="V")
    (da,) = ns.gradient(out, [a], head, output_value=value)
    assert "tanh" not in str(da.op.body) and "V[i0]" in str(da.op.body)
    f = ns.build(ns.create_schedule(da), [head, value, da])
    x, h = np.linspace(-2, 2, 6), np.linspace(1, 2, 6)
    got = np.zeros(6)
    f(h, np.tanh(x), got)
    np.testing.assert_allclose(got, h * (1 - np.tanh(x) ** 2))
    with pytest.raises(ns.DefinitionError, match=r"output_value must be a tensor of the output's shape \[6\]"):
        ns.gradient(out, [a], head, output_value=ns.placeholder((5,), "float64", name="W"))


def test_data_dependent_subscripts_of_other_tensors_and_conditions():
    a, b = ns.placeholder((5,), "float64", name="A"), ns.placeholder((5,), "float64", name="B")
    index = ns.placeholder((5,), "int32", name="I")
    out = ns.compute((5,), lambda i: ns.if_then_else(b[i] > 0, a[i] * b[index[i]] + a[i] * i, 0.0), name="O")
    head = ns.placeholder((5,), "float64", name="H")
    (da,) = ns.gradient(out, [a], head)
    f = ns.build(ns.create_schedule(da), [b, index, head, da])
    bv, iv, hv = np.array([1.0, -2.0, 3.0, 4.0, -5.0]), np.array([4, 3, 2, 1, 0], "int32"), np.arange(1.0, 6.0)
    got = np.zeros(5)
    f(bv, iv, hv, got)
    np.testing.assert_allclose(got, np.where(bv > 0, hv * (bv[iv] + np.arange(5)), 0.0))
    (db,) = ns.gradient(ns.compute((5,), lambda i: ns.if_then_else(b[i] > 0, a[i], 0.0), name="C"), [b], head)
    assert str(db.op.body) == "0.0"  # B decides which branch, but no value flows from it
    (db,) = ns.gradient(out, [b], head)  # through B[I[i]]: TVM's Jacobian, (I[i] == x) times the derivative
    av = np.array([0.5, -1.5, 2.0, 3.0, 1.0])
    iv = np.array([4, 4, 2, 1, 7], "int32")  # a repeat, and an index the forward never reads (B[4] < 0)
    got = np.zeros(5)
    ns.build(ns.create_schedule(db), [a, b, index, head, db])(av, bv, iv, hv, got)
    want = np.zeros(5)
    read = bv > 0
    np.add.at(want, iv[read], (hv * av)[read])
    np.testing.assert_allclose(got, want)
    forward = ns.build(ns.create_schedule(out), [a, b, index, out])
    numeric = np.zeros(5)
    for n in range(5):
        moved = [bv.copy(), bv.copy()]
        moved[0][n] += 1e-6
        moved[1][n] -= 1e-6
        totals = []
        for values in moved:
            result = np.zeros(5)
            forward(av, values, iv, result)
            totals.append((result * hv).sum())
        numeric[n] = (totals[0] - totals[1]) / 2e-6
    np.testing.assert_allclose(got, numeric, atol=1e-6)
