"""Bad input to the public API (``import nestor as ns``) is refused at the call with a
NestorError that names what was wrong: every public function given values of the wrong kind,
``build``/``lower``/``create_schedule`` given nonsense, shapes too large to address, and built
kernels (llvm and the interpreter) called with the wrong arrays. Never a Python error from deep
inside, never a hang, never a silently wrong value."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import nestor as ns
from tensorir.errors import (
    ArgumentError,
    DefinitionError,
    LoweringError,
    NestorError,
    OutOfBoundsError,
    ScheduleError,
)

#: values of the wrong kind for any argument
BAD = [None, "x", 1.5, -1, 0, 10**30, float("nan"), float("inf"), [1, 2], (), {}, object(), np.ones(3), True]
#: public names that are not functions of values (types, modules, context managers)
NOT_FUNCTIONS = {"Tensor", "PrimFunc", "Stage", "autotune", "DType", "tag_scope"}


def _public_functions() -> list[str]:
    names = []
    for name in ns.__all__:
        item = getattr(ns, name)
        if callable(item) and name not in NOT_FUNCTIONS and not (
                isinstance(item, type) and issubclass(item, BaseException)):
            names.append(name)
    return names


def _required(function) -> int:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 1
    return max(1, sum(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                      for p in parameters))


@pytest.mark.parametrize("name", _public_functions())
def test_every_public_function_refuses_values_of_the_wrong_kind_with_a_nestor_error(name):
    """Each required argument in turn gets each bad value (the others a valid expression): the
    call either works or raises a NestorError, never another exception from inside."""
    function = getattr(ns, name)
    A = ns.placeholder((4, 5), name="A")
    count = _required(function)
    for slot in range(count):
        for bad in BAD:
            args = [bad if n == slot else A[0, 0] for n in range(count)]
            try:
                function(*args)
            except NestorError:
                pass
            except Exception as error:  # noqa: BLE001 - the failure this test looks for
                pytest.fail(f"ns.{name}: argument {slot} = {bad!r:.40} raised {type(error).__name__}: {error}")


def _matmul():
    A, B = ns.placeholder((6, 4), name="A"), ns.placeholder((4, 3), name="B")
    k = ns.reduce_axis((0, 4), name="k")
    C = ns.compute((6, 3), lambda i, j: ns.sum(A[i, k] * B[k, j], axis=k), name="C")
    return ns.create_schedule(C), [A, B, C]


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda s, args: ns.build(s, args, name=5), LoweringError,
     "lower: name=5 is not a kernel name; pass a non-empty string, e.g. name='matmul'"),
    (lambda s, args: ns.build(s, args, name="  "), LoweringError, "lower: name='  ' is not a kernel name"),
    (lambda s, args: ns.lower(s, args, name=None), LoweringError, "lower: name=None is not a kernel name"),
    (lambda s, args: ns.lower(s, args, binds=np.ones(3)), LoweringError,
     "lower: binds= (buffer declarations) is not supported"),
    (lambda s, args: ns.build(s, None), LoweringError, "build: pass the argument tensors, e.g. build(s, [A, B, C])"),
    (lambda s, args: ns.build("s", args), LoweringError,
     "lower: expected a schedule from ns.create_schedule(...), got str"),
    (lambda s, args: ns.build(s, args, target="tpu"), NestorError, "tpu"),
    (lambda s, args: ns.create_schedule(3), ScheduleError,
     "create_schedule: expected a tensor, an operation or a list of them, got int 3; pass the tensors to "
     "compute, e.g. create_schedule(C) or create_schedule([C, D])"),
    (lambda s, args: ns.create_schedule("C"), ScheduleError, "create_schedule: expected a tensor, an operation"),
    (lambda s, args: ns.create_schedule([args[2], 1.5]), ScheduleError, "create_schedule: 1.5 is not a tensor"),
    (lambda s, args: ns.Schedule(None), ScheduleError,
     "Schedule: expected a list of output tensors, got NoneType None; e.g. Schedule([C])"),
    (lambda s, args: ns.Schedule(["C"]), ScheduleError, "Schedule: 'C' is not a tensor; pass the tensors"),
    (lambda s, args: ns.max_value(args[0]), DefinitionError, "max_value: dtype"),
    (lambda s, args: ns.min_value(args[0]), DefinitionError, "min_value: dtype"),
])
def test_build_lower_and_schedules_refuse_nonsense_at_the_call(call, error, message):
    s, args = _matmul()
    with pytest.raises(error) as caught:
        call(s, args)
    assert message in str(caught.value)


@pytest.mark.parametrize(("make", "elements"), [
    (lambda: ns.placeholder((10**30,), name="A"), 10**30),
    (lambda: ns.placeholder((2**40, 2**40), name="A"), 2**80),
    (lambda: ns.compute((2**62, 4), lambda i, j: i + j, name="A"), 2**64),
])
def test_shapes_too_large_to_address_are_refused_where_they_are_defined(make, elements):
    with pytest.raises(DefinitionError) as caught:
        make()
    message = str(caught.value)
    assert f"has {elements} elements, more than the {(2**63 - 1) // 8} (2**60 - 1) a buffer can address" in message
    assert "use smaller dimensions" in message


def test_a_shape_just_under_the_limit_is_accepted():
    A = ns.placeholder((2**30, 2**29), name="A")
    assert A.shape == (2**30, 2**29)


# -- built kernels called with the wrong arrays --------------------------------------------------------

def _arrays():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32),
            np.zeros((6, 3), np.float32))


def _read_only(array):
    array = array.copy()
    array.flags.writeable = False
    return array


#: (arguments from good a, b, c) -> the start of the error's message
WRONG_ARGUMENTS = {
    "too_few": (lambda a, b, c: (a, b), "main: expected 3 arrays (A, B, C), got 2"),
    "too_many": (lambda a, b, c: (a, b, c, c), "main: expected 3 arrays (A, B, C), got 4"),
    "shape": (lambda a, b, c: (a[:2], b, c), "main: argument 0 (A) must have shape [6, 4], got [2, 4]"),
    "dtype": (lambda a, b, c: (a.astype(np.float64), b, c),
              "main: argument 0 (A) must have dtype float32, got float64; convert it with .astype(np.float32)"),
    "big_endian": (lambda a, b, c: (a.astype(">f4"), b, c), "main: argument 0 (A) must have dtype float32, got >f4"),
    "strided": (lambda a, b, c: (np.repeat(a, 2, axis=1)[:, ::2], b, c),
                "main: argument 0 (A) must be C-contiguous; pass np.ascontiguousarray(...) of it"),
    "fortran": (lambda a, b, c: (np.asfortranarray(a), b, c), "main: argument 0 (A) must be C-contiguous"),
    "read_only_output": (lambda a, b, c: (a, b, _read_only(c)),
                         "main: argument 2 (C) is written by the kernel but the array is read-only; pass a "
                         "writable array, e.g. a .copy() of it"),
    "list": (lambda a, b, c: (a.tolist(), b, c), "main: argument 0 (A) must be a numpy array float32[6, 4], got list"),
    "none": (lambda a, b, c: (None, b, c), "main: argument 0 (A) must be a numpy array float32[6, 4], got NoneType"),
    "memoryview": (lambda a, b, c: (memoryview(a), b, c), "got memoryview"),
    "zero_d": (lambda a, b, c: (np.array(1.0, np.float32), b, c),
               "main: argument 0 (A) has rank 0 (shape []) but the parameter has rank 2 (shape [6, 4]); reshape "
               "it to [6, 4]"),
    "empty": (lambda a, b, c: (a[:0], b, c), "main: argument 0 (A) must have shape [6, 4], got [0, 4]"),
    "masked": (lambda a, b, c: (np.ma.masked_array(a, mask=a > 0), b, c),
               "main: argument 0 (A) is a masked array; a kernel reads every element and would ignore its mask: "
               "pass array.filled(value)"),
}


@pytest.mark.parametrize("target", ["llvm", "interp"])
@pytest.mark.parametrize("case", sorted(WRONG_ARGUMENTS))
def test_a_kernel_called_with_the_wrong_arrays_says_which_and_how_to_fix_it(target, case):
    s, args = _matmul()
    kernel = ns.build(s, args, target=target)
    make, message = WRONG_ARGUMENTS[case]
    a, b, c = _arrays()
    with pytest.raises(ArgumentError) as caught:
        kernel(*make(a, b, c))
    assert message in str(caught.value)
    np.testing.assert_array_equal(c, 0.0)  # nothing was written


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix, on purpose
@pytest.mark.parametrize("target", ["llvm", "interp"])
@pytest.mark.parametrize("kind", ["read_only_input", "matrix", "nan", "subclass_view"])
def test_a_kernel_reads_what_numpy_would_from_arrays_it_accepts(target, kind):
    """A read-only input, ``np.matrix`` (its ``*`` is a product: the kernel must read plain
    elements), NaN (propagated) and an ndarray subclass give numpy's values."""
    s, args = _matmul()
    kernel = ns.build(s, args, target=target)
    a, b, c = _arrays()
    if kind == "nan":
        a[2, 1] = np.nan
    given = {"read_only_input": _read_only(a), "matrix": np.asmatrix(a), "nan": a,
             "subclass_view": a.view(type("Sub", (np.ndarray,), {}))}[kind]
    kernel(given, b, c)
    np.testing.assert_allclose(c, np.asarray(a) @ b, rtol=1e-5)
    if kind == "nan":
        assert np.isnan(c[2]).all() and not np.isnan(np.delete(c, 2, axis=0)).any()


