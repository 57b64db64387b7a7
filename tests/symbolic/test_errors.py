"""Every error of symbolic extents: definitions, schedules, lowering, and binding at the call."""

import numpy as np
import pytest

import nestor as ns

F32 = np.float32


def test_var_name_must_be_an_identifier():
    with pytest.raises(ns.DefinitionError, match=r"var\('2n'\): the name must be an identifier"):
        ns.var("2n")


def test_var_dtype_must_be_an_integer_or_a_float():
    with pytest.raises(ns.DefinitionError, match="^var n: dtype bool is not an integer type; use 'int32'$"):
        ns.var("n", dtype="bool")


def test_size_var_dtype_must_be_an_integer():
    with pytest.raises(ns.DefinitionError, match=r"^size_var n: dtype float32 is not an integer type; use 'int32' "
                       r"\(a float scalar parameter is var\('n', 'float32'\), a size is an integer\)$"):
        ns.size_var("n", dtype="float32")


def test_size_var_divisor_must_be_positive():
    with pytest.raises(ns.DefinitionError, match=r"size_var n: divisor=0 must be a positive int"):
        ns.size_var("n", divisor=0)


def test_assume_needs_a_condition_on_size_variables():
    with pytest.raises(ns.DefinitionError, match=r"assume\(n \+ 1\): the condition must be a comparison"):
        ns.assume(ns.var("n") + 1)


def test_float_dimension_is_refused():
    n = ns.var("n")
    with pytest.raises(ns.DefinitionError, match=r"placeholder A: the dimension .* must be an int or an "
                       r"integer expression of size variables"):
        ns.placeholder((n * 1.5,), name="A")


def test_a_loop_variable_is_not_an_extent():
    """Only the compute being defined may use its own index in a reduce range (TVM's triangular
    ranges, tests/tensorir/test_dependent_ranges.py); another compute's index is refused."""
    A = ns.placeholder((4,), name="A")
    other = ns.compute((4,), lambda i: A[i], name="other")
    with pytest.raises(ns.DefinitionError, match=r"the upper bound i uses i, which is neither a size variable "
                       r"nor an index of the compute being defined"):
        ns.compute((4,), lambda j: ns.sum(A[j], axis=ns.reduce_axis((0, other.op.axis[0]), name="k")), name="B")
    B = ns.compute((4,), lambda i: ns.sum(A[i], axis=ns.reduce_axis((0, i), name="k")), name="B")
    a = np.arange(1, 5, dtype=np.float32)
    out = np.full(4, np.nan, np.float32)
    ns.build(ns.create_schedule(B), [A, B], target="interp")(a, out)
    np.testing.assert_array_equal(out, a * np.arange(4))


def test_symbolic_lower_bound_of_a_reduce_axis():
    n = ns.var("n")
    with pytest.raises(ns.DefinitionError, match=r"reduce_axis k: the lower bound n is symbolic; start the "
                       r"range at an int and shift the index instead"):
        ns.reduce_axis((n, n + 4), name="k")


def test_split_by_nparts_of_a_symbolic_loop_makes_a_symbolic_inner_loop():
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] + 1, name="B")
    s = ns.create_schedule(B)
    outer, inner = s[B].split(B.op.axis[0], nparts=4)
    assert outer.extent == 4 and str(inner.extent) == "(n - 1) // 4 + 1"
    with pytest.raises(ns.LoweringError, match=r"loop i\.inner of stage B is vectorized but its extent \(n - 1\) "
                       r"// 4 \+ 1 is symbolic; split it by a constant factor and vectorize the inner loop"):
        s[B].vectorize(inner)
        ns.lower(s, [A, B])


def _scaled():
    n, c = ns.var("n"), ns.var("c")
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] * c, name="B")
    return n, c, A, B, ns.create_schedule(B)


