"""One test per ScheduleError message of the primitives, the caches and trace replay. Each
message names the primitive call (stage and axis included), says why, and says what to do; a
rejected call leaves the schedule as it was."""

from __future__ import annotations

import json
import re

import pytest

import nestor as ns
from nestor import ScheduleError


def _pattern(*parts: str) -> str:
    """A regex matching ``parts`` in order, each taken literally."""
    return ".*".join(re.escape(p) for p in parts)


def _state(s: ns.Schedule):
    return (len(s.trace), [(st.name, list(st.leaves), st.attach, st.scope, dict(st.annotations),
                            dict(st.read_redirect)) for st in s.stages])


def rejects(s: ns.Schedule, call, *parts: str) -> None:
    """``call()`` raises a ScheduleError whose message holds ``parts`` in order, and changes nothing."""
    before = _state(s)
    with pytest.raises(ScheduleError, match=_pattern(*parts)):
        call()
    assert _state(s) == before


@pytest.fixture
def chain():
    """``B = A + 1``, ``C = 2 * B`` and a row sum ``R`` of C, with its schedule."""
    A = ns.placeholder((8, 6), name="A")
    B = ns.compute((8, 6), lambda i, j: A[i, j] + 1.0, name="B")
    C = ns.compute((8, 6), lambda i, j: B[i, j] * 2.0, name="C")
    k = ns.reduce_axis(6, "k")
    R = ns.compute((8,), lambda i: ns.sum(C[i, k], axis=k), name="R")
    return A, B, C, R, ns.create_schedule(R)


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


def test_split_of_a_loop_that_holds_an_attached_stage(chain):
    A, B, C, R, s = chain
    s[B].compute_at(s[C], C.op.axis[0])
    rejects(s, lambda: s[C].split(C.op.axis[0], factor=2),
            "s[C].split(i, factor=2)", "stages ['B'] are computed inside loop i",
            "split and fuse loops before compute_at into them")


def test_fuse_of_a_loop_that_holds_an_attached_stage(chain):
    A, B, C, R, s = chain
    s[B].compute_at(s[C], C.op.axis[1])
    rejects(s, lambda: s[C].fuse(*C.op.axis),
            "s[C].fuse(i, j)", "stages ['B'] are computed inside loop j", "before compute_at into them")


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


def test_fuse_of_one_loop(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[B].fuse(B.op.axis[0]),
            "s[B].fuse(i)", "fuse needs at least two loops", "pass adjacent loops, outermost first")


def test_fuse_of_a_reduction_loop_with_a_data_loop(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[R].fuse(R.op.axis[0], R.op.reduce_axis[0]),
            "s[R].fuse(i, k)", "cannot fuse a reduction loop with a data-parallel loop",
            "fuse reduction loops with reduction loops only")


# loop kinds ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mark", ["parallel", "vectorize"])
def test_parallel_kinds_on_a_reduction_loop(chain, mark):
    A, B, C, R, s = chain
    rejects(s, lambda: getattr(s[R], mark)(R.op.reduce_axis[0]),
            f"s[R].{mark}(k)", "k is a reduction loop", "would race on the accumulator",
            "mark a data-parallel loop instead")


def test_bind_of_a_reduction_loop(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[R].bind(R.op.reduce_axis[0], "threadIdx.x"),
            "s[R].bind(k, 'threadIdx.x')", "k is a reduction loop", "mark a data-parallel loop instead")


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


# compute_at ------------------------------------------------------------------------------------
def test_compute_at_into_a_stage_that_does_not_read_it(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[B].compute_at(s[R], R.op.axis[0]),
            "s[B].compute_at(s[R], i)", "stage R does not read B (its readers: ['C'])",
            "attach a stage inside a loop of a stage that reads it, or inside the loop where all its readers")


def test_compute_at_an_axis_outside_that_stage(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[B].compute_at(s[C], R.op.axis[0]),
            "s[B].compute_at(s[C], i)", "i is not a loop of stage C (it belongs to stage R)",
            "its loops are ['i', 'j']")


def test_compute_at_of_an_output(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[R].compute_at(s[C], C.op.axis[0]),
            "s[R].compute_at(s[C], i)", "R is an output of the schedule", "outputs are computed at root")


def test_compute_at_into_something_that_is_not_a_stage(chain):
    A, B, C, R, s = chain
    other = ns.create_schedule(R)
    rejects(s, lambda: s[B].compute_at(other[C], C.op.axis[0]),
            "s[B].compute_at(s[C], i)", "s[C] is not a stage of this schedule",
            "pass s[T] (or the tensor T) of a stage that reads this one")


def test_compute_at_into_an_inlined_stage(chain):
    A, B, C, R, s = chain
    s[C].compute_inline()
    rejects(s, lambda: s[B].compute_at(s[C], C.op.axis[0]),
            "s[B].compute_at(s[C], i)", "stage C is inlined and has no loops",
            "attach at a loop of a stage that reads C, or compute_root it first")


