"""``Stage.transform_layout`` after other primitives, under TVM's rule (``Stage::transform_layout``
in src/te/schedule/schedule_lang.cc): the data axes must still be adjacent loops; reduction
loops may be split and reordered, the stage attached elsewhere, producers attached at its
reduction loops, its tensor cached. Values against numpy on the interpreter and LLVM, the leaf
order, and every refusal's message."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns

from .helpers import close, empty, uniform
from .te_shim import te, tvm

TARGETS = ["interp", "llvm"]


def matmul_chain():
    """P = 2 A; B = P @ W (reduction over k); C = B + 1."""
    A = te.placeholder((8, 12), name="A")
    W = te.placeholder((12, 4), name="W")
    k = te.reduce_axis((0, 12), name="k")
    P = te.compute((8, 12), lambda i, j: A[i, j] * 2, name="P")
    B = te.compute((8, 4), lambda i, j: te.sum(P[i, k] * W[k, j], axis=k), name="B")
    C = te.compute((8, 4), lambda i, j: B[i, j] + 1, name="C")
    return A, W, P, B, C


def check(s, A, W, C, rng, target):
    a, w = uniform(rng, (8, 12)), uniform(rng, (12, 4))
    c = empty((8, 4), "float32")
    tvm.build(s, [A, W, C], target=target)(a, w, c)
    close(c, 2 * a.astype(np.float64) @ w + 1, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("target", TARGETS)
def test_after_a_reduction_split_and_a_data_reorder(rng, target):
    A, W, P, B, C = matmul_chain()
    s = te.create_schedule(C.op)
    ko, ki = s[B].split(B.op.reduce_axis[0], 4)
    s[B].reorder(B.op.axis[1], B.op.axis[0], ko, ki)
    axes = s[B].transform_layout(lambda i, j: [j, i])
    assert [leaf.name for leaf in s[B].leaf_iter_vars] == ["axis0", "axis1", "k.outer", "k.inner"]
    assert list(s[B].leaf_iter_vars[:2]) == axes
    s[B].vectorize(axes[1])
    check(s, A, W, C, rng, target)


@pytest.mark.parametrize("target", TARGETS)
def test_producer_attached_at_a_reduction_loop_and_the_stage_attached_in_its_reader(rng, target):
    A, W, P, B, C = matmul_chain()
    s = te.create_schedule(C.op)
    ko, _ = s[B].split(B.op.reduce_axis[0], 4)
    s[P].compute_at(s[B], ko)
    s[B].compute_at(s[C], C.op.axis[0])
    s[B].transform_layout(lambda i, j: [j, i])
    text = str(tvm.lower(s, [A, W, C]))
    assert "allocate B: float32[4, 1]" in text and "allocate P: float32[1, 4]" in text
    check(s, A, W, C, rng, target)


@pytest.mark.parametrize("target", TARGETS)
def test_stage_attached_after_the_transform_and_a_producer_at_a_returned_loop(rng, target):
    A, W, P, B, C = matmul_chain()
    s = te.create_schedule(C.op)
    outer, inner = s[B].transform_layout(lambda i, j: [i // 4, i % 4, j])[:2]
    s[P].compute_at(s[B], inner)
    s[B].compute_at(s[C], C.op.axis[0])
    check(s, A, W, C, rng, target)


@pytest.mark.parametrize("target", TARGETS)
def test_cache_read_of_the_stage_before_and_after_the_transform(rng, target):
    A, W, P, B, C = matmul_chain()
    s = te.create_schedule(C.op)
    BB = s.cache_read(B, "local", [C])
    s[B].transform_layout(lambda i, j: [j, i])
    assert tuple(BB.shape) == (8, 4)
    check(s, A, W, C, rng, target)
    A, W, P, B, C = matmul_chain()
    s = te.create_schedule(C.op)
    s[B].transform_layout(lambda i, j: [j, i])
    BB = s.cache_read(B, "local", [C])
    assert tuple(BB.shape) == (4, 8)
    s[BB].compute_at(s[C], C.op.axis[0])
    check(s, A, W, C, rng, target)


@pytest.mark.parametrize("target", TARGETS)
def test_after_cache_write_and_compute_at_of_the_cache(rng, target):
    A, W, P, B, C = matmul_chain()
    s = te.create_schedule(C.op)
    BL = s.cache_write(B, "local")
    s[B].transform_layout(lambda i, j: [j, i])
    s[BL].compute_at(s[B], s[B].leaf_iter_vars[0])
    check(s, A, W, C, rng, target)


def refused(s, B, mapping):
    with pytest.raises(te.ScheduleError) as info:
        s[B].transform_layout(mapping)
    return str(info.value)


def test_refusals_name_the_loop_and_the_fix():
    fix = "call transform_layout first and schedule the loops it returns"
    A, W, P, B, C = matmul_chain()
    s = te.create_schedule(C.op)
    s[B].fuse(*B.op.axis)
    assert refused(s, B, lambda i, j: [j, i]) == (
        f"s[B].transform_layout(...): axis i of B was already split or fused, so it is no longer a loop to "
        f"transform (TVM refuses this too); {fix}")
    s = te.create_schedule(C.op)
    s[B].reorder(B.op.axis[0], B.op.reduce_axis[0], B.op.axis[1])
    assert refused(s, B, lambda i, j: [j, i]) == (
        "s[B].transform_layout(...): loops ['k'] were reordered between the axes of B (TVM transforms only "
        f"adjacent data loops); reorder them outside the axes or {fix}")
    s = te.create_schedule(C.op)
    s[B].parallel(B.op.axis[0])
    assert refused(s, B, lambda i, j: [j, i]) == (
        "s[B].transform_layout(...): loop i of B is marked (parallel, vectorize, unroll, bind, pragma, "
        f"prefetch or tensorize) and transform_layout replaces it; {fix}")
    s = te.create_schedule(C.op)
    s[P].compute_at(s[B], B.op.axis[1])
    assert refused(s, B, lambda i, j: [j, i]) == (
        f"s[B].transform_layout(...): P is computed at a data loop of B, which transform_layout replaces; "
        f"{fix}, then compute_at P at one of them")
    assert list(s[B].leaf_iter_vars) == list(B.op.axis + B.op.reduce_axis)  # nothing changed


def test_trace_replays_a_transform_after_a_reduction_split(rng):
    A, W, P, B, C = matmul_chain()
    s = te.create_schedule(C.op)
    s[B].split(B.op.reduce_axis[0], 4)
    s[B].transform_layout(lambda i, j: [j, i])
    text = str(tvm.lower(s, [A, W, C]))
    replayed = ns.Schedule.from_trace([C], s.trace.to_json())
    assert str(tvm.lower(replayed, [A, W, C])) == text
    check(replayed, A, W, C, rng, "llvm")
