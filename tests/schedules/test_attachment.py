"""Attachment is a typed value (schedules.relations), and the queries over it
(schedules.attachment) answer from a proposed value without changing any stage."""

from __future__ import annotations

import nestor as ns
from schedules.attachment import attached_in, consumers, readers, stranded_producer
from schedules.relations import AT_ROOT, INLINED, At, AtRoot, Inlined


def test_primitives_record_attach_values(chain):
    A, B, C, R, s = chain
    assert s[B].attach == AT_ROOT and isinstance(s[B].attach, AtRoot)
    s[B].compute_at(s[C], C.op.axis[0])
    assert s[B].attach == At(s[C], C.op.axis[0])
    assert attached_in(s, s[C]) == [s[B]] and attached_in(s, s[C], C.op.axis[1]) == []
    s[B].compute_root()
    s[B].compute_inline()
    assert s[B].attach is INLINED and isinstance(s[B].attach, Inlined)


def test_consumers_look_through_a_proposed_inlining(chain):
    A, B, C, R, s = chain
    assert readers(s, s[B]) == [s[C]]
    assert consumers(s, s[B]) == [s[C]]
    assert consumers(s, s[B], lambda stage: INLINED if stage is s[C] else stage.attach) == [s[R]]


def test_stranded_producer_is_answered_without_moving_the_stage():
    A = ns.placeholder((13,), name="A")
    B = ns.compute((13,), lambda i: A[i] * 2.0, name="B")
    B2 = ns.compute((13,), lambda i: B[i] - 1.0, name="B2")
    C = ns.compute((11,), lambda i: B2[i] + B2[i + 2], name="C")
    s = ns.create_schedule(C)
    outer, _ = s[C].split(C.op.axis[0], factor=4)
    s[B2].compute_at(s[C], outer)
    s[B].compute_at(s[B2], B2.op.axis[0])
    before = s[B2].attach
    assert stranded_producer(s[B2], AT_ROOT) is None  # B moves along with B2
    assert stranded_producer(s[B2], INLINED) == (s[B], At(s[B2], B2.op.axis[0]))
    assert s[B2].attach is before
    assert stranded_producer(s[B], INLINED) is None