def test_compute_at_while_another_reader_runs_outside_the_loop():
    A = ns.placeholder((6,), name="A")
    B = ns.compute((6,), lambda i: A[i] + 1.0, name="B")
    C = ns.compute((6,), lambda i: B[i] * 2.0, name="C")
    D = ns.compute((6,), lambda i: B[i] + C[i], name="D")
    s = ns.create_schedule(D)
    rejects(s, lambda: s[B].compute_at(s[D], D.op.axis[0]),
            "s[B].compute_at(s[D], i)", "B is also read by ['C'], which run outside that loop",
            "attach C at the same loop first, or leave B at root")


def test_moving_a_stage_away_from_the_producer_computed_for_it():
    A = ns.placeholder((6,), name="A")
    B = ns.compute((6,), lambda i: A[i] + 1.0, name="B")
    C = ns.compute((6,), lambda i: B[i] * 2.0, name="C")
    D = ns.compute((6,), lambda i: B[i] + C[i], name="D")
    s = ns.create_schedule(D)
    s[C].compute_at(s[D], D.op.axis[0])
    s[B].compute_at(s[D], D.op.axis[0])
    rejects(s, lambda: s[C].compute_root(),
            "s[C].compute_root()", "B, which C reads, is computed inside loop i of D for it",
            "move B first (compute_root or compute_at)")


def test_computing_an_inlined_reader_at_root_would_strand_its_producer():
    A = ns.placeholder((6,), name="A")
    B = ns.compute((6,), lambda i: A[i] + 1.0, name="B")
    C = ns.compute((6,), lambda i: B[i] * 2.0, name="C")
    D = ns.compute((6,), lambda i: C[i] - 1.0, name="D")
    s = ns.create_schedule(D)
    s[C].compute_inline()
    s[B].compute_at(s[D], D.op.axis[0])  # D reads B through C
    rejects(s, lambda: s[C].compute_root(),
            "s[C].compute_root()", "B, which C reads, is computed inside loop i of D for it",
            "move B first")


# compute_inline --------------------------------------------------------------------------------
def test_compute_inline_of_a_reduction():
    X = ns.placeholder((4, 5), name="X")
    k = ns.reduce_axis(5, "k")
    S = ns.compute((4,), lambda i: ns.sum(X[i, k], axis=k), name="S")
    Y = ns.compute((4,), lambda i: S[i] * 2.0, name="Y")
    s = ns.create_schedule(Y)
    rejects(s, lambda: s[S].compute_inline(),
            "s[S].compute_inline()", "S is a reduction; its value needs a loop",
            "compute it at root or with compute_at")


def test_compute_inline_of_an_output(chain):
    A, B, C, R, s = chain
    s = ns.create_schedule([C, R])
    rejects(s, lambda: s[C].compute_inline(),
            "s[C].compute_inline()", "C is an output of the schedule", "outputs must be stored")


def test_compute_inline_of_a_stage_with_attached_producers(chain):
    A, B, C, R, s = chain
    s[B].compute_at(s[C], C.op.axis[0])
    rejects(s, lambda: s[C].compute_inline(),
            "s[C].compute_inline()", "stages ['B'] are computed inside its loops", "compute them at root first")


def test_compute_inline_of_a_placeholder(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[A].compute_inline(),
            "s[A].compute_inline()", "A is a placeholder (an input); it has no loops")


# storage scopes --------------------------------------------------------------------------------
def test_set_scope_unknown(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[B].set_scope("texture"),
            "s[B].set_scope('texture')", "unknown scope 'texture'", "use 'global', 'shared' or 'local'")


def test_set_scope_of_an_output(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s[R].set_scope("local"),
            "s[R].set_scope('local')", "R is an output, which lives in global memory",
            "use cache_write to stage it in faster memory")


# cache_read ------------------------------------------------------------------------------------
def test_cache_read_for_a_reader_that_does_not_read_the_tensor(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s.cache_read(A, "shared", [C]),
            "s.cache_read(A, 'shared', ['C'])", "stage C does not read A (it reads ['B'])",
            "list only stages that read the tensor")


def test_cache_read_unknown_scope(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s.cache_read(A, "texture", [B]),
            "s.cache_read(A, 'texture', ['B'])", "unknown scope 'texture'", "use 'global', 'shared' or 'local'")


def test_cache_read_without_readers(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s.cache_read(A, "shared", []),
            "s.cache_read(A, 'shared', [])", "give at least one reader stage")


def test_cache_read_of_a_tensor_of_another_computation(chain):
    A, B, C, R, s = chain
    Z = ns.placeholder((3,), name="Z")
    rejects(s, lambda: s.cache_read(Z, "shared", [B]),
            "s.cache_read(...)", "Z is not part of this schedule",
            "pass a tensor that the schedule's outputs are computed from")


