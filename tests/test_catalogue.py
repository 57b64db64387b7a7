"""Every catalogue operator under the default schedule, run by the interpreter against numpy;
the printed nests of matmul and softmax; the definition objects and dtype promotion."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from tests.catalogue import CATALOGUE, Operator, assert_outputs_match, by_name, run_module


def _build(op: Operator):
    return ns.build(ns.create_schedule(op.outputs), op.args, target="interp", name=op.name)


@pytest.mark.parametrize("builder", CATALOGUE, ids=lambda b: b.__name__)
def test_default_schedule_matches_numpy(builder, rng):
    op = builder()
    inputs = op.make_inputs(rng)
    assert_outputs_match(run_module(_build(op), op, inputs), op.reference(inputs))


@pytest.mark.parametrize("builder", CATALOGUE, ids=lambda b: b.__name__)
def test_parameters_follow_the_arguments(builder):
    op = builder()
    func = ns.lower(ns.create_schedule(op.outputs), op.args, name=op.name)
    assert func.name == op.name
    assert [p.name for p in func.params] == [t.name for t in op.args]
    assert [p.shape for p in func.params] == [t.shape for t in op.args]
    assert [p.dtype for p in func.params] == [t.dtype for t in op.args]


def test_catalogue_names_are_unique():
    names = [builder().name for builder in CATALOGUE]
    assert len(set(names)) == len(names)
    assert by_name("softmax").name == "softmax"


def test_builders_return_fresh_tensors():
    first, second = by_name("matmul"), by_name("matmul")
    assert not set(map(id, first.args)) & set(map(id, second.args))


def test_module_can_be_called_again_with_new_inputs(rng):
    op = by_name("layer_norm")
    module = _build(op)
    for _ in range(2):
        inputs = op.make_inputs(rng)
        assert_outputs_match(run_module(module, op, inputs), op.reference(inputs))


# golden text -------------------------------------------------------------------------------
MATMUL_NEST = """\
func matmul(A: float32[64, 32], B: float32[48, 32], C: float32[64, 48]) {
  for i in 0..64:
    for j in 0..48:
      C[i, j] = 0.0
      for k in 0..32:
        C[i, j] = C[i, j] + A[i, k] * B[j, k]
}"""

SOFTMAX_NEST = """\
func softmax(X: float32[5, 13], Y: float32[5, 13]) {
  allocate rowmax: float32[5] in global
  allocate expsum: float32[5] in global
  for i in 0..5:
    rowmax[i] = -3.4028235e+38
    for k in 0..13:
      rowmax[i] = max(rowmax[i], X[i, k])
  for i in 0..5:
    expsum[i] = 0.0
    for k in 0..13:
      expsum[i] = expsum[i] + exp(X[i, k] - rowmax[i])
  for i in 0..5:
    for j in 0..13:
      Y[i, j] = exp(X[i, j] - rowmax[i]) / expsum[i]
}"""


def _matmul_bt():
    A = ns.placeholder((64, 32), name="A")
    B = ns.placeholder((48, 32), name="B")
    k = ns.reduce_axis(32, "k")
    C = ns.compute((64, 48), lambda i, j: ns.sum(A[i, k] * B[j, k], axis=k), name="C")
    return A, B, C, k


def test_matmul_nest_golden():
    A, B, C, _ = _matmul_bt()
    assert str(ns.lower(ns.create_schedule(C), [A, B, C], name="matmul")) == MATMUL_NEST


def test_softmax_nest_golden():
    op = by_name("softmax")
    assert str(ns.lower(ns.create_schedule(op.outputs), op.args, name="softmax")) == SOFTMAX_NEST


def test_lowering_is_deterministic():
    op = by_name("conv2d_pad")
    first = str(ns.lower(ns.create_schedule(op.outputs), op.args))
    assert first == str(ns.lower(ns.create_schedule(op.outputs), op.args))


def test_module_source_is_the_printed_nest():
    op = by_name("softmax")
    assert _build(op).source == SOFTMAX_NEST


# definition objects ------------------------------------------------------------------------
def test_compute_tensor_attributes():
    A, B, C, k = _matmul_bt()
    assert C.shape == (64, 48)
    assert C.ndim == 2
    assert C.dtype is ns.DType.FLOAT32
    assert C.name == "C"
    assert [iv.name for iv in C.op.axis] == ["i", "j"]
    assert [(iv.min, iv.extent) for iv in C.op.axis] == [(0, 64), (0, 48)]
    assert C.op.reduce_axis == (k,)
    assert (k.name, k.min, k.extent) == ("k", 0, 32)
    assert C.op.inputs == (A, B)
    assert A.op.inputs == ()


def test_elementwise_compute_has_no_reduce_axis():
    X = ns.placeholder((3, 4), name="X")
    Y = ns.compute((3, 4), lambda i, j: X[i, j] + 1.0, name="Y")
    assert Y.op.reduce_axis == ()
    assert Y.op.inputs == (X,)


def test_placeholder_defaults():
    A = ns.placeholder(7)
    assert A.shape == (7,)
    assert A.dtype is ns.DType.FLOAT32
    assert A.name


def test_dtype_spellings_are_equivalent():
    for spelling in ("int32", np.int32, np.dtype("int32"), ns.DType.INT32):
        assert ns.placeholder((2,), spelling, name="P").dtype is ns.DType.INT32


# dtype promotion -----------------------------------------------------------------------------
def _body_dtype(fcompute, *dtypes):
    tensors = [ns.placeholder((7,), d, name=f"T{n}") for n, d in enumerate(dtypes)]
    return ns.compute((7,), lambda i: fcompute(*(t[i] for t in tensors))).dtype


@pytest.mark.parametrize("fcompute, dtypes, expected", [
    (lambda a, b: a + b, ("int32", "float32"), "float32"),
    (lambda a, b: a * b, ("float32", "float64"), "float64"),
    (lambda a, b: a - b, ("int32", "int64"), "int64"),
    (lambda a, b: a / b, ("int32", "int32"), "float32"),
    (lambda a, b: a // b, ("int32", "int32"), "int32"),
    (lambda a, b: a % b, ("int64", "int32"), "int64"),
    (lambda a, b: a < b, ("int32", "float32"), "bool"),
    (lambda a, b: ns.equal(a, b), ("float32", "float32"), "bool"),
    (lambda a: a + 1, ("int32",), "int32"),
    (lambda a: a + 1.5, ("int32",), "float32"),
    (lambda a: a * 2.0, ("float64",), "float64"),
    (lambda a: ns.exp(a), ("int32",), "float32"),
    (lambda a: ns.abs(a), ("int32",), "int32"),
    (lambda a: a.astype("float64"), ("int32",), "float64"),
    (lambda a: a.astype(np.int32), ("float32",), "int32"),
    (lambda a: (a > 0).astype("float32"), ("float32",), "float32"),
])
def test_promotion(fcompute, dtypes, expected):
    assert _body_dtype(fcompute, *dtypes) is ns.DType(expected)


def _run_elementwise(fcompute, arrays, out_dtype=None):
    tensors = [ns.placeholder(a.shape, a.dtype, name=f"T{n}") for n, a in enumerate(arrays)]
    out = ns.compute(arrays[0].shape, lambda i: fcompute(*(t[i] for t in tensors)), name="out")
    module = ns.build(ns.create_schedule(out), [*tensors, out])
    result = np.zeros(out.shape, out.dtype.numpy)
    module(*arrays, result)
    return result


def test_floor_division_and_modulo_follow_numpy_on_negatives():
    a = np.array([-7, -7, 7, 7, -6, 0, -1, 5], dtype=np.int32)
    b = np.array([2, -2, 2, -2, 3, 3, 4, -3], dtype=np.int32)
    np.testing.assert_array_equal(_run_elementwise(lambda x, y: x // y, [a, b]), a // b)
    np.testing.assert_array_equal(_run_elementwise(lambda x, y: x % y, [a, b]), a % b)
    np.testing.assert_array_equal(_run_elementwise(lambda x: x // 4, [a]), a // 4)
    np.testing.assert_array_equal(_run_elementwise(lambda x: x % 4, [a]), a % 4)


def test_float_floor_division_and_modulo_follow_numpy():
    a = np.array([-7.5, -7.0, 7.5, 0.25, -0.25], dtype=np.float32)
    np.testing.assert_allclose(_run_elementwise(lambda x: x // 2.0, [a]), a // 2)
    np.testing.assert_allclose(_run_elementwise(lambda x: x % 2.0, [a]), a % 2)


def test_integer_true_division_gives_float32():
    a = np.array([7, -7, 1, 0], dtype=np.int32)
    b = np.array([2, 2, 3, 5], dtype=np.int32)
    result = _run_elementwise(lambda x, y: x / y, [a, b])
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, (a / b).astype(np.float32))


def test_comparison_gives_bool_and_astype_converts():
    a = np.array([-1.5, 0.0, 2.5, 3.0], dtype=np.float32)
    flags = _run_elementwise(lambda x: x > 0, [a])
    assert flags.dtype == np.bool_
    np.testing.assert_array_equal(flags, a > 0)
    np.testing.assert_array_equal(_run_elementwise(lambda x: (x > 0).astype("float32"), [a]),
                                  (a > 0).astype(np.float32))
    # float to int truncates toward zero, like C and numpy's astype
    np.testing.assert_array_equal(_run_elementwise(lambda x: x.astype("int32"), [a]), a.astype(np.int32))


def test_mixed_int_float_arithmetic_runs():
    a = np.array([1, -2, 3], dtype=np.int32)
    b = np.array([0.5, 0.25, -1.0], dtype=np.float32)
    np.testing.assert_allclose(_run_elementwise(lambda x, y: x + y, [a, b]), a + b)


def test_if_then_else_promotes_its_branches():
    a = np.array([-2, 0, 3], dtype=np.int32)
    result = _run_elementwise(lambda x: ns.if_then_else(x > 0, x, 0.5), [a])
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, np.where(a > 0, a, 0.5).astype(np.float32))


# reduce_axis with a lower bound ----------------------------------------------------------------
def test_reduce_axis_with_bounds():
    n = 13
    A = ns.placeholder((n + 4,), name="A")
    r = ns.reduce_axis((-2, 3), "r")
    assert (r.min, r.extent) == (-2, 5)
    B = ns.compute((n,), lambda i: ns.sum(A[i + 2 + r], axis=r), name="B")
    func = ns.lower(ns.create_schedule(B), [A, B], name="window")
    assert "for r in -2..3:" in str(func)
    a = np.random.default_rng(3).uniform(-1, 1, n + 4).astype(np.float32)
    b = np.zeros(n, np.float32)
    ns.build(func)(a, b)
    np.testing.assert_allclose(b, sum(a[d:d + n].astype(np.float64) for d in range(5)), rtol=1e-5)


def test_reduce_axis_default_range_starts_at_zero():
    k = ns.reduce_axis(6)
    assert (k.min, k.extent) == (0, 6)
    assert k.name
