"""One test per ScheduleError message of attachment (compute_at, compute_inline), storage scopes,
the caches and trace replay. Each message names the primitive call, says why and what to do; a
rejected call leaves the schedule as it was."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import nestor as ns
from nestor import ScheduleError

from .errors_common import pattern, rejects


# compute_at ------------------------------------------------------------------------------------
def test_compute_at_into_a_stage_that_does_not_read_it(chain):
    A, B, C, R, _ = chain
    D = ns.compute((8, 6), lambda i, j: B[i, j] * 3.0, name="D")  # an output reading B
    s = ns.create_schedule([R, D])
    rejects(s, lambda: s[B].compute_at(s[R], R.op.axis[0]),
            "s[B].compute_at(s[R], i)", "stage R does not read B (its readers: ['C', 'D'])",
            "attach a stage inside a loop of a stage that reads it, or inside the loop where all its readers")


def test_compute_at_before_its_reader_is_attached_is_taken_and_lowering_checks_it(chain):
    """TVM's order (its GPU conv tutorial attaches a shared cache before the local cache that
    reads it): the call is taken while every reader can still move inside the loop, and
    lowering refuses the schedule if one is still outside then."""
    A, B, C, R, s = chain
    s[B].compute_at(s[R], R.op.axis[0])
    with pytest.raises(ns.LoweringError, match=re.escape(
            "lower main: B is computed inside loop i of R (compute_at), but ['C'] still read it outside "
            "that loop; compute_inline them, or compute_at them at that loop or inside it, or compute_root B")):
        ns.lower(s, [A, R])
    s[C].compute_at(s[R], R.op.axis[0])
    a = np.arange(48, dtype="float32").reshape(8, 6)
    out = np.full(8, np.nan, "float32")
    ns.build(s, [A, R], target="interp")(a, out)
    np.testing.assert_allclose(out, ((a + 1.0) * 2.0).sum(axis=1))


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


def test_compute_at_while_an_output_reads_it_outside_the_loop():
    # a reader that feeds D may still be inlined or attached there (test_tvm_orders); an output cannot
    A = ns.placeholder((6,), name="A")
    B = ns.compute((6,), lambda i: A[i] + 1.0, name="B")
    C = ns.compute((6,), lambda i: B[i] * 2.0, name="C")
    D = ns.compute((6,), lambda i: B[i] + C[i], name="D")
    s = ns.create_schedule([C, D])
    rejects(s, lambda: s[B].compute_at(s[D], D.op.axis[0]),
            "s[B].compute_at(s[D], i)", "B is also read by ['C'], which run outside that loop and can "
            "never run inside it (an output, or a stage that does not feed D)",
            "leave B at root, or attach it at a loop that all its readers run in")


def test_compute_at_while_a_reader_that_does_not_feed_the_stage_runs_outside():
    A = ns.placeholder((6,), name="A")
    B = ns.compute((6,), lambda i: A[i] + 1.0, name="B")
    C = ns.compute((6,), lambda i: B[i] * 2.0, name="C")
    D = ns.compute((6,), lambda i: B[i] + 1.0, name="D")
    E = ns.compute((6,), lambda i: C[i] + D[i], name="E")
    s = ns.create_schedule(E)
    rejects(s, lambda: s[B].compute_at(s[D], D.op.axis[0]),
            "s[B].compute_at(s[D], i)", "B is also read by ['C'], which run outside that loop and can "
            "never run inside it")


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
def test_cache_write_after_a_split_of_the_reduce_loop(chain):
    # a split of data loops is carried to the cache (test_tvm_orders); the reduction moves there
    A, B, C, R, s = chain
    s[R].split(R.op.reduce_axis[0], factor=2)
    rejects(s, lambda: s.cache_write(R, "local"),
            "s.cache_write(R, 'local')", "reduce loop k of R is already split or fused, but the "
            "reduction moves to the cache stage", "call cache_write first and split k on the cache stage")


def test_cache_write_after_a_mark(chain):
    A, B, C, R, s = chain
    s[R].parallel(R.op.axis[0])
    rejects(s, lambda: s.cache_write(R, "local"),
            "s.cache_write(R, 'local')", "stage R is already scheduled (marked, attached or cached)",
            "call cache_write before the other primitives on it (split and reorder may come first")


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
    with pytest.raises(ScheduleError, match=pattern("s['Q']", "no stage is named 'Q'",
                                                     "stages: ['A', 'B', 'C', 'R']")):
        s["Q"]


def test_from_trace_with_invalid_json(chain):
    A, B, C, R, s = chain
    with pytest.raises(ScheduleError, match=pattern("Schedule.from_trace", "the trace is not valid JSON",
                                                     "pass the text of s.trace.to_json()")):
        ns.Schedule.from_trace(R, '[{"primitive": "split",')


def test_from_trace_with_json_that_is_not_a_list(chain):
    A, B, C, R, s = chain
    with pytest.raises(ScheduleError, match=pattern("Schedule.from_trace", "must be a list of steps, got dict",
                                                     "s.trace.to_json()")):
        ns.Schedule.from_trace(R, '{"primitive": "split"}')


def test_from_trace_with_a_step_missing_its_arguments(chain):
    A, B, C, R, s = chain
    with pytest.raises(ScheduleError, match=pattern("Schedule.from_trace", "malformed step",
                                                     "'args'", "as s.trace.to_json() writes it")):
        ns.Schedule.from_trace(R, json.dumps([{"primitive": "split", "stage": "B"}]))


def test_from_trace_with_an_unknown_primitive(chain):
    A, B, C, R, s = chain
    for primitive, stage in (("explode", "B"), ("add_stage", ""), ("__init__", "B")):
        step = {"primitive": primitive, "stage": stage, "args": {}, "results": []}
        with pytest.raises(ScheduleError, match=pattern("Schedule.from_trace", f"unknown primitive {primitive!r}",
                                                         "a step names one of")):
            ns.Schedule.from_trace(R, json.dumps([step]))


def test_from_trace_with_malformed_arguments(chain):
    A, B, C, R, s = chain
    step = {"primitive": "split", "stage": "B", "args": {"axis": "i", "factr": 2}, "results": []}
    with pytest.raises(ScheduleError, match=pattern("Schedule.from_trace", "malformed arguments",
                                                     "factr", "replay traces that s.trace.to_json() wrote")):
        ns.Schedule.from_trace(R, json.dumps([step]))


def test_from_trace_stops_at_the_first_rejected_step(chain):
    A, B, C, R, s = chain
    s[B].split(B.op.axis[0], factor=4)
    steps = json.loads(s.trace.to_json())
    steps.append(dict(steps[0]))
    with pytest.raises(ScheduleError, match=pattern("s[B].split(i, factor=4)", "i is no longer a loop of stage B")):
        ns.Schedule.from_trace(R, json.dumps(steps))
