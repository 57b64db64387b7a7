"""Cost models for the model-guided tuner: fitted on the features of measured configs and their
log run times, they rank configs not yet measured.

:class:`BoostedTrees` is a small gradient-boosted regression-tree ensemble in numpy, made for the
tens to hundreds of samples a tuning run has. :class:`LibraryBoostedTrees` wraps LightGBM or
XGBoost where one is installed (``pip install nestor[tune]`` does not require either).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from .errors import TuningError


class _Tree:
    """A regression tree of bounded depth, stored as flat arrays (leaves have feature -1)."""

    def __init__(self, depth: int, min_leaf: int):
        self.depth, self.min_leaf = depth, min_leaf
        self.feature: list[int] = []
        self.threshold: list[float] = []
        self.children: list[tuple[int, int]] = []
        self.value: list[float] = []

    def fit(self, x: np.ndarray, residual: np.ndarray) -> _Tree:
        self._grow(x, residual, np.arange(len(residual)), 0)
        self._arrays = (np.array(self.feature), np.array(self.threshold),
                        np.array(self.children, dtype=np.int64).reshape(-1, 2), np.array(self.value))
        return self

    def _new_node(self, value: float) -> int:
        self.feature.append(-1)
        self.threshold.append(0.0)
        self.children.append((0, 0))
        self.value.append(value)
        return len(self.value) - 1

    def _grow(self, x: np.ndarray, residual: np.ndarray, rows: np.ndarray, depth: int) -> int:
        node = self._new_node(float(residual[rows].mean()))
        if depth >= self.depth or len(rows) < 2 * self.min_leaf:
            return node
        split = _best_split(x[rows], residual[rows], self.min_leaf)
        if split is None:
            return node
        feature, threshold = split
        left = rows[x[rows, feature] <= threshold]
        right = rows[x[rows, feature] > threshold]
        self.feature[node], self.threshold[node] = feature, threshold
        self.children[node] = (self._grow(x, residual, left, depth + 1), self._grow(x, residual, right, depth + 1))
        return node

    def predict(self, x: np.ndarray) -> np.ndarray:
        feature, threshold, children, value = self._arrays
        node = np.zeros(len(x), dtype=np.int64)
        for _ in range(self.depth):
            inner = feature[node] >= 0
            if not inner.any():
                break
            f = np.where(inner, feature[node], 0)
            go_right = x[np.arange(len(x)), f] > threshold[node]
            node = np.where(inner, children[node, go_right.astype(np.int64)], node)
        return value[node]


def _best_split(x: np.ndarray, y: np.ndarray, min_leaf: int) -> tuple[int, float] | None:
    """The (feature, threshold) that most reduces the squared error, or None."""
    best, best_gain = None, 1e-12
    total, count = y.sum(), len(y)
    for feature in range(x.shape[1]):
        order = np.argsort(x[:, feature], kind="stable")
        values, sums = x[order, feature], np.cumsum(y[order])
        left_n = np.arange(1, count)
        valid = (values[1:] > values[:-1]) & (left_n >= min_leaf) & (count - left_n >= min_leaf)
        if not valid.any():
            continue
        left = sums[:-1]
        gain = left**2 / left_n + (total - left) ** 2 / (count - left_n) - total**2 / count
        gain = np.where(valid, gain, -np.inf)
        at = int(np.argmax(gain))
        if gain[at] > best_gain:
            best, best_gain = (feature, float((values[at] + values[at + 1]) / 2)), float(gain[at])
    return best


class BoostedTrees:
    """Gradient-boosted regression trees (squared error), with row subsampling.

    Parameters
    ----------
    rounds
        Trees in the ensemble.
    depth
        Depth of each tree.
    learning_rate
        Shrinkage of each tree's contribution.
    min_leaf
        Fewest samples in a leaf.
    subsample
        Fraction of the samples each tree is fitted on.
    seed
        Seed of the subsampling.
    """

    name = "boosted-trees"

    def __init__(self, rounds: int = 80, depth: int = 3, learning_rate: float = 0.15, min_leaf: int = 2,
                 subsample: float = 0.8, seed: int = 0):
        self.rounds, self.depth, self.learning_rate = rounds, depth, learning_rate
        self.min_leaf, self.subsample = min_leaf, subsample
        self._rng = np.random.default_rng(seed)
        self._trees: list[_Tree] = []
        self._stacked: tuple | None = None
        self._base = 0.0

    def fit(self, x: np.ndarray, y: np.ndarray) -> BoostedTrees:
        x, y = np.asarray(x, float), np.asarray(y, float)
        self._base = float(y.mean())
        prediction = np.full(len(y), self._base)
        self._trees, self._stacked = [], None
        take = max(2 * self.min_leaf, int(round(self.subsample * len(y))))
        for _ in range(self.rounds):
            rows = self._rng.choice(len(y), size=min(take, len(y)), replace=False)
            tree = _Tree(self.depth, self.min_leaf).fit(x[rows], (y - prediction)[rows])
            prediction += self.learning_rate * tree.predict(x)
            self._trees.append(tree)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Every tree at once: the trees' flat arrays are stacked, padded to the largest tree."""
        x = np.asarray(x, float)
        if not self._trees:
            return np.full(len(x), self._base)
        if self._stacked is None:
            self._stacked = _stack(self._trees)
        feature, threshold, children, value = self._stacked
        trees = np.arange(len(self._trees))[:, None]
        node = np.zeros((len(self._trees), len(x)), dtype=np.int64)
        for _ in range(self.depth):
            inner = feature[trees, node] >= 0
            f = np.where(inner, feature[trees, node], 0)
            go_right = (x[np.arange(len(x))[None, :], f] > threshold[trees, node]).astype(np.int64)
            node = np.where(inner, children[trees, node, go_right], node)
        return self._base + self.learning_rate * value[trees, node].sum(axis=0)


