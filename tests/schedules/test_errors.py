"""One test per ScheduleError message of the loop primitives (split, tile, reorder, fuse, marks, bind). Each
message names the primitive call (stage and axis included), says why, and says what to do; a
rejected call leaves the schedule as it was."""

from __future__ import annotations

import pytest

import nestor as ns
from tensorir.expr import IterKind

from .errors_common import rejects


# loops that are not leaves of the stage ------------------------------------------------------
def test_split_of_an_axis_already_split(chain):
    A, B, C, R, s = chain
    s[B].split(B.op.axis[0], factor=4)
    rejects(s, lambda: s[B].split(B.op.axis[0], factor=2),
            "s[B].split(i, factor=2)", "i is no longer a loop of stage B: it was split or fused",
            "use one of its current loops ['i.outer', 'i.inner', 'j']")


def test_split_of_an_axis_of_another_stage(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[C].split(B.op.axis[1], factor=2),
            "s[C].split(j, factor=2)", "j is not a loop of stage C (it belongs to stage B)",
            "its loops are ['i', 'j']")


def test_split_of_an_axis_of_no_stage(chain):
    A, B, C, R, s = chain
    other = ns.compute((3,), lambda q: A[q, 0], name="Other")
    rejects(s, lambda: s[C].split(other.op.axis[0], factor=2),
            "s[C].split(q, factor=2)", "q is not a loop of stage C (it belongs to no stage of this schedule)",
            "its loops are ['i', 'j']")


def test_split_of_an_unknown_loop_name(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[C].split("x", factor=2),
            "s[C].split(x, factor=2)", "stage C has no loop named 'x'", "its loops are ['i', 'j']")


def test_split_of_something_that_is_not_an_axis(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[C].split(3, factor=2),
            "s[C].split(3, factor=2)", "3 is not a loop axis", "pass one of the stage's loops: ['i', 'j']")


def test_loop_name_shared_by_two_axes():
    X = ns.placeholder((5,), name="X")
    r = ns.reduce_axis(5, "i.outer")
    Y = ns.compute((5,), lambda i: ns.sum(X[r] * X[i], axis=r), name="Y")
    s = ns.create_schedule(Y)
    s[Y].split("i", factor=2)  # makes a second loop named i.outer
    rejects(s, lambda: s[Y].split("i.outer", factor=2),
            "s[Y].split(i.outer, factor=2)", "several loops are named 'i.outer'", "pass the axis object")


def test_split_of_a_placeholder(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[A].split("i", factor=2),
            "s[A].split(i, factor=2)", "A is a placeholder (an input); it has no loops",
            "schedule the compute stages that read it")


# factors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("factor", [0, -3, 2.5, True, "4"])
def test_split_factor_must_be_a_positive_integer(chain, factor):
    A, B, C, R, s = chain
    rejects(s, lambda: s[B].split(B.op.axis[0], factor=factor),
            f"s[B].split(i, factor={factor})", f"factor must be a positive integer, got {factor!r}",
            "pass a whole number of iterations, e.g. factor=4")


def test_split_nparts_must_be_a_positive_integer(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[B].split(B.op.axis[0], nparts=0),
            "s[B].split(i, nparts=0)", "nparts must be a positive integer, got 0", "e.g. nparts=4")


def test_split_with_both_factor_and_nparts(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[B].split(B.op.axis[0], factor=2, nparts=4),
            "s[B].split(i, nparts=4)", "both factor= and nparts= are given",
            "give exactly one: factor= (the inner extent) or nparts= (the outer extent)")


def test_split_with_neither_factor_nor_nparts(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[B].split(B.op.axis[0]),
            "s[B].split(i, factor=None)", "neither factor= nor nparts= is given", "give exactly one")


def test_tile_factor_must_be_a_positive_integer(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[B].tile(*B.op.axis, 4, 0),
            "s[B].tile(i, j, x_factor=4, y_factor=0)", "y_factor must be a positive integer, got 0",
            "e.g. y_factor=4")


def test_tile_of_one_loop_twice(chain):
    A, B, C, R, s = chain
    i = B.op.axis[0]
    rejects(s, lambda: s[B].tile(i, i, 4, 2),
            "s[B].tile(i, i, x_factor=4, y_factor=2)", "x and y are the same loop i",
            "tile two different loops")


def test_tile_with_a_bad_second_axis_splits_nothing(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[B].tile(B.op.axis[0], C.op.axis[1], 4, 2),
            "s[B].tile(i, j, x_factor=4, y_factor=2)", "j is not a loop of stage B (it belongs to stage C)")


# loops that may no longer change ---------------------------------------------------------------
def test_split_of_a_marked_loop(chain):
    A, B, C, R, s = chain
    s[B].vectorize(B.op.axis[1])
    rejects(s, lambda: s[B].split(B.op.axis[1], factor=2),
            "s[B].split(j, factor=2)", "j is already marked vectorized",
            "split, fuse and reorder loops before marking them")


def test_fuse_of_a_bound_loop(chain):
    A, B, C, R, s = chain
    s[B].bind(B.op.axis[1], "threadIdx.x")
    rejects(s, lambda: s[B].fuse(*B.op.axis),
            "s[B].fuse(i, j)", "j is already bound to threadIdx.x", "split, fuse and reorder loops before")


