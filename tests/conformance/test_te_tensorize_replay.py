"""Trace replay of a ``tensorize`` step: the trace records the intrinsic's name, and replay
tensorizes with the intrinsic most recently declared under that name, checking its match with
the tile again. The replayed schedule lowers to the same loop nest and computes numpy's values;
an unknown name and a re-declared intrinsic that no longer matches are refused, naming why."""

from __future__ import annotations

import pytest

import nestor as ns

from .te_shim import te, tvm
from .test_te_tensorize import _check_matmul, gemm_schedule, intrin_gemm, intrin_gemv_pieces, matmul, split_both


def test_a_tensorized_schedule_replays_from_json(rng):
    s, (A, B, C) = gemm_schedule(intrin_gemm(4, 8, 16))
    assert "s[C].tensorize(i_inner, intrin='gemm')" in str(s.trace)
    replayed = ns.Schedule.from_trace([C], s.trace.to_json())
    assert replayed[C].tensorized.intrin.name == "gemm"
    assert str(tvm.lower(replayed, [A, B, C])) == str(tvm.lower(s, [A, B, C]))
    _check_matmul(replayed, A, B, C, rng)


def test_the_reduction_form_replays_with_its_reset_and_update(rng):
    A, B, C = matmul()
    s, (x, yo, zo, yi, zi) = split_both(C)
    s[C].tensorize(yi, intrin_gemv_pieces(16, 16))
    replayed = ns.Schedule.from_trace([C], s.trace.to_json())
    assert str(tvm.lower(replayed, [A, B, C])) == str(tvm.lower(s, [A, B, C]))
    _check_matmul(replayed, A, B, C, rng)


def test_replay_by_an_unknown_or_changed_name_is_refused():
    s, (A, B, C) = gemm_schedule(intrin_gemm(4, 8, 16))
    text = s.trace.to_json().replace('"gemm"', '"gemm_not_declared"')
    with pytest.raises(te.ScheduleError) as info:
        ns.Schedule.from_trace([C], text)
    message = str(info.value)
    assert message.startswith("s[C].tensorize(i.inner, intrin='gemm_not_declared'): no tensor intrinsic named "
                              "'gemm_not_declared' is declared in this process (declared: [")
    assert message.endswith("]); declare it with ns.decl_tensor_intrin(..., name='gemm_not_declared') before "
                            "replaying the trace")
    intrin_gemm(4, 4, 16)  # "gemm" is now a 4 x 4 tile: the recorded 4 x 8 tile no longer matches
    with pytest.raises(te.ScheduleError) as info:
        ns.Schedule.from_trace([C], s.trace.to_json())
    assert str(info.value).startswith("s[C].tensorize(i.inner, 'gemm'): ")
    assert "8 iterations in the tile" in str(info.value)
    intrin_gemm(4, 8, 16)


def test_an_intrinsic_and_a_name_together_are_refused():
    s, (A, B, C) = gemm_schedule(intrin_gemm(4, 8, 16))
    s2 = te.create_schedule(C.op)
    with pytest.raises(te.ScheduleError) as info:
        s2[C].tensorize(C.op.axis[0], intrin_gemm(4, 8, 16), intrin="gemm")
    assert str(info.value) == ("s[C].tensorize(i, intrin='gemm'): both an intrinsic and intrin= are given; pass "
                               "one of them")
