"""A schedule that every primitive accepted lowers (and agrees with numpy), or the primitive that
would break it refuses at its call; huge split factors never build huge loops; parallel loops
nest at most once and warn when they run inside other loops. One test per failure class."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import nestor as ns
from schedules.parallel import InnerParallelWarning

from .errors_common import rejects
from .helpers import check_numpy, check_roundtrip, nest

ROOT = Path(__file__).resolve().parents[2]


# a cache whose copy would read an attached producer from outside its loop ---------------------
def test_cache_read_through_an_inlined_stage_of_an_attached_producer_is_refused():
    """cache_read -> compute_inline -> cache_read of the same tensor -> compute_at -> cache_read:
    the last copy, at root, would read (through the inlined cache) a producer computed inside a
    loop of another stage; lowering used to end in a bare KeyError."""
    A = ns.placeholder((8, 6), name="A")
    B = ns.compute((8, 6), lambda i, j: A[i, j] + 1.0, name="B")
    C = ns.compute((8, 6), lambda i, j: B[i, j] * 2.0, name="C")
    s = ns.create_schedule(C)
    AA = s.cache_read(A, "local", [s[B]])
    s[AA].compute_inline()
    AB = s.cache_read(A, "local", [s[AA]])
    s[AB].compute_at(s[B], B.op.axis[0])
    rejects(s, lambda: s.cache_read(AA, "shared", [s[B]]),
            "s.cache_read(A.local, 'shared', ['B'])", "the copy would read A.local_1 (through A.local) at root",
            "A.local_1 is computed inside loop i of B", "compute_root A.local_1 first")
    # what was accepted lowers and computes the right thing
    check_numpy(s, [A, C], lambda a: (a + 1) * 2)
    s[AB].compute_root()
    s.cache_read(AA, "shared", [s[B]])
    check_numpy(s, [A, C], lambda a: (a + 1) * 2)
    check_roundtrip(s, [A, C])


# a region that isl bounds only in part ---------------------------------------------------------
def test_region_through_fused_and_nparts_split_loops_lowers():
    """Fused then split (nparts) loops make quasi-affine bounds that isl's max_val rejects: the
    attached copy then covers the whole dimension instead of raising islpy.Error."""
    X = ns.placeholder((2, 5, 3, 7), name="X")
    b = ns.placeholder((5,), name="b")
    Y = ns.compute((2, 5, 3, 7), lambda n, c, h, w: X[n, c, h, w] + b[c], name="Y")
    s = ns.create_schedule(Y)
    n, c, h, w = Y.op.axis
    fused = s[Y].fuse(n, s[Y].fuse(c, h))
    outer, _ = s[Y].split(fused, nparts=9)
    XS = s.cache_read(X, "shared", [s[Y]])
    w_outer, w_inner = s[Y].split(w, factor=3)
    s[Y].tile(w_inner, outer, 4, 2)
    s[XS].tile(XS.op.axis[1], XS.op.axis[3], 8, 9)
    w_outer_outer, _ = s[Y].split(w_outer, factor=4)
    s[XS].compute_at(s[Y], w_outer_outer)
    s[XS].split(XS.op.axis[0], factor=1)
    s.cache_read(b, "shared", [s[Y]])
    check_numpy(s, [X, b, Y], lambda x, bias: x + bias[None, :, None, None])
    check_roundtrip(s, [X, b, Y])


def test_reversed_read_through_fuse_split_nparts_compute_at_matches_numpy():
    """fuse -> split -> split(nparts) -> compute_at of a producer read as ``T[i, 30 - j]``."""
    A = ns.placeholder((8, 31), name="A")
    T = ns.compute((8, 31), lambda i, j: A[i, j] * 2.0, name="T")
    C = ns.compute((8, 31), lambda i, j: T[i, 30 - j] + 1.0, name="C")
    for factor, nparts, at in [(7, 3, 0), (7, 3, 1), (10, 4, 1), (5, 2, 0)]:
        s = ns.create_schedule(C)
        outer, inner = s[C].split(s[C].fuse(*C.op.axis), factor=factor)
        inner_outer, _ = s[C].split(inner, nparts=nparts)
        s[T].compute_at(s[C], (outer, inner_outer)[at])
        check_numpy(s, [A, C], lambda a: 2 * a[:, ::-1] + 1)


# split factors beyond the extent ----------------------------------------------------------------
@pytest.mark.parametrize("how", ["factor", "nparts", "tile"])
def test_split_beyond_the_extent_makes_a_loop_of_the_extent(how):
    A = ns.placeholder((10, 6), name="A")
    B = ns.compute((10, 6), lambda i, j: A[i, j] * 2.0, name="B")
    s = ns.create_schedule(B)
    i, j = B.op.axis
    if how == "tile":
        s[B].tile(i, j, 2**62, 2**62)
    else:
        s[B].split(i, **{how: 2**62})
    text = nest(s, [A, B])
    assert "if " not in text
    assert max(leaf.extent for leaf in s[B].leaves) <= 10
    assert ("in 0..10:" in text) and ("in 0..6:" in text)
    check_numpy(s, [A, B], lambda a: 2 * a)
    check_roundtrip(s, [A, B])


def test_huge_split_returns_and_runs_on_llvm_in_a_subprocess():
    """The process that splits by 2**62 and runs the kernel finishes (it used to loop forever)."""
    script = textwrap.dedent("""
        import numpy as np
        import nestor as ns
        A = ns.placeholder((10,), name="A")
        B = ns.compute((10,), lambda i: A[i] * 2.0, name="B")
        s = ns.create_schedule(B)
        outer, inner = s[B].split(B.op.axis[0], factor=2**62)
        s[B].split(inner, nparts=2**62)
        module = ns.build(s, [A, B], target="llvm")
        a = np.arange(10, dtype="float32")
        b = np.zeros(10, dtype="float32")
        module(a, b)
        assert (b == 2 * a).all(), b
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