def test_fuse_of_an_outer_loop_that_holds_an_attached_stage(chain):
    # inside the innermost of the fused loops, a stage follows the fused loop (test_tvm_orders)
    A, B, C, R, s = chain
    s[B].compute_at(s[C], C.op.axis[0])
    rejects(s, lambda: s[C].fuse(*C.op.axis),
            "s[C].fuse(i, j)", "stages ['B'] are computed inside loop i, which is not the innermost "
            "of the loops fused, so no loop would be left for one iteration of it",
            "attach them at j (or inside it), or leave the loops unfused")


# reorder and fuse ------------------------------------------------------------------------------
def test_reorder_with_a_duplicate(chain):
    A, B, C, R, s = chain
    i, j = B.op.axis
    rejects(s, lambda: s[B].reorder(j, i, j),
            "s[B].reorder(j, i, j)", "j is listed more than once", "list each loop once")


def test_reorder_with_an_axis_of_another_stage(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[B].reorder(B.op.axis[1], C.op.axis[0]),
            "s[B].reorder(j, i)", "i is not a loop of stage B (it belongs to stage C)",
            "its loops are ['i', 'j']")


def test_fuse_of_loops_that_are_not_adjacent(chain):
    A, B, C, R, s = chain
    io, ii = s[B].split(B.op.axis[0], factor=2)
    rejects(s, lambda: s[B].fuse(io, B.op.axis[1]),
            "s[B].fuse(i.outer, j)", "the loops ['i.outer', 'j'] are not adjacent and in this order",
            "loop order is ['i.outer', 'i.inner', 'j']", "reorder them next to each other first")


def test_fuse_of_adjacent_loops_in_the_wrong_order(chain):
    A, B, C, R, s = chain
    i, j = B.op.axis
    rejects(s, lambda: s[B].fuse(j, i),
            "s[B].fuse(j, i)", "are not adjacent and in this order", "reorder them")


def test_fuse_of_one_loop_returns_it(chain):
    A, B, C, R, s = chain
    i = B.op.axis[0]
    assert s[B].fuse(i) is i
    assert s[B].leaf_iter_vars == B.op.axis


def test_fuse_of_a_reduction_loop_with_a_data_loop_makes_a_reduction_loop(chain):
    A, B, C, R, s = chain
    fused = s[R].fuse(R.op.axis[0], R.op.reduce_axis[0])
    assert fused.kind is IterKind.REDUCE
    rejects(s, lambda: s[R].parallel(fused),
            "s[R].parallel(i.k.fused)", "i.k.fused is a reduction loop", "mark a data-parallel loop instead")


# loop kinds ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mark", ["parallel", "vectorize"])
def test_parallel_kinds_on_a_reduction_loop(chain, mark):
    A, B, C, R, s = chain
    rejects(s, lambda: getattr(s[R], mark)(R.op.reduce_axis[0]),
            f"s[R].{mark}(k)", "k is a reduction loop", "would race on the accumulator",
            "mark a data-parallel loop instead")


@pytest.mark.parametrize("tag", ["blockIdx.x", "threadIdx.y"])
def test_bind_of_a_reduction_loop(chain, tag):
    # threadIdx.x makes a cross-thread reduction (tests/schedules/test_cross_thread.py)
    A, B, C, R, s = chain
    rejects(s, lambda: s[R].bind(R.op.reduce_axis[0], tag),
            f"s[R].bind(k, '{tag}')", "k is a reduction loop", "would race on the accumulator",
            "bind it to 'threadIdx.x' for a cross-thread reduction", "mark a data-parallel loop instead")


def test_unroll_of_a_reduction_loop_is_accepted(chain):
    A, B, C, R, s = chain
    s[R].unroll(R.op.reduce_axis[0])


def test_a_loop_has_one_kind(chain):
    A, B, C, R, s = chain
    s[B].parallel(B.op.axis[0])
    rejects(s, lambda: s[B].vectorize(B.op.axis[0]),
            "s[B].vectorize(i)", "i is already marked parallel", "a loop has one kind")


def test_bind_of_a_marked_loop(chain):
    A, B, C, R, s = chain
    s[B].unroll(B.op.axis[1])
    rejects(s, lambda: s[B].bind(B.op.axis[1], "threadIdx.x"),
            "s[B].bind(j, 'threadIdx.x')", "j is already marked unrolled", "a loop has one kind")


def test_unknown_thread_tag(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[B].bind(B.op.axis[0], "threadIdx.w"),
            "s[B].bind(i, 'threadIdx.w')", "unknown thread tag 'threadIdx.w'",
            "use one of blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z")


def test_thread_tag_bound_twice_in_one_stage(chain):
    A, B, C, R, s = chain
    s[B].bind(B.op.axis[0], "threadIdx.x")
    rejects(s, lambda: s[B].bind(B.op.axis[1], "threadIdx.x"),
            "s[B].bind(j, 'threadIdx.x')", "threadIdx.x is already bound to loop i of this stage",
            "bind each thread index once per stage")
