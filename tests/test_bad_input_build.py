"""Bad input at build time, refused where it is written: compute definitions (out-of-range
constant indices, integer division by the constant 0, empty or negative shapes), schedule
primitives (split factors, reorders, compute_at cycles, stages and loops of another schedule),
``build`` (tensors outside the schedule, unknown targets, misspelt options and bad option
values). Names that clash with C, CUDA or LLVM words, very long and non-ASCII names compile and
run."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from backends.cuda.nvcc import compile_cuda
from tensorir.errors import DefinitionError, LoweringError, ScheduleError

A = ns.placeholder((8,), name="A")
I = ns.placeholder((8,), dtype="int32", name="I")  # noqa: E741 - a tensor's name


def _compute(body):
    return lambda: ns.compute((8,), body, name="B")


DEFINITIONS = {
    "index_past_the_end": (_compute(lambda i: A[9]),
                           "compute B: the access A[9] may go out of bounds: its index 0, 9, is 9 at every point, but "
                           "dimension 0 of A (shape [8]) has the range 0..8; guard it with if_then_else(...) or shrink "
                           "the ranges"),
    "negative_index": (_compute(lambda i: A[-1]), "compute B: the access A[-1] may go out of bounds"),
    "shifted_index": (_compute(lambda i: A[i + 1]), "its index 0, i + 1, is 8 at i=7"),
    "floordiv_by_0": (_compute(lambda i: I[i] // 0),
                      "compute B: I[i] // 0 divides by the constant 0; an integer division by zero gives 0 "
                      "everywhere, so this is surely not what was meant: divide by a non-zero value (or by a "
                      "tensor element that is zero only in some data)"),
    "floormod_by_0": (_compute(lambda i: I[i] % 0), "compute B: I[i] % 0 divides by the constant 0"),
    "truncdiv_by_0": (_compute(lambda i: ns.truncdiv(I[i], 0)),
                      "compute B: truncdiv(I[i], 0) divides by the constant 0"),
    "truncmod_by_0": (_compute(lambda i: ns.truncmod(I[i], 0)),
                      "compute B: truncmod(I[i], 0) divides by the constant 0"),
    "index_divided_by_0": (_compute(lambda i: A[i // 0]), "compute B: i // 0 divides by the constant 0"),
    "string_form_by_0": (lambda: ns.compute("B[i] = I[i] // 0", I=I), "compute B: I[i] // 0 divides by the constant 0"),
    "shape_0": (lambda: ns.compute((0,), lambda i: A[i], name="B"),
                "compute B: shape (0,) has the dimension 0; every dimension must be a positive int"),
    "shape_negative": (lambda: ns.placeholder((-3, 2), name="X"),
                       "placeholder X: shape (-3, 2) has the dimension -3; every dimension must be a positive int"),
}


@pytest.mark.parametrize("case", sorted(DEFINITIONS))
def test_a_bad_compute_definition_is_refused_where_it_is_written(case):
    make, message = DEFINITIONS[case]
    with pytest.raises(DefinitionError) as caught:
        make()
    assert message in str(caught.value)


@pytest.mark.parametrize("target", ["llvm", "interp"])
def test_float_division_by_zero_keeps_its_ieee_meaning(target):
    """``x / 0.0`` is inf (or nan), as numpy's: a float division by zero is refused nowhere."""
    B = ns.compute((8,), lambda i: A[i] / 0.0, name="B")
    kernel = ns.build(ns.create_schedule(B), [A, B], target=target)
    a, out = np.arange(8, dtype=np.float32) - 2, np.zeros(8, np.float32)
    kernel(a, out)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(out, a / np.float32(0.0))


def _schedule():
    B = ns.compute((8,), lambda i: A[i] * 2, name="B")
    return ns.create_schedule(B), B


def _chain():
    B = ns.compute((8,), lambda i: A[i] * 2, name="B")
    C = ns.compute((8,), lambda i: B[i] + 1, name="C")
    D = ns.compute((8,), lambda i: C[i] + 1, name="D")
    return ns.create_schedule(D), B, C, D


def _cycle():
    s, B, C, _ = _chain()
    s[B].compute_at(s[C], C.op.axis[0])
    s[C].compute_at(s[B], B.op.axis[0])


def _other_schedules_stage():
    s, B, C, D = _chain()
    other = ns.create_schedule(D)
    s[B].compute_at(other[C], C.op.axis[0])


def _other_schedules_loop():
    s, B = _schedule()
    outer, _ = ns.create_schedule(B)[B].split(B.op.axis[0], factor=2)
    s[B].split(outer, factor=2)


def _other_tensors_stage():
    s, _ = _schedule()
    return s[ns.compute((8,), lambda i: A[i] * 3, name="C")]