def test_a_variable_in_no_shape_must_be_an_argument():
    _, _, A, B, s = _scaled()
    with pytest.raises(ns.LoweringError, match=r"lower main: the size variable\(s\) c appear in no argument's "
                       r"shape, so a call cannot bind them; pass them as arguments after the tensors"):
        ns.lower(s, [A, B])


def test_a_variable_of_a_shape_may_also_be_an_argument_as_in_tvm():
    import numpy as np

    n, c, A, B, s = _scaled()
    f = ns.build(s, [A, B, c, n], target="interp")
    a, b = np.arange(5, dtype=np.float32), np.zeros(5, np.float32)
    f(a, b, 3, 5)
    np.testing.assert_allclose(b, 3 * a)
    with pytest.raises(ns.ArgumentError, match=r"main: the size variable n is passed as 4 but argument 0 has 5 "
                       r"in dimension 0; pass the arrays' own extents"):
        f(a, b, 3, 4)


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_explicit_scalar_argument(target):
    _, c, A, B, s = _scaled()
    f = ns.build(s, [A, B, c], target=target)
    a = np.arange(4, dtype=F32)
    b = np.zeros(4, F32)
    f(a, b, 7)
    np.testing.assert_allclose(b, a * 7)
    with pytest.raises(ns.ArgumentError, match=r"main: expected 3 arguments \(A, B, c\), got 2"):
        f(a, b)
    with pytest.raises(ns.ArgumentError, match="main: the size variable c must be passed as an int, got float 7.5"):
        f(a, b, 7.5)
    with pytest.raises(ns.ArgumentError, match=r"main: the size variable c=4294967296 does not fit int32"):
        f(a, b, 2**32)


def _build(shape_of_b, target="interp"):
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    B = ns.compute(shape_of_b(n), lambda i: A[i], name="B")
    return ns.build(ns.create_schedule(B), [A, B], target=target)


def test_wrong_shape_names_the_values():
    f = _build(lambda n: (n - 2,))
    with pytest.raises(ns.ArgumentError,
                       match=r"main: argument B must have shape \[3\] \(\[n - 2\] with n=5\), got \[4\]"):
        f(np.zeros(5, F32), np.zeros(4, F32))


def test_a_dimension_below_one():
    f = _build(lambda n: (n - 2,))
    with pytest.raises(ns.ArgumentError, match=r"main: dimension 0 of B, n - 2, is 0 when n=2; every "
                       r"dimension must be at least 1"):
        f(np.zeros(2, F32), np.zeros(0, F32))


def test_rank_mismatch():
    f = _build(lambda n: (n,))
    with pytest.raises(ns.ArgumentError, match=r"main: argument 0 \(A\) must have shape \[n\], got \[2, 2\]"):
        f(np.zeros((2, 2), F32), np.zeros(4, F32))


def test_variable_solved_from_an_expression():
    n = ns.var("n")
    A = ns.placeholder((n + 1,), name="A")
    B = ns.compute((n,), lambda i: A[i + 1] - A[i], name="B")
    f = ns.build(ns.create_schedule(B), [A, B], target="interp")
    a = np.array([1, 4, 9, 16], F32)
    b = np.zeros(3, F32)
    f(a, b)
    np.testing.assert_allclose(b, np.diff(a))
    with pytest.raises(ns.ArgumentError,
                       match=r"main: argument A must have shape \[6\] \(\[n \+ 1\] with n=5\), got \[4\]"):
        f(a, np.zeros(5, F32))


def test_no_value_solves_a_dimension():
    m = ns.var("m")
    A = ns.placeholder((2 * m,), name="A")
    B = ns.compute((2 * m,), lambda i: A[i], name="B")
    f = ns.build(ns.create_schedule(B), [A, B], target="interp")
    with pytest.raises(ns.ArgumentError, match=r"main: no value of the size variable m makes dimension 2 \* m of "
                       r"A \(dimension 0\) equal 5"):
        f(np.zeros(5, F32), np.zeros(5, F32))


