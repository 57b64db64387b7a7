"""TVM's tensor unit tests (tests/python/te/test_te_tensor.py, test_te_tag.py and the tensorize
declarations of test_te_schedule.py) as programs through :mod:`te_shim`, beyond those of
test_te_tensor.py here: a stencil over a symbolic input of ``n + 2``, a tuple reducer with a
condition, a tuple compute of which only one output is read, ``input_tensors``, ``Reduce.axis``,
compute attributes, constant dimensions and bounds with TVM's ``.value``, and what Nestor refuses
that TVM takes or refuses (nested tag scopes as a ValueError, two reduction axes of one name, an
access that may leave its tensor), each at the definition with the fix; tensorize with a vector
add intrinsic (more in test_te_tensorize.py). Values against numpy on LLVM."""

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def test_a_stencil_over_an_input_two_longer_than_its_output():
    n = te.var("n")
    A = te.placeholder((n + 2,), name="A")

    def three_points(ii):
        i = ii + 1
        return A[i - 1] + A[i] + A[i + 1]

    B = te.compute(n, three_points, name="B")
    s = te.create_schedule(B.op)
    f = tvm.build(s, [A, B])
    for size in (1, 9):
        a = uniform(np.random.default_rng(size), (size + 2,))
        out = empty((size,), "float32")
        f(a, out)
        close(out, a[:-2] + a[1:-1] + a[2:])


def test_a_tuple_reducer_with_a_condition_on_the_reduction_axis():
    def combine(x, y):
        return x[0] + y[0], x[1] + y[1]

    def identity(t0, t1):
        return tvm.tir.const(0, t0), tvm.tir.const(1, t1)

    mysum = te.comm_reducer(combine, identity, name="mysum")
    m, n = te.var("m"), te.var("n")
    idx = te.placeholder((m, n), name="idx", dtype="int32")
    val = te.placeholder((m, n), name="val", dtype="int32")
    k = te.reduce_axis((0, n), "k")
    T0, T1 = te.compute((m,), lambda i: mysum((idx[i, k], val[i, k]), axis=k, where=te.floormod(k.var, 2) == 0),
                        name="T")
    assert T0.op.body[0].axis[0] is k and T1.op.body[1].condition is not None
    s = te.create_schedule(T0.op)
    rng = np.random.default_rng(0)
    i, v = uniform(rng, (4, 7), "int32"), uniform(rng, (4, 7), "int32")
    t0, t1 = empty((4,), "int32"), empty((4,), "int32")
    tvm.build(s, [idx, val, T0, T1])(i, v, t0, t1)
    close(t0, i[:, ::2].sum(axis=1))
    close(t1, 1 + v[:, ::2].sum(axis=1))


def test_a_tuple_compute_of_which_one_output_is_read():
    m, n = te.var("m"), te.var("n")
    A0 = te.placeholder((m, n), name="A0")
    A1 = te.placeholder((m, n), name="A1")
    B0, B1 = te.compute((m, n), lambda i, j: (A0[i, j] * 2, A1[i, j] * 3), name="B")
    C = te.compute((m, n), lambda i, j: B0[i, j] + 4, name="C")
    assert tuple(C.op.input_tensors) == (B0,)
    assert set(B0.op.input_tensors) == {A0, A1}
    s = te.create_schedule(C.op)
    rng = np.random.default_rng(1)
    a0, a1 = uniform(rng, (3, 5)), uniform(rng, (3, 5))
    out = empty((3, 5), "float32")
    tvm.build(s, [A0, A1, C])(a0, a1, out)
    close(out, 2 * a0 + 4)


def test_input_tensors_lists_each_input_once():
    x = te.placeholder((1,), name="x")
    y = te.compute(x.shape, lambda i: x[i] + x[i], name="y")
    assert tuple(y.op.input_tensors) == (x,)


def test_constant_dimensions_and_bounds_have_tvms_value():
    n = te.size_var("n")
    A = te.placeholder((3, n, 4), name="A")
    k = te.reduce_axis((1, 4), name="k")
    B = te.compute((3, n), lambda i, j: te.sum(A[i, j, k], axis=k), name="B")
    assert (A.shape[0].value, A.shape[2].value) == (3, 4)
    assert A.shape[1] is n
    assert (k.dom.min.value, k.dom.extent.value) == (1, 3)
    assert B.op.axis[1].dom.extent is n
    assert repr(A.shape) == "(3, n, 4)" and str(B.shape[0]) == "3"
    assert type(A.shape[0] * 2) is int and A.shape[0] * 2 == 6
    assert np.empty(B.shape[:1]).shape == (3,)
    with pytest.raises(AttributeError):
        n.value  # noqa: B018 - a size variable has no constant value, as in TVM


def test_compute_attributes_and_tags():
    n, m, w = te.size_var("n"), te.size_var("m"), te.size_var("w")
    A = te.placeholder((n, w), name="A")
    B = te.placeholder((m, w), name="B")
    with te.tag_scope(tag="gemm"):
        k = te.reduce_axis((0, w), name="k")
        C = te.compute((n, m), lambda i, j: te.sum(A[i, k] * B[j, k], axis=k), attrs={"hello": 1, "arr": [10, 12]})
    assert C.op.tag == "gemm"
    assert "hello" in C.op.attrs and "xx" not in C.op.attrs
    assert C.op.attrs["hello"] == 1
    assert list(C.op.attrs["arr"]) == [10, 12]


