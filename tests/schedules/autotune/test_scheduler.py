"""The task scheduler of whole-model tuning: warm-up for every task, then trials where the
expected end-to-end gain per trial is largest, and the budget spent exactly."""

from __future__ import annotations

import pytest

from schedules.autotune import TuningError
from schedules.autotune.scheduler import Outcome, allocate


class FakeTasks:
    """Tasks whose best time after ``t`` trials is ``start * (floor + (1 - floor) / (1 + speed * t))``;
    a task of ``size`` configs measures at most that many."""

    def __init__(self, speeds, floors=None, sizes=None):
        self.speeds = speeds
        self.floors = floors or [0.5] * len(speeds)
        self.sizes = sizes or [10**9] * len(speeds)
        self.trials = [0] * len(speeds)
        self.calls: list[tuple[int, int]] = []

    def __call__(self, index: int, trials: int) -> Outcome:
        self.calls.append((index, trials))
        done = min(trials, self.sizes[index] - self.trials[index])
        self.trials[index] += done
        if not self.trials[index]:
            return Outcome(done, None)
        floor = self.floors[index]
        return Outcome(done, floor + (1 - floor) / (1 + self.speeds[index] * self.trials[index]))


def test_the_heavier_task_gets_more_trials():
    measure = FakeTasks([0.5, 0.5])
    schedule = allocate([1.0, 0.1], 64, measure, warmup=4, batch=4)
    heavy, light = schedule.trials
    assert heavy > 2 * light and light >= 4


def test_the_task_that_improves_gets_more_trials_at_equal_weight():
    measure = FakeTasks([0.5, 0.0], floors=[0.7, 1.0])  # the second never improves
    schedule = allocate([1.0, 1.0], 64, measure, warmup=4, batch=4)
    improving, stuck = schedule.trials
    assert improving > stuck >= 4


def test_every_task_gets_its_warmup_heaviest_first():
    measure = FakeTasks([0.1] * 3)
    schedule = allocate([0.001, 1.0, 0.5], 40, measure, warmup=3, batch=8)
    assert all(trials >= 3 for trials in schedule.trials)
    assert [r.task for r in schedule.rounds[:3]] == [1, 2, 0]
    assert [r.asked for r in schedule.rounds[:3]] == [3, 3, 3]


@pytest.mark.parametrize("budget", [0, 1, 5, 17, 64, 101])
def test_the_budget_is_spent_exactly(budget):
    measure = FakeTasks([0.3, 1.0, 0.1])
    schedule = allocate([0.2, 0.5, 0.3], budget, measure, warmup=4, batch=8)
    assert schedule.measured == sum(schedule.trials) == sum(t for _, t in measure.calls) == budget
    assert all(r.asked <= 8 for r in schedule.rounds)


def test_a_budget_below_the_warmups_goes_to_the_heaviest_tasks():
    schedule = allocate([0.1, 0.9, 0.5], 6, FakeTasks([0.3] * 3), warmup=4, batch=8)
    assert schedule.trials == [0, 4, 2]


def test_an_exhausted_task_retires_and_its_trials_go_elsewhere():
    measure = FakeTasks([1.0, 0.1], sizes=[6, 10**9])
    schedule = allocate([10.0, 0.1], 50, measure, warmup=4, batch=4)
    assert schedule.trials == [6, 44] and schedule.tasks[0].retired
    everything = allocate([1.0, 1.0], 50, FakeTasks([1.0, 1.0], sizes=[3, 5]), warmup=4, batch=4)
    assert everything.trials == [3, 5]  # less than the budget only when every space is exhausted


def test_a_task_without_a_correct_candidate_keeps_its_weight():
    schedule = allocate([1.0, 1.0], 16, lambda index, trials: Outcome(trials, None if index == 0 else 1.0),
                        warmup=2, batch=2)
    assert schedule.tasks[0].best_s is None and schedule.tasks[0].seconds == 1.0
    assert schedule.measured == 16


@pytest.mark.parametrize("weights, budget, options, message", [
    ([], 8, {}, "no task to tune"),
    ([1.0, 0.0], 8, {}, "weights must be positive"),
    ([1.0], -1, {}, "budget must be an integer"),
    ([1.0], 8, {"batch": 0}, "batch must be an integer of at least 1"),
    ([1.0], 8, {"bonus": -1.0}, "bonus must be a non-negative number"),
])
def test_bad_arguments_name_the_fix(weights, budget, options, message):
    with pytest.raises(TuningError, match=message):
        allocate(weights, budget, FakeTasks([0.1] * max(1, len(weights))), **options)


def test_a_measure_that_overspends_is_refused():
    with pytest.raises(TuningError, match="at most 4 trials"):
        allocate([1.0], 8, lambda index, trials: Outcome(trials + 1, 1.0), warmup=4, batch=4)
