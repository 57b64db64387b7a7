"""Definitions an adversarial user writes: names that are keywords, builtins, non-ASCII or 5,000
characters long reach every backend's generated code, and a 3,000-term string-form sum, without
breaking it; expressions too deep to compile are refused with one DefinitionError."""

from __future__ import annotations

import functools
import operator

import numpy as np
import pytest

import nestor as ns
from backends.cuda.module import build as build_cuda
from backends.cuda.nvcc import find_nvcc
from schedules import Schedule
from tensorir.errors import DefinitionError
from tensorir.names import identifier
from tensorir.tensor import MAX_DEPTH

NAMES = ["lambda", "class", "print", "None", "int", "threadIdx", "main", "Ä", "Ö", "x" * 5000, "a b", "1a"]


def _doubling(name: str, gpu: bool = False):
    A = ns.placeholder((64,), name=name)
    C = ns.compute((64,), lambda i: A[i] * 2, name=name + "ö")
    s = ns.create_schedule(C)
    outer, inner = s[C].split(C.op.axis[0], factor=32)
    if gpu:
        s[C].bind(outer, "blockIdx.x")
        s[C].bind(inner, "threadIdx.x")
    return s, A, C


@pytest.mark.parametrize("target", ["interp", "llvm"])
@pytest.mark.parametrize("name", NAMES, ids=lambda n: n[:12])
def test_hostile_names_compile_and_run(name, target):
    s, A, C = _doubling(name)
    a, c = np.arange(64, dtype=np.float32), np.zeros(64, np.float32)
    ns.build(s, [A, C], target=target)(a, c)
    np.testing.assert_array_equal(c, 2 * a)


def test_hostile_names_give_cuda_source_that_nvcc_compiles():
    if find_nvcc() is None:
        pytest.skip("nvcc is not installed")
    from backends.cuda.nvcc import compile_cuda

    sources = []
    for position, name in enumerate(NAMES):
        s, A, C = _doubling(name, gpu=True)
        sources.append(build_cuda(ns.lower(s, [A, C], name=name if position else "k" + name)).source)
    s, A, C = _sum_of(3000)
    outer, inner = s[C].split(C.op.axis[0], factor=4)
    s[C].bind(outer, "blockIdx.x")
    s[C].bind(inner, "threadIdx.x")
    sources.append(build_cuda(ns.lower(s, [A, C], name="sum3000")).source)
    assert compile_cuda("\n".join(sources))


def test_identifiers_are_ascii_and_distinct():
    assert identifier("Ä") != identifier("Ö")
    assert all(identifier(name).isascii() and identifier(name).isidentifier() for name in NAMES)


def test_a_trace_with_keyword_stage_names_prints_valid_python():
    A = ns.placeholder((64,), name="class")
    C = ns.compute((64,), lambda i: A[i] * 2, name="lambda")
    s = ns.create_schedule(C)
    s[C].split(C.op.axis[0], factor=8)
    text = str(s.trace)
    assert "s[_lambda]" in text
    compile(text, "<trace>", "exec")
    replayed = Schedule.from_trace(C, s.trace.to_json())
    assert str(ns.lower(replayed, [A, C])) == str(ns.lower(s, [A, C]))


def _sum_of(terms: int, op: str = "+"):
    A = ns.placeholder((4,), name="A")
    C = ns.compute("C[i] = " + f" {op} ".join(["A[i]"] * terms), A=A)
    return ns.create_schedule(C), A, C


@pytest.mark.parametrize(("op", "expected", "target"), [("+", 3000.0, "interp"), ("+", 3000.0, "llvm"),
                                                       ("-", -2998.0, "llvm"), ("*", 1.0, "interp")])
def test_a_3000_term_chain_compiles_on_every_backend(op, expected, target):
    s, A, C = _sum_of(3000, op)
    func = ns.lower(s, [A, C])
    assert str(func).count("A[") == 3000
    a, c = np.ones(4, np.float32), np.zeros(4, np.float32)
    ns.build(func, target=target)(a, c)
    np.testing.assert_array_equal(c, expected)


def test_short_chains_keep_pythons_grouping():
    A = ns.placeholder((4,), name="A")
    text = ns.compute("C[i] = A[i] + A[i] - A[i] + A[i]", A=A)
    assert str(text.op.body) == str(ns.compute((4,), lambda i: A[i] + A[i] - A[i] + A[i], name="C").op.body)


@pytest.mark.parametrize(("text", "message"), [
    (" / ".join(["A[i]"] * 3000), "more than 128 operations deep"),
    ("(" * 3000 + "A[i]" + ")" * 3000, "nests more than 128 levels"),
    ("-" * 3000 + "A[i]", "nests more than 128 levels"),
    ("exp(" * 300 + "A[i]" + ")" * 300, "nests more than 128 levels"),
])
def test_expressions_too_deep_to_compile_are_refused(text, message):
    A = ns.placeholder((4,), name="A")
    with pytest.raises(DefinitionError, match=message):
        ns.compute("C[i] = " + text, A=A)


def test_a_lambda_body_too_deep_is_refused():
    A = ns.placeholder((4,), name="A")
    with pytest.raises(DefinitionError, match=f"compute C: the body is more than {MAX_DEPTH} operations deep"):
        ns.compute((4,), lambda i: functools.reduce(operator.truediv, [A[i]] * 3000), name="C")