def test_a_variable_that_no_shape_gives():
    n = ns.var("n")
    A = ns.placeholder((n // 2,), name="A")
    B = ns.compute((n // 2,), lambda i: A[i], name="B")
    f = ns.build(ns.create_schedule(B), [A, B], target="interp")
    with pytest.raises(ns.ArgumentError, match=r"main: no value of the size variable n makes dimension n // 2"):
        f(np.zeros(3, F32), np.zeros(3, F32))


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_divisor_violated(target):
    n = ns.size_var("n", divisor=16)
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] + 1, name="B")
    f = ns.build(ns.create_schedule(B), [A, B], target=target)
    with pytest.raises(ns.ArgumentError, match=r"main: the size_var n is 10, not a multiple of its declared "
                       r"divisor 16; pass a size that 16 divides"):
        f(np.zeros(10, F32), np.zeros(10, F32))


def test_size_var_negative():
    n, c = ns.var("n"), ns.size_var("c")
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] * c, name="B")
    f = ns.build(ns.create_schedule(B), [A, B, c], target="interp")
    with pytest.raises(ns.ArgumentError, match=r"main: the size_var c is -1, but a size_var is at least 0"):
        f(np.zeros(3, F32), np.zeros(3, F32), -1)


def test_assumption_violated():
    n = ns.var("n")
    ns.assume(n % 4 == 0)
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] + 1, name="B")
    f = ns.build(ns.create_schedule(B), [A, B], target="llvm")
    with pytest.raises(ns.ArgumentError, match=r"main: the assumption n % 4 == 0 does not hold with n=6; the "
                       r"kernel was compiled relying on it"):
        f(np.zeros(6, F32), np.zeros(6, F32))


def test_split_of_a_symbolic_loop_by_a_huge_factor():
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] + 1, name="B")
    s = ns.create_schedule(B)
    with pytest.raises(ns.ScheduleError, match=r"split\(i, factor=4611686018427387904\): the extent of i is the "
                       r"symbolic n, and the inner loop would run \(guarded\) all 4611686018427387904 iterations "
                       r"whatever the size.*use a factor of at most 65536"):
        s[B].split(B.op.axis[0], factor=2**62)


def test_vectorize_a_symbolic_loop():
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] + 1, name="B")
    s = ns.create_schedule(B)
    s[B].vectorize(B.op.axis[0])
    with pytest.raises(ns.LoweringError, match=r"lower: loop i of stage B is vectorized but its extent n is "
                       r"symbolic; split it by a constant factor and vectorize the inner loop"):
        ns.lower(s, [A, B])


def test_symbolic_gpu_temporary():
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] + 1, name="B")
    C = ns.compute((n,), lambda i: B[i] * 2, name="C")
    s = ns.create_schedule(C)
    for stage in (B, C):
        o, i = s[stage].split(stage.op.axis[0], factor=32)
        s[stage].bind(o, "blockIdx.x")
        s[stage].bind(i, "threadIdx.x")
    with pytest.raises(ns.CodegenError, match=r"cuda main: buffer B \(scope global\) has the symbolic shape \[n\]; "
                       r"GPU temporaries need a constant size"):
        ns.build(s, [A, C], target="cuda")


def test_raw_call_of_a_symbolic_kernel_needs_the_sizes():
    n = ns.var("n")
    A = ns.placeholder((n,), name="A")
    B = ns.compute((n,), lambda i: A[i] + 1, name="B")
    f = ns.build(ns.create_schedule(B), [A, B], target="llvm")
    a, b = np.arange(3, dtype=F32), np.zeros(3, F32)
    with pytest.raises(ns.ArgumentError, match=r"main: call_unchecked takes 3 values \(A, B, n\): the buffer "
                       r"addresses, then the size variables; got 2"):
        f.call_unchecked(a.ctypes.data, b.ctypes.data)
    f.call_unchecked(a.ctypes.data, b.ctypes.data, 3)
    np.testing.assert_allclose(b, a + 1)
