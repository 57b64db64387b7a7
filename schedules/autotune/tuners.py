"""Tuners: which configs to measure next. Each sees only the space and the measured costs, and
returns knob values; none of them touches the IR.

- :class:`GridTuner` walks the valid points in order.
- :class:`RandomTuner` draws valid points without replacement.
- :class:`ModelTuner` fits a cost model to the measurements so far and picks the configs it
  predicts fastest, found by simulated annealing over the space (or by scoring every point of a
  small space), with a share of random picks to keep exploring.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import TuningError
from .model import make_model
from .space import Config, ConfigSpace


class Tuner:
    """Proposes configs of ``space``; learns from :meth:`update`. Never proposes a config twice."""

    name = ""

    def __init__(self, space: ConfigSpace, seed: int = 0):
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.visited: set[Config] = set()
        self.history: list[tuple[Config, float | None]] = []

    def update(self, configs: list[Config], costs: list[float | None]) -> None:
        """Tell the tuner what ``configs`` cost (seconds; None for a failed candidate)."""
        for config, cost in zip(configs, costs):
            self.visited.add(config)
            self.history.append((config, cost))

    def propose(self, count: int) -> list[Config]:
        """Up to ``count`` configs not measured yet (fewer only when the space runs out)."""
        raise NotImplementedError

    def _random(self, count: int, exclude: set[Config]) -> list[Config]:
        if self.space.enumerable:
            points = self.space.points()
            if len(self.visited) + len(exclude) >= len(points):
                left = [c for c in points if c not in self.visited and c not in exclude]
                return [left[int(i)] for i in self.rng.permutation(len(left))[:count]]
        found: list[Config] = []
        for _ in range(50 * count):
            if len(found) == count:
                break
            config = self.space.sample(self.rng)
            if config not in self.visited and config not in exclude and config not in found:
                found.append(config)
        return found


class GridTuner(Tuner):
    """The valid points in grid order (the last knob varies fastest)."""

    name = "grid"

    def __init__(self, space: ConfigSpace, seed: int = 0):
        super().__init__(space, seed)
        self._cursor = 0

    def propose(self, count: int) -> list[Config]:
        points, found = self.space.points(), []
        while self._cursor < len(points) and len(found) < count:
            if points[self._cursor] not in self.visited:
                found.append(points[self._cursor])
            self._cursor += 1
        return found


class RandomTuner(Tuner):
    """Valid points drawn uniformly, without replacement."""

    name = "random"

    def propose(self, count: int) -> list[Config]:
        return self._random(count, set())


class ModelTuner(Tuner):
    """Model-guided search: a cost model of log run time, minimised by simulated annealing.

    Parameters
    ----------
    space, seed
        As for every tuner.
    model
        ``"trees"`` (the built-in boosted trees) or ``"library"`` (LightGBM or XGBoost).
    warmup
        Random configs measured before the model is first used.
    epsilon
        Share of each batch drawn at random, to keep exploring.
    chains, steps
        Simulated annealing: parallel chains and steps per chain.
    score_all_below
        Spaces with fewer valid points are scored exhaustively instead of annealed.
    prior
        A :class:`~.transfer.Prior`: records of other shapes the model is trained on from the
        first batch (no random warm-up), with this task's records, on shape-invariant features.
    """

    name = "model"

    def __init__(self, space: ConfigSpace, seed: int = 0, model: str = "trees", warmup: int = 8,
                 epsilon: float = 0.1, chains: int = 32, steps: int = 80, score_all_below: int = 2048,
                 prior=None):
        super().__init__(space, seed)
        self.prior = prior
        self._features: np.ndarray | None = None
        self.model_kind, self.seed = model, seed
        self.warmup, self.epsilon = warmup, epsilon
        self.chains, self.steps, self.score_all_below = chains, steps, score_all_below
        make_model(model, seed)  # fail early on an unknown or missing model

    def _encode(self, config: Config) -> np.ndarray:
        return self.prior.featurize(config) if self.prior is not None else self.space.encode(config)

    def _all_features(self) -> np.ndarray:
        """The features of every point of the space (computed once)."""
        if self._features is None and self.prior is None:
            self._features = self.space.features()
        elif self._features is None:
            self._features = np.array([self._encode(c) for c in self.space.points()])
        return self._features

    def _training_set(self) -> tuple[np.ndarray, np.ndarray]:
        offset = self.prior.offset if self.prior is not None else 0.0
        good = [math.log(c) + offset for _, c in self.history if c is not None and c > 0]
        if self.prior is not None:
            good.append(float(self.prior.y.max()))
        penalty = (max(good) + math.log(2.0)) if good else 0.0
        x = np.array([self._encode(cfg) for cfg, _ in self.history])
        y = np.array([math.log(c) + offset if c is not None and c > 0 else penalty for _, c in self.history])
        if self.prior is None:
            return x, y
        if not len(y):
            return self.prior.x, self.prior.y
        # this shape's records weigh as much as one other shape's, at least
        repeat = max(1, min(8, len(self.prior) // max(1, self.prior.shapes * len(y))))
        return np.vstack([self.prior.x, np.repeat(x, repeat, axis=0)]), np.concatenate([self.prior.y,
                                                                                       np.repeat(y, repeat)])

    def propose(self, count: int) -> list[Config]:
        measured = sum(1 for _, c in self.history if c is not None)
        if (measured < self.warmup and self.prior is None) or not self.space.enumerable:
            return self._random(count, set())
        model = make_model(self.model_kind, self.seed + len(self.history)).fit(*self._training_set())
        explore = int(round(self.epsilon * count)) if count > 1 else 0
        chosen = self._best_predicted(model, count - explore)
        chosen += self._random(count - len(chosen), set(chosen))
        return chosen

    def _best_predicted(self, model, count: int) -> list[Config]:
        points = self.space.points()
        if len(points) <= self.score_all_below:
            scores = model.predict(self._all_features())
            candidates = {i: float(s) for i, s in enumerate(scores)}
        else:
            candidates = self._anneal(model)
        ranked = sorted(candidates, key=candidates.get)
        return [points[i] for i in ranked if points[i] not in self.visited][:count]

    def _anneal(self, model) -> dict[int, float]:
        """Predicted cost of every point the annealing chains visited."""
        features, points = self._all_features(), self.space.points()
        state = self._starts()
        energy = model.predict(features[state])
        seen = dict(zip(state.tolist(), energy.tolist()))
        scale = max(float(np.std(energy)), 1e-3)
        for step in range(self.steps):
            temperature = scale * (1.0 - step / self.steps) + 1e-6
            moved = np.array([self.space.index(self.space.mutate(points[i], self.rng)) for i in state])
            new_energy = model.predict(features[moved])
            seen.update(zip(moved.tolist(), new_energy.tolist()))
            accept = (new_energy < energy) | (
                self.rng.random(len(state)) < np.exp(np.minimum(0.0, energy - new_energy) / temperature))
            state = np.where(accept, moved, state)
            energy = np.where(accept, new_energy, energy)
        return seen

    def _starts(self) -> np.ndarray:
        """Chains start at the best measured configs and at random points."""
        measured = sorted((c, cfg) for cfg, c in self.history if c is not None)
        starts = [self.space.index(cfg) for _, cfg in measured[: self.chains // 2]]
        starts = [i for i in starts if i is not None]
        points = len(self.space.points())
        starts += self.rng.integers(points, size=self.chains - len(starts)).tolist()
        return np.array(starts, dtype=np.int64)


TUNERS = {"grid": GridTuner, "random": RandomTuner, "model": ModelTuner}


def make_tuner(kind: str, space: ConfigSpace, seed: int = 0, **options) -> Tuner:
    """A tuner by name: ``"grid"``, ``"random"`` or ``"model"``."""
    if kind not in TUNERS:
        raise TuningError(f"unknown tuner {kind!r}; choose one of {sorted(TUNERS)}")
    return TUNERS[kind](space, seed, **options)
