"""A compute body that reuses a subexpression is a graph, not a tree: building, running, printing
and hashing it cost the number of distinct nodes, never the number of paths (which grows
exponentially with the depth of the sharing), on every backend; a shared subexpression under a
choice that can fail is still evaluated only when chosen."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from backends.cuda.module import build as build_cuda
from backends.cuda.nvcc import find_nvcc
from tensorir.expr import Var
from tensorir.structural import structural_equal, structural_hash

from .subprocess_run import run_python

DEPTH = 60  # 2**60 paths: any walk of the tree instead of the graph never returns

CHAIN = f"""
import numpy as np, nestor as ns
A = ns.placeholder((4,), name="A")
def body(i):
    x = A[i]
    for _ in range({DEPTH}):
        x = x * 1.0 + x * 0.0
    return x
C = ns.compute((4,), body, name="C")
"""


def _chain(depth: int = DEPTH, gpu: bool = False):
    A = ns.placeholder((4,), name="A")

    def body(i):
        x = A[i]
        for _ in range(depth):
            x = x * 1.0 + x * 0.0
        return x

    C = ns.compute((4,), body, name="C")
    s = ns.create_schedule(C)
    if gpu:
        outer, inner = s[C].split(C.op.axis[0], factor=2)
        s[C].bind(outer, "blockIdx.x")
        s[C].bind(inner, "threadIdx.x")
    return s, A, C


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_deeply_shared_body_builds_runs_and_prints(target):
    # in a fresh process with a timeout: a regression fails instead of hanging the run
    done = run_python(CHAIN + f"""
s = ns.create_schedule(C)
text = str(ns.lower(s, [A, C]))
assert len(text) < 20000 and "let" in text, len(text)
m = ns.build(s, [A, C], target={target!r})
a = np.arange(4, dtype=np.float32); c = np.zeros(4, np.float32)
m(a, c)
assert (c == a).all(), c
print("ok")
""", timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_deeply_shared_body_gives_linear_cuda_source_that_nvcc_compiles():
    s, A, C = _chain(gpu=True)
    source = build_cuda(ns.lower(s, [A, C])).source
    assert len(source) < 50000 and "const auto" in source
    if find_nvcc() is None:
        pytest.skip("nvcc is not installed")
    from backends.cuda.nvcc import compile_cuda

    assert compile_cuda(source)


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_shared_load_under_a_choice_is_read_only_when_chosen(target):
    # y reads A[i + 1], out of bounds at i = 3: it is shared, but only the chosen branch reads it
    A = ns.placeholder((4,), name="A")

    def body(i):
        y = A[i + 1]
        for _ in range(8):
            y = y * 1.0 + y * 0.5
        return ns.if_then_else(i < 3, y, A[i] * 0.0)

    C = ns.compute((4,), body, name="C")
    m = ns.build(ns.create_schedule(C), [A, C], target=target)
    a, c = np.arange(4, dtype=np.float32), np.full(4, -1, np.float32)
    m(a, c)
    np.testing.assert_allclose(c, [1.5 ** 8, 2 * 1.5 ** 8, 3 * 1.5 ** 8, 0.0])


def test_structural_key_of_a_graph_equals_that_of_the_same_tree():
    x, z = Var("x"), Var("z")
    shared, deep = x, x
    for _ in range(6):
        shared = shared * 2 + shared
    for _ in range(DEPTH):
        deep = deep * 2 + deep

    def tree(depth):  # the same structure without sharing: every node built afresh
        return z if depth == 0 else tree(depth - 1) * 2 + tree(depth - 1)

    assert structural_equal(shared, tree(6))
    assert structural_hash(shared) == structural_hash(tree(6))
    assert not structural_equal(shared, tree(5) * 2 + tree(5) * 1)
    assert len(structural_hash(deep)) == 64 and not structural_equal(deep, deep * 1)