@pytest.mark.parametrize("target", ["llvm", "interp"])
def test_symbolic_dimensions_that_disagree_or_are_zero_are_refused(target):
    m = ns.size_var("m")
    X, Y = ns.placeholder((m, 4), name="X"), ns.placeholder((m, 4), name="Y")
    Z = ns.compute((m, 4), lambda i, j: X[i, j] + Y[i, j], name="Z")
    kernel = ns.build(ns.create_schedule(Z), [X, Y, Z], target=target)
    ones = np.ones((3, 4), np.float32)
    with pytest.raises(ArgumentError, match=r"main: the size variable m is 3 from X \(dimension 0\) but 5 from Y "
                                            r"\(dimension 0\); pass arrays whose shapes agree on m"):
        kernel(ones, np.ones((5, 4), np.float32), np.zeros((3, 4), np.float32))
    with pytest.raises(ArgumentError, match=r"the size variable m is 3 from Y \(dimension 0\) but 2 from Z"):
        kernel(ones, ones, np.zeros((2, 4), np.float32))
    with pytest.raises(ArgumentError, match=r"main: dimension 0 of X, m, is 0 when m=0; every dimension must be at "
                                            r"least 1, so pass larger arrays"):
        kernel(ones[:0], ones[:0], np.zeros((0, 4), np.float32))
    out = np.zeros((3, 4), np.float32)
    kernel(ones, ones * 2, out)
    np.testing.assert_array_equal(out, 3.0)