PRIMITIVES = {
    "split_factor_0": (lambda s, B: s[B].split(B.op.axis[0], factor=0),
                       "s[B].split(i, factor=0): factor must be a positive integer, got 0; pass a whole number of "
                       "iterations, e.g. factor=4, or a size variable (factor=ns.var('f')) bound when the kernel is "
                       "called"),
    "split_factor_negative": (lambda s, B: s[B].split(B.op.axis[0], factor=-2),
                              "factor must be a positive integer, got -2"),
    "split_factor_float": (lambda s, B: s[B].split(B.op.axis[0], factor=1.5),
                           "factor must be a positive integer, got 1.5"),
    "split_nparts_0": (lambda s, B: s[B].split(B.op.axis[0], nparts=0), "nparts must be a positive integer, got 0"),
    "split_twice": (lambda s, B: (s[B].split(B.op.axis[0], factor=2), s[B].split(B.op.axis[0], factor=2)),
                    "s[B].split(i, factor=2): i is no longer a loop of stage B: it was split or fused; use one of its "
                    "current loops ['i.outer', 'i.inner']"),
    "reorder_repeated": (lambda s, B: s[B].reorder(B.op.axis[0], B.op.axis[0]),
                         "s[B].reorder(i, i): i is listed more than once; list each loop once"),
    "fuse_repeated": (lambda s, B: s[B].fuse(B.op.axis[0], B.op.axis[0]), "s[B].fuse(i, i): the loops ['i', 'i']"),
    "tile_same_loop": (lambda s, B: s[B].tile(B.op.axis[0], B.op.axis[0], 2, 2),
                       "x and y are the same loop i; tile two different loops"),
    "compute_at_itself": (lambda s, B: s[B].compute_at(s[B], B.op.axis[0]),
                          "s[B].compute_at(s[B], i): B is an output of the schedule; outputs are computed at root"),
    "compute_at_cycle": (lambda s, B: _cycle(),
                         "s[C].compute_at(s[B], i): stage B does not read C (its readers: ['D']); attach a stage "
                         "inside a loop of a stage that reads it"),
    "compute_at_other_schedule": (lambda s, B: _other_schedules_stage(),
                                  "s[B].compute_at(s[C], i): s[C] is not a stage of this schedule"),
    "loop_of_other_schedule": (lambda s, B: _other_schedules_loop(),
                               "s[B].split(i.outer, factor=2): i.outer is not a loop of stage B (it belongs to no "
                               "stage of this schedule); its loops are ['i']"),
    "stage_of_other_tensor": (lambda s, B: _other_tensors_stage(),
                              "s[C]: C is not computed by this schedule; its outputs are ['B'] and the tensors they "
                              "depend on"),
}


@pytest.mark.parametrize("case", sorted(PRIMITIVES))
def test_a_bad_primitive_is_refused_at_its_call(case):
    call, message = PRIMITIVES[case]
    s, B = _schedule()
    with pytest.raises(ScheduleError) as caught:
        call(s, B)
    assert message in str(caught.value)


@pytest.mark.parametrize("target", ["llvm", "interp"])
@pytest.mark.parametrize("how", ["split_past_extent", "unroll_past_extent", "vectorize_past_extent"])
def test_a_factor_far_larger_than_the_extent_builds_and_runs(target, how):
    s, B = _schedule()
    _, inner = s[B].split(B.op.axis[0], factor=10**9)
    if how == "unroll_past_extent":
        s[B].unroll(inner)
    elif how == "vectorize_past_extent":
        s[B].vectorize(inner)
    kernel = ns.build(s, [A, B], target=target)
    a, out = np.arange(8, dtype=np.float32), np.zeros(8, np.float32)
    kernel(a, out)
    np.testing.assert_array_equal(out, a * 2)


def _build_with(args_of, target="llvm", **options):
    s, B = _schedule()
    return ns.build(s, args_of(B), target=target, **options)