def test_cache_read_for_a_reader_of_another_schedule(chain):
    A, B, C, R, s = chain
    other = ns.create_schedule(R)
    rejects(s, lambda: s.cache_read(A, "shared", [other[B]]),
            "s.cache_read(A, 'shared', ['B'])", "B is a stage of another schedule")


def test_cache_read_of_an_attached_tensor(chain):
    A, B, C, R, s = chain
    s[B].compute_at(s[C], C.op.axis[0])
    rejects(s, lambda: s.cache_read(B, "local", [C]),
            "s.cache_read(B, 'local', ['C'])", "B is computed inside loop i of C",
            "call cache_read before compute_at, or compute_root B first")


# cache_write -----------------------------------------------------------------------------------
def test_cache_write_after_other_primitives(chain):
    A, B, C, R, s = chain
    s[R].split(R.op.reduce_axis[0], factor=2)
    rejects(s, lambda: s.cache_write(R, "local"),
            "s.cache_write(R, 'local')", "stage R is already scheduled (split, marked, attached or cached)",
            "call cache_write before the other primitives on it")


def test_cache_write_of_a_stage_that_holds_attached_producers(chain):
    A, B, C, R, s = chain
    s[C].compute_at(s[R], R.op.axis[0])
    rejects(s, lambda: s.cache_write(R, "local"),
            "s.cache_write(R, 'local')", "stages ['C'] are computed inside the loops of R",
            "call cache_write before compute_at into it")


def test_cache_write_of_a_placeholder(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s.cache_write(A, "local"),
            "s.cache_write(A, 'local')", "A is a placeholder, which nothing computes",
            "use cache_read to copy an input")


def test_cache_write_unknown_scope(chain):
    A, B, C, R, s = chain
    rejects(s, lambda: s.cache_write(R, "register"),
            "s.cache_write(R, 'register')", "unknown scope 'register'", "use 'global', 'shared' or 'local'")


# stages and traces -----------------------------------------------------------------------------
def test_stage_by_an_unknown_name(chain):
    A, B, C, R, s = chain
    with pytest.raises(ScheduleError, match=_pattern("s['Q']", "no stage is named 'Q'",
                                                     "stages: ['A', 'B', 'C', 'R']")):
        s["Q"]


def test_from_trace_with_invalid_json(chain):
    A, B, C, R, s = chain
    with pytest.raises(ScheduleError, match=_pattern("Schedule.from_trace", "the trace is not valid JSON",
                                                     "pass the text of s.trace.to_json()")):
        ns.Schedule.from_trace(R, '[{"primitive": "split",')


def test_from_trace_with_json_that_is_not_a_list(chain):
    A, B, C, R, s = chain
    with pytest.raises(ScheduleError, match=_pattern("Schedule.from_trace", "must be a list of steps, got dict",
                                                     "s.trace.to_json()")):
        ns.Schedule.from_trace(R, '{"primitive": "split"}')


def test_from_trace_with_a_step_missing_its_arguments(chain):
    A, B, C, R, s = chain
    with pytest.raises(ScheduleError, match=_pattern("Schedule.from_trace", "malformed step",
                                                     "'args'", "as s.trace.to_json() writes it")):
        ns.Schedule.from_trace(R, json.dumps([{"primitive": "split", "stage": "B"}]))


def test_from_trace_with_an_unknown_primitive(chain):
    A, B, C, R, s = chain
    for primitive, stage in (("explode", "B"), ("add_stage", ""), ("__init__", "B")):
        step = {"primitive": primitive, "stage": stage, "args": {}, "results": []}
        with pytest.raises(ScheduleError, match=_pattern("Schedule.from_trace", f"unknown primitive {primitive!r}",
                                                         "a step names one of")):
            ns.Schedule.from_trace(R, json.dumps([step]))


def test_from_trace_with_malformed_arguments(chain):
    A, B, C, R, s = chain
    step = {"primitive": "split", "stage": "B", "args": {"axis": "i", "factr": 2}, "results": []}
    with pytest.raises(ScheduleError, match=_pattern("Schedule.from_trace", "malformed arguments",
                                                     "factr", "replay traces that s.trace.to_json() wrote")):
        ns.Schedule.from_trace(R, json.dumps([step]))


def test_from_trace_stops_at_the_first_rejected_step(chain):
    A, B, C, R, s = chain
    s[B].split(B.op.axis[0], factor=4)
    steps = json.loads(s.trace.to_json())
    steps.append(dict(steps[0]))
    with pytest.raises(ScheduleError, match=_pattern("s[B].split(i, factor=4)", "i is no longer a loop of stage B")):
        ns.Schedule.from_trace(R, json.dumps(steps))