@pytest.mark.parametrize("target", ["llvm", "interp"])
@pytest.mark.parametrize("index", [10, -1, 2**31 - 1, -(2**31)])
def test_index_data_out_of_range_is_refused_when_the_kernel_runs(target, index):
    Ind, T = ns.placeholder((5,), dtype="int32", name="Ind"), ns.placeholder((10,), name="T")
    G = ns.compute((5,), lambda i: T[Ind[i]], name="G")
    kernel = ns.build(ns.create_schedule(G), [Ind, T, G], target=target)
    out = np.zeros(5, np.float32)
    with pytest.raises(OutOfBoundsError) as caught:
        kernel(np.array([0, 1, 2, 3, index], np.int32), np.arange(10, dtype=np.float32), out)
    assert (f"{target}: compute G: the access T[Ind[i]] reads dimension 0 of T (shape [10]) at index Ind[i] = {index}, "
            "outside 0..9; guard it with if_then_else(...), clamp or wrap it") in str(caught.value)
    kernel(np.array([0, 9, 2, 3, 4], np.int32), np.arange(10, dtype=np.float32), out)
    np.testing.assert_array_equal(out, [0, 9, 2, 3, 4])


@pytest.mark.parametrize("target", ["llvm", "interp"])
@pytest.mark.parametrize("name", ["floordiv", "floormod", "truncdiv", "truncmod"])
def test_integer_division_by_zero_in_data_gives_numpys_result_and_no_crash(target, name):
    """numpy's results (``x // 0 == 0``, ``x % 0 == 0``), as tensorir.dtypes documents; the
    hardware would trap (SIGFPE) on both and on ``INT_MIN // -1``."""
    P, Q = ns.placeholder((4,), dtype="int32", name="P"), ns.placeholder((4,), dtype="int32", name="Q")
    R = ns.compute((4,), lambda i: getattr(ns, name)(P[i], Q[i]), name="R")
    kernel = ns.build(ns.create_schedule(R), [P, Q, R], target=target)
    p = np.array([7, -7, -2**31, 5], np.int32)
    q = np.array([0, 0, -1, 2], np.int32)
    out = np.zeros(4, np.int32)
    kernel(p, q, out)
    with np.errstate(all="ignore"):
        if name.startswith("floor"):
            want = (p // q) if name == "floordiv" else (p % q)
        else:
            quotient = np.where(q == 0, 0, np.trunc(p.astype(np.float64) / np.where(q == 0, 1, q)))
            quotient = quotient.astype(np.int64).astype(np.int32)
            want = quotient if name == "truncdiv" else np.fmod(p, q)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize(("kind", "made_by"), [
    ("ComputeOp", "compute"), ("PlaceholderOp", "placeholder"), ("ScanOp", "scan"),
    ("PrimExpr", "arithmetic on variables, constants and tensor elements"),
])
def test_tvm_class_names_match_instances_and_refuse_construction(kind, made_by):
    """``te.ComputeOp`` & co. are for isinstance checks (TVM's programs use them so): they match
    Nestor's objects, and calling one names the function that makes such an object."""
    A = ns.placeholder((4,), name="A")
    B = ns.compute((4,), lambda i: A[i] + 1, name="B")
    instances = {"ComputeOp": B.op, "PlaceholderOp": A.op, "PrimExpr": A[0] + 1}
    cls = getattr(ns, kind)
    if kind in instances:
        assert isinstance(instances[kind], cls)
    assert not isinstance(3, cls)
    with pytest.raises(DefinitionError, match=rf"{kind}\(\.\.\.\): this name is for isinstance checks; make one "
                       rf"with {made_by}"):
        cls(None)