BUILDS = {
    "tensor_not_in_schedule": (lambda: _build_with(lambda B: [A, B, ns.compute((8,), lambda i: A[i], name="E")]),
                               "lower main: argument E is not used by this schedule's outputs ['B']; remove it from "
                               "the argument list"),
    "input_missing": (lambda: _build_with(lambda B: [B]),
                      "lower main: A is an input (placeholder) of the schedule but not in the arguments ['B']; add it"),
    "tensor_twice": (lambda: _build_with(lambda B: [A, A, B]),
                     "lower main: A is listed twice in the arguments ['A', 'A', 'B']; list each tensor once"),
    "unknown_target": (lambda: _build_with(lambda B: [A, B], target="cpu"),
                       "build: unknown target 'cpu'; available targets: llvm, cuda, interp"),
    "upper_case_target": (lambda: _build_with(lambda B: [A, B], target="LLVM"), "build: unknown target 'LLVM'"),
    "empty_target": (lambda: _build_with(lambda B: [A, B], target=""), "build: unknown target ''"),
    "blank_target": (lambda: _build_with(lambda B: [A, B], target="   "), "build: unknown target '   '"),
    "target_not_a_string": (lambda: _build_with(lambda B: [A, B], target=3), "build: unknown target 3"),
    "llvm_unknown_flag": (lambda: _build_with(lambda B: [A, B], target="llvm -foo"),
                          "build: unknown target 'llvm -foo'; available targets: llvm, cuda, interp; an llvm target "
                          "string may carry only -mcpu= and -mattr="),
    "misspelt_option": (lambda: _build_with(lambda B: [A, B], target="cuda", shared_memory_byte=1024),
                        "build: options ['shared_memory_byte'] are not build options of any target, not 'cuda' (it "
                        "takes ['shared_memory_bytes', 'max_threads']); did you mean 'shared_memory_bytes' (not "
                        "'shared_memory_byte')?"),
    "misspelt_option_case": (lambda: _build_with(lambda B: [A, B], target="cuda", Max_Threads=64),
                             "did you mean 'max_threads' (not 'Max_Threads')?"),
    "option_of_another_target": (lambda: _build_with(lambda B: [A, B], target="llvm", max_threads=64),
                                 "build: options ['max_threads'] apply to target 'cuda' only, not 'llvm'"),
    "option_of_no_target": (lambda: _build_with(lambda B: [A, B], target="llvm", opt_level=3),
                            "build: options ['opt_level'] are not build options of any target, not 'llvm'"),
    "option_negative": (lambda: _build_with(lambda B: [A, B], target="cuda", shared_memory_bytes=-1),
                        "build: option shared_memory_bytes=-1 of target 'cuda' must be a positive int, e.g. "
                        "shared_memory_bytes=49152"),
    "option_string": (lambda: _build_with(lambda B: [A, B], target="cuda", max_threads="x"),
                      "build: option max_threads='x' of target 'cuda' must be a positive int, e.g. max_threads=1024"),
    "option_bool": (lambda: _build_with(lambda B: [A, B], target="cuda", max_threads=True),
                    "build: option max_threads=True of target 'cuda' must be a positive int"),
}


@pytest.mark.parametrize("case", sorted(BUILDS))
def test_a_bad_build_is_refused_before_lowering(case):
    make, message = BUILDS[case]
    with pytest.raises(LoweringError) as caught:
        make()
    assert message in str(caught.value)


#: names that are words of C, CUDA, LLVM IR or Python, or of the generated code itself
CLASHING = ["int", "float", "for", "return", "define", "void", "main", "if", "def", "lambda", "None",
            "nestor_main", "__global__", "threadIdx", "blockIdx", "kernel", "i", "A", "x" * 5000, "résultat_λ", "名前"]


def _named(name: str):
    X = ns.placeholder((8,), name=name)
    Y = ns.compute((8,), lambda i: X[i] + 1, name=name + "_out")
    return X, Y


@pytest.mark.parametrize("target", ["llvm", "interp"])
@pytest.mark.parametrize("name", CLASHING, ids=[n[:12] for n in CLASHING])
def test_names_that_clash_with_keywords_or_are_long_or_unicode_build_and_run(target, name):
    X, Y = _named(name)
    kernel = ns.build(ns.create_schedule(Y), [X, Y], target=target, name=name)
    a, out = np.arange(8, dtype=np.float32), np.zeros(8, np.float32)
    kernel(a, out)
    np.testing.assert_array_equal(out, a + 1)


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n == "__global__" else pytest.mark.slow)
                                  for n in CLASHING], ids=[n[:12] for n in CLASHING])
def test_names_that_clash_with_keywords_or_are_long_or_unicode_compile_with_nvcc(name):
    """The CUDA C of each name compiles to PTX with nvcc (one name in the default run: nvcc
    takes a second or two a module)."""
    import shutil

    if shutil.which("nvcc") is None:
        pytest.skip("nvcc")
    X, Y = _named(name)
    s = ns.create_schedule(Y)
    outer, inner = s[Y].split(Y.op.axis[0], factor=4)
    s[Y].bind(outer, ns.thread_axis("blockIdx.x"))
    s[Y].bind(inner, ns.thread_axis("threadIdx.x"))
    module = ns.build(s, [X, Y], target="cuda", name=name)
    assert compile_cuda(module.source, "sm_80", "ptx")
