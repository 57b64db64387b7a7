"""Search spaces: the knobs a template declares, the constraints between them, and their valid points.

A template declares its knobs on a :class:`ConfigSpace`::

    cfg = ConfigSpace()
    cfg.define_split("tile_i", 1024, num_outputs=3)          # [outer, middle, inner], product 1024
    cfg.define_knob("pack_b", [False, True])
    cfg.constrain(lambda c: c["tile_i"][-1] <= 8, "the register tile has at most 8 rows")

A point of the space is a :class:`Config` (knob name -> value; a split's value is a tuple of
factors, outermost first). Only points that satisfy every constraint are valid; tuners only ever
see valid points.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tensorir.intmath import ceil_div

from .errors import TuningError

#: how a split's factors may be chosen
POLICIES = ("factors", "power2", "all")
#: spaces with more raw points than this are sampled, never enumerated
MAX_ENUMERATE = 2_000_000


class Config(Mapping):
    """One point of a space: knob values in declaration order. Hashable, JSON-serialisable."""

    __slots__ = ("_items", "_values")

    def __init__(self, items: Mapping[str, Any] | Sequence[tuple[str, Any]]):
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items = tuple((name, tuple(v) if isinstance(v, list) else v) for name, v in pairs)
        self._values = dict(self._items)

    def __getitem__(self, name: str):
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            return self._items == other._items
        return NotImplemented

    def to_json(self) -> str:
        return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in self._items})

    @classmethod
    def from_json(cls, text: str) -> Config:
        return cls(json.loads(text))

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in self._items) + ")"


@dataclass(frozen=True)
class Knob:
    """A named knob and its choices (a split's choices are tuples of factors)."""

    name: str
    choices: tuple
    kind: str  # "split" or "choice"

    def encode(self, value) -> list[float]:
        """Numeric features of ``value`` for cost models."""
        if self.kind == "split":
            return [math.log2(f) for f in value]
        if isinstance(value, bool):
            return [float(value)]
        if isinstance(value, (int, float)):
            return [math.log2(value) if value > 0 else float(value)]
        return [float(self.choices.index(value))]


def _divisors(extent: int) -> list[int]:
    """The divisors of ``extent`` in ascending order, by trial division up to its square root
    (a loop over every number up to a large extent would not end)."""
    small, large = [], []
    d = 1
    while d * d <= extent:
        if extent % d == 0:
            small.append(d)
            if d * d != extent:
                large.append(extent // d)
        d += 1
    return small + large[::-1]


def split_choices(extent: int, num_outputs: int, policy: str = "factors",
                  max_factor: int | None = None) -> list[tuple[int, ...]]:
    """Every way to split a loop of ``extent`` into ``num_outputs`` nested loops, outermost first.

    ``factors``: the factors multiply to ``extent`` exactly (no guards). ``power2``: the inner
    factors are powers of two, the outer one rounds up. ``all``: the inner factors are any
    integers, the outer one rounds up. ``max_factor`` bounds each inner factor.
    """
    if policy not in POLICIES:
        raise TuningError(f"define_split: policy must be one of {POLICIES}, got {policy!r}")
    if not isinstance(extent, int) or extent <= 0 or not isinstance(num_outputs, int) or num_outputs < 1:
        raise TuningError(f"define_split({extent}, num_outputs={num_outputs}): the extent and the number "
                          "of outputs must be positive integers")
    limit = extent if max_factor is None else min(extent, max_factor)
    if policy == "factors":
        allowed = [d for d in _divisors(extent) if d <= limit]
    elif policy == "power2":
        allowed = [1 << n for n in range(limit.bit_length())]
    else:
        allowed = list(range(1, limit + 1))
    found: list[tuple[int, ...]] = []

    def inner(prefix: tuple[int, ...], product: int) -> None:
        if len(prefix) == num_outputs - 1:
            if policy == "factors":
                found.append((extent // product, *prefix))
            else:
                found.append((ceil_div(extent, product), *prefix))
            return
        for factor in allowed:
            if product * factor > extent:
                break
            if policy == "factors" and (extent // product) % factor:
                continue
            inner((*prefix, factor), product * factor)

    inner((), 1)
    return sorted(found, key=lambda split: split[::-1])


def _undecided(predicates: list, partial: dict) -> list | None:
    """The predicates that still need unset knobs, or None if one of them fails already."""
    left = []
    for predicate in predicates:
        try:
            if not predicate(partial):
                return None
        except KeyError:
            left.append(predicate)
    return left


class ConfigSpace:
    """Knobs, constraints between them, and the valid points they leave.

    Examples
    --------
    >>> cfg = ConfigSpace()
    >>> cfg.define_split("tile", 8, num_outputs=2)
    >>> cfg.define_knob("unroll", [False, True])
    >>> cfg.constrain(lambda c: c["tile"][1] <= 4, "inner tile of at most 4")
    >>> len(cfg), cfg.raw_size
    (6, 8)
    """

    def __init__(self) -> None:
        self.knobs: dict[str, Knob] = {}
        self.constraints: list[tuple[Callable[[Config], bool], str]] = []
        self._points: list[Config] | None = None
        self._index: dict[Config, int] | None = None
        self._features: np.ndarray | None = None

    # -- declaration -----------------------------------------------------------------------
    def define_split(self, name: str, extent: int, num_outputs: int = 2, policy: str = "factors",
                     max_factor: int | None = None) -> None:
        """Declare a knob that splits a loop of ``extent`` into ``num_outputs`` loops.

        Parameters
        ----------
        name
            The knob's name; its value is a tuple of ``num_outputs`` factors, outermost first.
        extent
            The extent of the loop being split.
        num_outputs
            How many nested loops the split makes.
        policy
            ``"factors"`` (exact divisors), ``"power2"`` or ``"all"`` (see :func:`split_choices`).
        max_factor
            The largest inner factor considered.
        """
        self._add(Knob(name, tuple(split_choices(extent, num_outputs, policy, max_factor)), "split"))

    def define_knob(self, name: str, choices: Sequence) -> None:
        """Declare a knob that takes one of ``choices`` (numbers, booleans or strings)."""
        choices = tuple(choices)
        if not choices or len(set(choices)) != len(choices):
            raise TuningError(f"define_knob({name!r}): give at least one choice, each once; got {list(choices)}")
        self._add(Knob(name, choices, "choice"))

    def constrain(self, predicate: Callable[[Config], bool], reason: str) -> None:
        """Declare that only configs for which ``predicate(config)`` holds are valid.

        ``predicate`` must be pure and read knobs as ``c[name]``: the enumeration calls it on
        partial configs and takes a KeyError to mean "not decidable yet". ``reason`` says why,
        in words (it is reported for an invalid config).
        """
        if not callable(predicate):
            raise TuningError(f"constrain({reason!r}): the predicate must be callable")
        self.constraints.append((predicate, reason))
        self._reset()

    def _add(self, knob: Knob) -> None:
        if knob.name in self.knobs:
            raise TuningError(f"knob {knob.name!r} is declared twice")
        if not knob.choices:
            raise TuningError(f"knob {knob.name!r} has no choices")
        self.knobs[knob.name] = knob
        self._reset()

    def _reset(self) -> None:
        self._points = self._index = self._features = None

    # -- validity --------------------------------------------------------------------------
    def violations(self, config: Config) -> list[str]:
        """The reasons of the constraints that ``config`` breaks (empty when it is valid)."""
        broken = []
        for name, value in config.items():
            knob = self.knobs.get(name)
            if knob is None or value not in knob.choices:
                broken.append(f"{name}={value!r} is not a choice of the space")
        if broken or set(config) != set(self.knobs):
            missing = sorted(set(self.knobs) - set(config))
            return broken + ([f"missing knobs {missing}"] if missing else [])
        return [reason for predicate, reason in self.constraints if not predicate(config)]

    def is_valid(self, config: Config) -> bool:
        if self._points is not None:
            return config in self._index
        return not self.violations(config)

    def _satisfies(self, config: Config) -> bool:
        return all(predicate(config) for predicate, _ in self.constraints)

    def config(self, **values) -> Config:
        """The config with these knob values (split values as tuples or lists), checked valid."""
        config = Config([(name, values[name]) for name in self.knobs if name in values])
        unknown = sorted(set(values) - set(self.knobs))
        broken = ([f"unknown knobs {unknown}"] if unknown else []) + self.violations(config)
        if broken:
            raise TuningError(f"invalid config {config}: " + "; ".join(broken))
        return config

    # -- the valid points ------------------------------------------------------------------
    @property
    def raw_size(self) -> int:
        """The number of points before constraints (the product of the knobs' choice counts)."""
        return math.prod(len(k.choices) for k in self.knobs.values())

    @property
    def enumerable(self) -> bool:
        return self.raw_size <= MAX_ENUMERATE

    def points(self) -> list[Config]:
        """Every valid point, in grid order (the last knob varies fastest)."""
        if self._points is None:
            if not self.enumerable:
                raise TuningError(f"the space has {self.raw_size} raw points, more than {MAX_ENUMERATE} "
                                  "to enumerate; narrow its splits (policy, max_factor) or knobs")
            self._points = self._enumerate()
            self._index = {c: n for n, c in enumerate(self._points)}
        return self._points

    def _enumerate(self) -> list[Config]:
        """Depth-first over the knobs in order, each constraint checked as soon as it can be: a
        pure predicate that returns without reading an unset knob (KeyError) holds for every
        completion, so a false one prunes the whole subtree."""
        knobs, found = list(self.knobs.values()), []

        def visit(depth: int, partial: dict, pending: list) -> None:
            if depth == len(knobs):
                found.append(Config(list(partial.items())))
                return
            knob = knobs[depth]
            for value in knob.choices:
                partial[knob.name] = value
                left = _undecided(pending, partial)
                if left is not None:
                    visit(depth + 1, partial, left)
            del partial[knob.name]

        visit(0, {}, [predicate for predicate, _ in self.constraints])
        return found

    def __len__(self) -> int:
        return len(self.points())

    def __iter__(self) -> Iterator[Config]:
        return iter(self.points())

    def index(self, config: Config) -> int | None:
        """The position of ``config`` among :meth:`points`, or None if it is not valid."""
        self.points()
        return self._index.get(config)

    def sample(self, rng: np.random.Generator) -> Config:
        """A valid point drawn uniformly."""
        if self.enumerable:
            points = self.points()
            if not points:
                raise TuningError("the space has no valid point; relax its constraints")
            return points[int(rng.integers(len(points)))]
        for _ in range(10_000):
            config = Config((k.name, k.choices[int(rng.integers(len(k.choices)))]) for k in self.knobs.values())
            if self._satisfies(config):
                return config
        raise TuningError("found no valid point in 10000 draws; relax the space's constraints")

    def mutate(self, config: Config, rng: np.random.Generator, tries: int = 8) -> Config:
        """A valid neighbour of ``config``: one knob changed (``config`` itself if none is found)."""
        names = [k.name for k in self.knobs.values() if len(k.choices) > 1]
        for _ in range(tries if names else 0):
            knob = self.knobs[names[int(rng.integers(len(names)))]]
            value = knob.choices[int(rng.integers(len(knob.choices)))]
            if value == config[knob.name]:
                continue
            candidate = Config((n, value if n == knob.name else v) for n, v in config.items())
            if self.is_valid(candidate):
                return candidate
        return config

    # -- features --------------------------------------------------------------------------
    def encode(self, config: Config) -> np.ndarray:
        """Numeric features of ``config`` (log2 of split factors and numeric choices)."""
        return np.array([x for knob in self.knobs.values() for x in knob.encode(config[knob.name])])

    def features(self) -> np.ndarray:
        """The features of every valid point, one row each, in :meth:`points` order."""
        if self._features is None:
            points = self.points()
            width = len(self.encode(points[0])) if points else 0
            self._features = np.array([self.encode(c) for c in points]).reshape(len(points), width)
        return self._features

    def describe(self) -> str:
        """One line per knob, then the constraints and the size."""
        lines = [f"{k.name}: {k.kind} of {len(k.choices)} choices" for k in self.knobs.values()]
        lines += [f"constraint: {reason}" for _, reason in self.constraints]
        size = f"{len(self)} valid" if self.enumerable else "valid count not enumerated"
        lines.append(f"size: {self.raw_size} raw points, {size}")
        return "\n".join(lines)
