"""TVM's te introspection, as its unit tests use it (through :mod:`te_shim`): ``op.body`` as the
list of bodies, ``s.outputs`` as operations, ``op.output(i)``, ``op.num_outputs``,
``tensor.value_index``, ``te.power``'s refusal of integers, and an output left out of the
build's arguments computed into a temporary (TVM's ``test_schedule_scan``)."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def test_op_body_is_the_list_of_bodies():
    A = te.placeholder((4, 5), name="A")
    k = te.reduce_axis((0, 5), name="k")
    C = te.compute((4,), lambda i: te.sum(A[i, k], axis=k), name="C")
    assert C.op.body[0] is C.op.body[-1] and str(C.op.body[0]) == "sum(A[i, k], axis=[k])"
    assert isinstance(C.op.body[0], te.Reduce)
    T0, T1 = te.compute((4,), lambda i: (A[i, 0] * 2.0, A[i, 1] + 1.0), name="T")
    assert str(T0.op.body[0]) == "A[i, 0] * 2.0" and str(T0.op.body[1]) == "A[i, 1] + 1.0"
    with pytest.raises(IndexError, match=r"^C\.op\.body\[1\]: C has 1 body\(ies\), numbered 0\.\.0$"):
        C.op.body[1]
    with pytest.raises(TypeError, match=r"^C\.op\.body\['x'\]: index the list of bodies with an int$"):
        C.op.body["x"]


def test_other_expressions_stay_unsubscriptable_and_no_expression_iterates():
    A = te.placeholder((4, 5), name="A")
    with pytest.raises(TypeError, match=r"^'TensorLoad' object is not subscriptable: only a compute's op\.body is "
                                        r"\(TVM's list of bodies, op\.body\[0\]\); got A\[0, 1\]\[2\]$"):
        A[0, 1][2]
    C = te.compute((4,), lambda i: A[i, 0] + 1.0, name="C")
    with pytest.raises(TypeError, match="is not iterable"):
        list(C.op.body)


def test_outputs_operations_and_value_indices():
    A = te.placeholder((4,), name="A")
    T0, T1 = te.compute((4,), lambda i: (A[i] * 2.0, A[i] + 1.0), name="T")
    B = te.compute((4,), lambda i: T0[i] + T1[i], name="B")
    s = te.create_schedule([B.op, T1.op])
    assert s.outputs == (B.op, T0.op) and s.outputs[0].output(0) is B
    assert s.outputs[1].num_outputs == 2 and s.outputs[1].output(1) is T1
    assert (T0.value_index, T1.value_index, B.value_index) == (0, 1, 0) and B.op.num_outputs == 1
    assert s.output_tensors == (B, T0, T1)


def test_power_of_two_integers_is_refused_as_tvm_refuses_it(rng):
    A = te.placeholder((6,), name="A", dtype="int32")
    with pytest.raises(te.DefinitionError, match=r"^power\(A\[i\], 2\): power applies to floats only, and both "
                                                 r"operands are int32; make one a float, e\.g\. "
                                                 r"power\(x\.astype\('float32'\), y\), or write x \*\* y for an "
                                                 r"integer power$"):
        te.compute((6,), lambda i: te.power(A[i], 2), name="B")
    B = te.compute((6,), lambda i: te.power(A[i], 2.0), name="B")  # int with float: float, as in TVM
    C = te.compute((6,), lambda i: A[i] ** 2, name="C")
    f = tvm.build(te.create_schedule([B.op, C.op]), [A, B, C])
    a, b, c = uniform(rng, (6,), "int32"), empty((6,), "float32"), empty((6,), "int32")
    f(a, b, c)
    close(b, a.astype(np.float64) ** 2)
    close(c, a ** 2)


def test_an_output_left_out_of_the_arguments_is_computed_into_a_temporary():
    """TVM's ``test_schedule_scan``: lowered with only the scan's state listed."""
    m, n = te.var("m"), te.var("n")
    x = te.compute((m, n), lambda i, j: te.const(1, "float32"), name="x")
    s_state = te.placeholder((m, n), name="s_state")
    s_init = te.compute((1, n), lambda _, i: x[0, i], name="s_init")
    s_update = te.compute((m, n), lambda t, i: s_state[t - 1, i] + x[t, i], name="s_update")
    res = te.scan(s_init, s_update, s_state)
    s = te.create_schedule(res.op).normalize()
    assert str(tvm.lower(s, [s_state])) == """func main(s_state: float32[m, n]) {
  allocate scan: float32[m, n] in global
  allocate x: float32[m, n] in global
  for i in 0..m:
    for j in 0..n:
      x[i, j] = 1.0
  for i in 0..n:
    scan[0, i] = x[0, i]
  for t in 1..m:
    for i in 0..n:
      scan[t, i] = scan[t - 1, i] + x[t, i]
}"""
    A = te.placeholder((5,), name="A")
    B = te.compute((5,), lambda i: A[i] + 1.0, name="B")
    C = te.compute((5,), lambda i: B[i] * 2.0, name="C")
    b = empty((5,), "float32")
    a = np.arange(5, dtype="float32")
    tvm.build(te.create_schedule(C.op), [A, B])(a, b)
    close(b, a + 1)


def test_the_lowered_module_prints_as_tvms_does(capsys):
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] + 1.0, name="B")
    s = te.create_schedule(B.op)
    s[B].vectorize(B.op.axis[0])
    mod = tvm.lower(s, [A, B], simple_mode=True)
    golden = """func main(A: float32[8], B: float32[8]) {
  vectorized for i in 0..8:
    B[i] = A[i] + 1.0
}"""
    assert str(mod) == mod.script() == mod.astext() == golden
    mod.show()
    assert capsys.readouterr().out == golden + "\n"