def test_nested_tag_scopes_are_refused_as_a_value_error():
    @te.tag_scope(tag="conv")
    def conv(data, weight):
        rc, ry = te.reduce_axis((0, 2), name="rc"), te.reduce_axis((0, 3), name="ry")
        return te.compute((2, 4), lambda o, x: te.sum(data[rc, x + ry] * weight[o, rc, ry], axis=[rc, ry]))

    data = te.placeholder((2, 6), name="data")
    weight = te.placeholder((2, 2, 3), name="weight")
    assert conv(data, weight).op.tag == "conv"
    with pytest.raises(ValueError, match=r"tag_scope\('conv'\): already inside tag_scope\('conv'\); tag scopes "
                       "do not nest, close the outer one first"):
        with te.tag_scope(tag="conv"):
            conv(data, weight)
    assert te.compute((1,), lambda i: data[0, i], name="after").op.tag == ""  # the failed scope was left


def test_tensorize_with_a_vector_add_intrinsic_and_something_not_an_intrinsic_refused():
    x = te.placeholder((16,), name="x")
    y = te.placeholder((16,), name="y")
    z = te.compute(x.shape, lambda i: x[i] + y[i], name="z")
    s = te.create_schedule(z.op)
    _, xi = s[z].split(z.op.axis[0], factor=4)
    with pytest.raises(te.ScheduleError, match=r"^s\[z\]\.tensorize\(i\.inner, None\): None is not a tensor "
                       r"intrinsic; declare one with ns\.decl_tensor_intrin\(op, fcompute\)$"):
        s[z].tensorize(xi, None)
    a = te.placeholder((4,), name="a")
    b = te.placeholder((4,), name="b")
    c = te.compute((4,), lambda i: a[i] + b[i], name="c")

    def vadd(ins, outs):
        ib = tvm.tir.ir_builder.create()
        with ib.for_range(0, 4, name="v") as v:
            ib.emit(outs[0].vstore([v], ins[0].vload([v]) + ins[1].vload([v])))
        return ib.get()

    s[z].tensorize(xi, te.decl_tensor_intrin(c.op, vadd, name="vadd4"))
    xx, yy = np.arange(16, dtype="float32"), np.linspace(0, 1, 16, dtype="float32")
    zz = empty((16,), "float32")
    tvm.build(s, [x, y, z], "llvm")(xx, yy, zz)
    close(zz, xx + yy)


def test_two_reduction_axes_of_one_name_are_refused():
    """TVM tells two axes apart by object; Nestor names loops after their axes."""
    A = te.placeholder((3, 4), name="A")
    k1, k2 = te.reduce_axis((0, 3), "k"), te.reduce_axis((0, 4), "k")
    with pytest.raises(te.DefinitionError, match="compute C: two reduce axes are both named 'k'; give them "
                       r"different names, e.g. reduce_axis\(..., name='k2'\)"):
        te.compute((1,), lambda _: te.sum(A[k1, k2], axis=(k1, k2)), name="C")


def test_an_access_that_may_leave_its_tensor_is_refused_at_the_definition():
    """TVM takes this definition (its test only builds it); Nestor proves every access in bounds
    when the compute is defined, and names a size where it is not."""
    n, m, x = te.size_var("n"), te.size_var("m"), te.size_var("x")
    A = te.placeholder((n, m), name="A")
    with pytest.raises(te.DefinitionError, match=r"compute B: the access A\[i, j\] may go out of bounds: its index "
                       r"0, i, is 1 at i=1 when .*; guard it with if_then_else\(\.\.\.\) or shrink the ranges"):
        te.compute((m, n // x), lambda i, j: A[i, j], name="B")


def test_constants_are_intimm_and_floatimm():
    x = tvm.te.const(1, "int32")
    assert x.dtype == "int32" and isinstance(x, tvm.tir.IntImm) and not isinstance(x, tvm.tir.FloatImm)
    assert isinstance(te.const(3, "uint8"), tvm.tir.IntImm) and isinstance(te.const(True, "bool"), tvm.tir.IntImm)
    assert isinstance(te.const(1.5, "float16"), tvm.tir.FloatImm)
    A = te.placeholder((3, te.var("n")), name="A")
    assert isinstance(A.shape[0], tvm.tir.IntImm) and not isinstance(A.shape[1], tvm.tir.IntImm)
    assert not isinstance(3, tvm.tir.IntImm)  # a Python int is not a TVM constant
    c = tvm.tir.IntImm("int64", 7)
    assert (c.value, c.dtype) == (7, "int64")
    assert tvm.tir.FloatImm("float32", 0.5).value == 0.5
    with pytest.raises(te.DefinitionError, match=r"FloatImm\('int32', 3\): int32 is not a type of FloatImm; use "
                       r"FloatImm\('float32', 1.0\)"):
        tvm.tir.FloatImm("int32", 3)
    B = te.compute((3,), lambda i: A[i, 0] * tvm.tir.FloatImm("float32", 2.0) + tvm.tir.IntImm("int32", 1), name="B")
    a = uniform(np.random.default_rng(3), (3, 2))
    out = empty((3,), "float32")
    tvm.build(te.create_schedule(B.op), [A, B])(a, out)
    close(out, 2 * a[:, 0] + 1)
