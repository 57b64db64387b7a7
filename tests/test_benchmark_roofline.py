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


def test_compare_all_calls_every_side_and_names_each_peer():
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