def _stack(trees: list[_Tree]) -> tuple[np.ndarray, ...]:
    width = max(len(t.value) for t in trees)
    feature = np.full((len(trees), width), -1, dtype=np.int64)
    threshold = np.zeros((len(trees), width))
    children = np.zeros((len(trees), width, 2), dtype=np.int64)
    value = np.zeros((len(trees), width))
    for row, tree in enumerate(trees):
        f, t, c, v = tree._arrays
        feature[row, :len(f)], threshold[row, :len(t)], children[row, :len(c)], value[row, :len(v)] = f, t, c, v
    return feature, threshold, children, value


class LibraryBoostedTrees:
    """LightGBM's (or else XGBoost's) gradient-boosted trees, set up for small samples."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        if importlib.util.find_spec("lightgbm"):
            self.name = "lightgbm"
        elif importlib.util.find_spec("xgboost"):
            self.name = "xgboost"
        else:
            raise TuningError("the cost model 'library' needs lightgbm or xgboost: pip install lightgbm")

    def fit(self, x: np.ndarray, y: np.ndarray) -> LibraryBoostedTrees:
        x, y = np.asarray(x, float), np.asarray(y, float)
        if self.name == "lightgbm":
            import lightgbm

            params = {"objective": "regression", "learning_rate": 0.15, "num_leaves": 8, "min_data_in_leaf": 2,
                      "min_data_in_bin": 1, "bagging_fraction": 0.8, "bagging_freq": 1, "seed": self.seed,
                      "num_threads": 1, "verbose": -1}
            self._model = lightgbm.train(params, lightgbm.Dataset(x, y, params={"min_data_in_bin": 1}),
                                         num_boost_round=80)
        else:
            import xgboost

            params = {"eta": 0.15, "max_depth": 3, "subsample": 0.8, "seed": self.seed, "nthread": 1}
            self._model = xgboost.train(params, xgboost.DMatrix(x, label=y), num_boost_round=80)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, float)
        if self.name == "xgboost":
            import xgboost

            x = xgboost.DMatrix(x)
        return np.asarray(self._model.predict(x), float)


MODELS = ("trees", "library")


def make_model(kind: str = "trees", seed: int = 0):
    """A fresh cost model: ``"trees"`` (:class:`BoostedTrees`) or ``"library"`` (LightGBM/XGBoost)."""
    if kind == "trees":
        return BoostedTrees(seed=seed)
    if kind == "library":
        return LibraryBoostedTrees(seed=seed)
    raise TuningError(f"unknown cost model {kind!r}; choose one of {MODELS}")
