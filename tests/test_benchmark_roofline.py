"""The benchmarks' roofline arithmetic and the multi-peer comparison (no time is asserted)."""

from __future__ import annotations

import pytest

from benchmarks.harness import compare_all
from benchmarks.roofline import Machine


def test_bound_is_the_slower_of_compute_and_memory():
    host = Machine(flops=100e9, bandwidth=10e9)
    assert host.bound(200e9, 1e9) == pytest.approx(2.0)  # compute-bound
    assert host.bound(1e9, 50e9) == pytest.approx(5.0)  # memory-bound
    assert host.fraction(4.0, 200e9, 1e9) == pytest.approx(0.5)


def test_compare_all_calls_every_side_and_names_each_peer(monkeypatch):
    from benchmarks import harness

    monkeypatch.setattr(harness, "WARM_UP", 0.0)  # each side warmed by the same three calls
    calls = {"ours": 0, "a": 0, "b": 0}

    def side(name):
        def run():
            calls[name] += 1
        return run

    ours, spread, peers = compare_all(side("ours"), {"a": side("a"), "b": side("b")}, repeat=3, min_round=0.0,
                                      settle=0.0)
    assert set(peers) == {"a", "b"}
    assert ours > 0 and spread >= 0 and all(seconds > 0 for seconds, _ in peers.values())
    assert calls["ours"] == calls["a"] == calls["b"] >= 3


def test_compare_all_cpu_counts_cpu_seconds_per_call_over_the_threads():
    import time

    from benchmarks.harness import compare_all_cpu

    def busy():  # about 2 ms of CPU
        end = time.process_time() + 0.002
        while time.process_time() < end:
            pass

    ours, spread, peers = compare_all_cpu(busy, {"asleep": lambda: time.sleep(0.002)}, repeat=3, threads=2,
                                          min_round=0.0)
    assert set(peers) == {"asleep"} and spread >= 0
    assert 0.001 <= ours < 0.01  # 2 ms of CPU over 2 threads, per call
    assert peers["asleep"][0] < ours  # a sleeping side uses (almost) no CPU


def test_rounds_pair_each_round_and_repeat_short_calls(monkeypatch):
    from benchmarks import harness
    from benchmarks.harness import PROBE_CALLS, SHORT_ROUNDS, Rounds, rounds_all

    monkeypatch.setattr(harness, "WARM_UP", 0.0)  # the warm-up is then its three calls

    calls = {"ours": 0, "peer": 0}

    def side(name):
        def run():
            calls[name] += 1
        return run

    rounds = rounds_all(side("ours"), {"peer": side("peer")}, repeat=3, min_round=0.0, settle=0.0)
    assert len(rounds.samples[""]) == len(rounds.samples["peer"]) == 3 * SHORT_ROUNDS  # a short call
    # each round: one untimed call after the pause, then the timed one; before them a warm-up
    # of three calls and the single calls that size the rounds
    assert calls["ours"] == calls["peer"] == 2 * 3 * SHORT_ROUNDS + 3 + PROBE_CALLS
    fixed = Rounds({"": [1.0, 2.0, 4.0, 1.0, 1.0], "p": [2.0, 2.0, 2.0, 1.0, 0.5]})
    assert fixed.paired_ratios("p") == [2.0, 1.0, 0.5, 1.0, 0.5]
    q1, median, q3 = fixed.ratio_quartiles("p")
    assert median == 1.0 and q1 == 0.5 and q3 == 1.5
    assert fixed.summary() == (1.0, fixed.spread(), {"p": (2.0, fixed.spread("p"))})


def test_long_calls_keep_the_rounds_asked_for():
    import time

    from benchmarks.harness import SHORT_CALL, rounds_all_cpu

    def long_call():
        end = time.perf_counter() + SHORT_CALL * 1.2
        while time.perf_counter() < end:
            pass

    rounds = rounds_all_cpu(long_call, {"long": long_call}, repeat=2, min_round=0.0)
    assert len(rounds.samples[""]) == len(rounds.samples["long"]) == 2
    # the fastest side decides: a peer under SHORT_CALL makes the calls short
    assert len(rounds_all_cpu(long_call, {"quick": lambda: None}, repeat=2, min_round=0.0).samples[""]) > 2


def test_cpu_rounds_give_the_share_of_the_wall_time_spent_working():
    import time

    from benchmarks.harness import rounds_all, rounds_all_cpu

    def busy():
        end = time.process_time() + 0.002
        while time.process_time() < end:
            pass

    # (how much of the wall time the busy loop gets depends on the machine's load: only bounds)
    rounds = rounds_all_cpu(busy, {"asleep": lambda: time.sleep(0.002)}, repeat=3, threads=1, min_round=0.0)
    assert rounds.busy_share("asleep") < min(0.2, rounds.busy_share()) <= rounds.busy_share() <= 1.05
    two = rounds_all_cpu(busy, {}, repeat=1, threads=2, min_round=0.0)
    assert 0 < two.busy_share() <= 0.55  # one thread of two at work
    assert rounds_all(busy, {"asleep": lambda: time.sleep(0.002)}, repeat=1, min_round=0.0,
                      settle=0.0).busy_share() is None  # wall-clock rounds do not know


class _Clock:
    """A fake ``time.perf_counter``: each call of a side advances it by that call's duration."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rounds_are_sized_from_the_steady_call_not_the_first_slow_ones(monkeypatch):
    """A side whose first six calls take 16 ms and later ones 0.2 ms (PyTorch's first 256^3
    products): the rounds hold 0.05 s of its steady calls, not three calls."""
    from benchmarks import harness

    clock = _Clock()
    monkeypatch.setattr(harness.time, "perf_counter", clock)
    made = {"slow start": 0}

    def slow_start():
        made["slow start"] += 1
        clock.now += 0.016 if made["slow start"] <= 6 else 0.0002

    def steady():
        clock.now += 0.0001

    assert harness.steady_call(steady) == pytest.approx(0.0001)
    assert harness.calls_per_round((steady, slow_start), 0.05) == pytest.approx(250, abs=1)
    assert made["slow start"] > 6 + harness.PROBE_CALLS  # warmed past its slow calls first