# parallel loops --------------------------------------------------------------------------------
def _pair(n: int = 64):
    A = ns.placeholder((n, n), name="A")
    B = ns.compute((n, n), lambda i, j: A[i, j] * 2.0, name="B")
    C = ns.compute((n, n), lambda i, j: B[i, j] + 1.0, name="C")
    return A, B, C, ns.create_schedule(C)


def test_parallel_inner_loop_warns_at_lowering():
    A, B, C, s = _pair()
    i, j = C.op.axis
    s[C].parallel(j)
    with pytest.warns(InnerParallelWarning) as caught:
        text = nest(s, [A, C])
    assert len(caught) == 1
    assert str(caught[0].message) == (
        "s[C].parallel(j): the loop runs inside loop(s) i, so its threads are started and joined "
        "64 times; parallelize the outer loop i instead, or reorder j outermost (fusing the loops "
        "outside it keeps their iterations parallel too)")
    assert "parallel for j in 0..64" in text
    with pytest.warns(InnerParallelWarning):
        check_numpy(s, [A, C], lambda a: 2 * a + 1)


def test_parallel_outer_loop_does_not_warn():
    A, B, C, s = _pair()
    s[C].parallel(C.op.axis[0])
    s[B].compute_at(s[C], C.op.axis[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", InnerParallelWarning)
        nest(s, [A, C])
        ns.build(s, [A, C], target="llvm")


def test_parallel_loop_of_an_attached_stage_warns_naming_the_consumer_loop():
    A, B, C, s = _pair()
    outer, _ = s[C].split(C.op.axis[0], factor=16)
    s[B].compute_at(s[C], outer)
    s[B].parallel(B.op.axis[0])
    with pytest.warns(InnerParallelWarning, match=r"s\[B\]\.parallel\(i\): the loop runs inside loop\(s\) "
                                                   r"i\.outer of s\[C\], so its threads are started and joined "
                                                   r"4 times; parallelize the outer loop i\.outer of s\[C\]"):
        nest(s, [A, C])


@pytest.mark.parametrize("primitive", ["parallel", "reorder", "compute_at"])
def test_parallel_inside_parallel_is_refused(primitive):
    A, B, C, s = _pair()
    i, j = C.op.axis
    s[C].parallel(i)
    if primitive == "parallel":
        rejects(s, lambda: s[C].parallel(j), "s[C].parallel(j)",
                "parallel loop j of s[C] would run inside parallel loop i",
                "parallelize one loop of a nest only")
    elif primitive == "reorder":
        s2 = ns.create_schedule(C)
        s2[C].parallel(j)
        s2[B].compute_at(s2[C], i)
        s2[B].parallel(B.op.axis[0])
        rejects(s2, lambda: s2[C].reorder(j, i), "s[C].reorder(j, i)",
                "parallel loop i of s[B] would run inside parallel loop j of s[C]",
                "parallelize one loop of a nest only")
    else:
        s[B].parallel(B.op.axis[0])
        rejects(s, lambda: s[B].compute_at(s[C], j), "s[B].compute_at(s[C], j)",
                "parallel loop i of s[B] would run inside parallel loop i of s[C]",
                "fuse loops before marking them")


def test_parallel_inside_parallel_never_lowers():
    """A nest the primitives would refuse, forced by hand, is a LoweringError at lowering."""
    A, B, C, s = _pair()
    i, j = C.op.axis
    s[C].parallel(i)
    from schedules.relations import Annotation
    from tensorir.stmt import ForKind
    s[C].annotations[j] = Annotation(ForKind.PARALLEL)
    with pytest.raises(ns.LoweringError, match=r"parallel loop j of s\[C\] runs inside parallel loop i"):
        nest(s, [A, C])


def test_random_chain_values_are_not_nan():
    """The chains' own operators agree with their references (guards the generator itself)."""
    from .chains import AFFINE
    for builder in AFFINE:
        op = builder()
        s = ns.create_schedule(op.outputs)
        inputs = op.make_inputs(np.random.default_rng(1))
        module = ns.build(s, op.args, target="interp")
        from tests.catalogue import assert_outputs_match, run_module
        assert_outputs_match(run_module(module, op, inputs), op.reference(inputs))
