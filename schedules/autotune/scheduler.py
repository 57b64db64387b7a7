"""Whole-model tuning: share one trial budget among a model's tuning tasks by their expected gain
in end-to-end time, in the manner of Ansor's task scheduler (Zheng et al., OSDI 2020, section 6).

The rule
--------
Task ``i`` has a weight ``w_i``: the seconds of one training step spent in its kernels before
tuning (calls x time per call). After ``t_i`` trials its best measured time is ``b_i`` and the
first correct one was ``f_i``, so its kernels are estimated to take ``s_i = w_i * b_i / f_i``
seconds of a step now (``w_i`` until a correct record exists).

1. **Warm-up.** Every task gets ``warmup`` trials, round-robin, heaviest first, in rounds of at
   most ``batch`` trials. When the budget cannot cover every warm-up, the heaviest tasks get
   theirs first.
2. **Gain per trial.** Then the next round of ``batch`` trials goes to the task with the largest
   expected decrease of the step time per trial::

       gain_i = s_i * (r_i + bonus / t_i)

   ``r_i`` is the task's recent relative improvement rate: ``(b_before - b_i) / b_i`` over the
   trials of its last round, per trial (Ansor's backward-looking estimate). ``bonus / t_i`` is
   the optimistic bonus of a task explored little: it is assumed to improve by ``bonus / t_i``
   of its time per further trial (default ``bonus`` 0.05), which fades as the task is explored
   (Ansor's optimistic forward-looking estimate), so a task that stops improving loses its
   rounds to heavier or still improving ones. Ties go to the heavier task.
3. **Budget.** A round asks at most the trials still left (the last one is shorter), so the
   trials measured add up to the budget exactly. A task whose round measures fewer trials than
   asked has exhausted its space: it is retired and the trials it did not use go to the others
   (the total is less than the budget only when every task is exhausted).

The module is pure: it calls ``measure(task, trials)`` and reads what it returns, so it is
tested with a fake measure function; ``nestor tune model`` passes one that runs
:func:`schedules.autotune.tune` on the task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .errors import TuningError


@dataclass(frozen=True)
class Outcome:
    """What one round of a task measured: ``trials`` done and the task's ``best_s`` so far (None
    while no candidate was correct)."""

    trials: int
    best_s: float | None


@dataclass(frozen=True)
class Round:
    """One round of the schedule: which task, the trials asked, and what they gave."""

    task: int
    asked: int
    outcome: Outcome


@dataclass
class TaskState:
    """A task's progress: its weight (seconds per step before tuning), trials, first and best time."""

    weight: float
    trials: int = 0
    first_s: float | None = None
    best_s: float | None = None
    rate: float = 0.0
    retired: bool = False

    @property
    def seconds(self) -> float:
        """Estimated seconds per step in this task's kernels now."""
        if self.first_s is None or self.best_s is None:
            return self.weight
        return self.weight * self.best_s / self.first_s

    def gain(self, bonus: float) -> float:
        """Expected decrease of the step time per further trial."""
        return self.seconds * (self.rate + bonus / max(1, self.trials))

    def record(self, asked: int, outcome: Outcome) -> None:
        before = self.best_s
        self.trials += outcome.trials
        if outcome.best_s is not None:
            self.first_s = self.first_s if self.first_s is not None else outcome.best_s
            self.best_s = outcome.best_s if before is None else min(before, outcome.best_s)
        if before is not None and self.best_s is not None and outcome.trials:
            self.rate = max(0.0, (before - self.best_s) / self.best_s) / outcome.trials
        else:
            self.rate = 0.0
        self.retired = outcome.trials < asked


@dataclass
class Schedule:
    """The outcome of :func:`allocate`: every task's state and the rounds in order."""

    tasks: list[TaskState]
    rounds: list[Round] = field(default_factory=list)

    @property
    def trials(self) -> list[int]:
        """Trials measured per task."""
        return [task.trials for task in self.tasks]

    @property
    def measured(self) -> int:
        """Trials measured in all."""
        return sum(task.trials for task in self.tasks)


def allocate(weights: Sequence[float], budget: int, measure: Callable[[int, int], Outcome], *,
             warmup: int = 4, batch: int = 8, bonus: float = 0.05) -> Schedule:
    """Share ``budget`` trials among tasks of the given ``weights`` (see the module docstring).

    Parameters
    ----------
    weights
        Per task, its seconds per step before tuning (any positive scale).
    budget
        Trials in all.
    measure
        ``measure(task index, trials) -> Outcome``: measure that many more candidates of the task.
    warmup, batch
        Trials per task in the warm-up; trials of a round.
    bonus
        The optimistic relative improvement per trial of a task measured once (``bonus / t``
        after ``t`` trials).

    Returns
    -------
    Schedule
        The tasks' states and the rounds.
    """
    _check(weights, budget, warmup, batch, bonus)
    schedule = Schedule([TaskState(float(w)) for w in weights])
    left = budget
    for index in sorted(range(len(weights)), key=lambda i: -weights[i]):
        while left and schedule.tasks[index].trials < warmup and not schedule.tasks[index].retired:
            asked = min(batch, warmup - schedule.tasks[index].trials, left)
            left -= _run(schedule, index, asked, measure)
    while left:
        active = [i for i, task in enumerate(schedule.tasks) if not task.retired]
        if not active:
            break
        index = max(active, key=lambda i: (schedule.tasks[i].gain(bonus), schedule.tasks[i].weight))
        left -= _run(schedule, index, min(batch, left), measure)
    return schedule


def _run(schedule: Schedule, index: int, asked: int, measure: Callable[[int, int], Outcome]) -> int:
    outcome = measure(index, asked)
    if not isinstance(outcome, Outcome) or not 0 <= outcome.trials <= asked:
        raise TuningError(f"allocate: measure({index}, {asked}) returned {outcome!r}; expected an Outcome "
                          f"of at most {asked} trials")
    schedule.tasks[index].record(asked, outcome)
    schedule.rounds.append(Round(index, asked, outcome))
    return outcome.trials


def _check(weights: Sequence[float], budget: int, warmup: int, batch: int, bonus: float) -> None:
    if not weights:
        raise TuningError("allocate: no task to tune; the model has no kernel with a tuning space")
    if any(not w > 0 for w in weights):
        raise TuningError(f"allocate: task weights must be positive seconds per step, got {list(weights)}")
    for name, value, low in (("budget", budget, 0), ("warmup", warmup, 0), ("batch", batch, 1)):
        if not isinstance(value, int) or value < low:
            raise TuningError(f"allocate: {name} must be an integer of at least {low}, got {value!r}")
    if not 0.0 <= bonus < float("inf"):
        raise TuningError(f"allocate: bonus must be a non-negative number, got {bonus!r}")
