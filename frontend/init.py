"""Weight initialisation (seed Lec6) and random or constant tensors, with needle's names.

Kaiming keeps the variance of ReLU activations from layer to layer: ``Var[w] = 2 / fan_in``;
Xavier balances forward and backward signals: ``Var[w] = 2 / (fan_in + fan_out)``. Every random
initialiser takes ``rng``: a ``numpy.random.Generator``, a ``RandomState``, or None for the
generator set by :func:`seed` (numpy's global one until then, so ``np.random.seed`` reproduces
needle's draws). The random numbers are drawn on the host; nothing else is computed here.
"""

from __future__ import annotations

import math

import numpy as np

from tensorir.errors import DefinitionError
from tensorir.shapes import check_tensor_size

from . import random
from .tensor import Tensor

_default_rng: np.random.Generator | None = None


def seed(value: int) -> None:
    """Use ``np.random.default_rng(value)`` where no generator is passed."""
    global _default_rng
    _default_rng = np.random.default_rng(value)


def _rng(rng, what: str = "init"):
    return random.check(what, rng) if rng is not None else _default_rng


def _gain(nonlinearity: str) -> float:
    gains = {"relu": math.sqrt(2.0), "linear": 1.0, "tanh": 5.0 / 3.0, "sigmoid": 1.0}
    if nonlinearity not in gains:
        raise ValueError(f"init: unknown nonlinearity {nonlinearity!r}; use one of {sorted(gains)}")
    return gains[nonlinearity]


def _shape(shape) -> tuple[int, ...]:
    """A shape given as ``(2, 3)``, ``[2, 3]`` or the separate extents ``2, 3``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) and n >= 0 for n in shape):
        raise DefinitionError(f"init: shape {shape} must hold non-negative ints")
    shape = tuple(int(n) for n in shape)
    check_tensor_size(shape, "init")
    return shape


def _tensor(values: np.ndarray, dtype: str, device: str, requires_grad: bool) -> Tensor:
    return Tensor(values.astype(dtype), dtype=dtype, device=device or "cpu", requires_grad=requires_grad)


# -- shape first (the frontend's own names) ----------------------------------------------------
def uniform(shape, bound: float | None = None, *, low: float = 0.0, high: float = 1.0, dtype: str = "float32",
            device: str = "cpu", rng=None, requires_grad: bool = True) -> Tensor:
    """Values drawn uniformly from ``[low, high)``, or from ``[-bound, bound)`` when ``bound`` is given."""
    if bound is not None:
        low, high = -bound, bound
    if not low <= high:
        raise DefinitionError(f"init.uniform: low {low} is above high {high}; give low <= high")
    values = random.random(_rng(rng, "init.uniform"), _shape((shape,))) * (high - low) + low
    return _tensor(values, dtype, device, requires_grad)


def normal(shape, std: float = 1.0, *, mean: float = 0.0, dtype: str = "float32", device: str = "cpu", rng=None,
           requires_grad: bool = True) -> Tensor:
    """Values drawn from a normal distribution of mean ``mean`` and deviation ``std``."""
    if std < 0:
        raise DefinitionError(f"init.normal: std {std} is negative; give a deviation >= 0")
    values = random.standard_normal(_rng(rng, "init.normal"), _shape((shape,))) * std + mean
    return _tensor(values, dtype, device, requires_grad)


def bernoulli(shape, p: float = 0.5, *, dtype: str = "float32", device: str = "cpu", rng=None,
              requires_grad: bool = False) -> Tensor:
    """1 with probability ``p``, else 0 (needle's ``randb``: a uniform draw ``<= p``)."""
    if not 0.0 <= p <= 1.0:
        raise DefinitionError(f"init.bernoulli: p {p} is not a probability; give 0 <= p <= 1")
    values = random.random(_rng(rng, "init.bernoulli"), _shape((shape,))) <= p
    return _tensor(values, dtype, device, requires_grad)


# -- needle's names: the shape as separate extents ---------------------------------------------
def rand(*shape, low: float = 0.0, high: float = 1.0, device: str = "cpu", dtype: str = "float32", rng=None,
         requires_grad: bool = False) -> Tensor:
    """Uniform values in ``[low, high)`` (needle's ``init.rand``)."""
    return uniform(_shape(shape), low=low, high=high, dtype=dtype, device=device, rng=rng,
                   requires_grad=requires_grad)


def randn(*shape, mean: float = 0.0, std: float = 1.0, device: str = "cpu", dtype: str = "float32", rng=None,
          requires_grad: bool = False) -> Tensor:
    """Normal values (needle's ``init.randn``)."""
    return normal(_shape(shape), std, mean=mean, dtype=dtype, device=device, rng=rng, requires_grad=requires_grad)


def randb(*shape, p: float = 0.5, device: str = "cpu", dtype: str = "float32", rng=None,
          requires_grad: bool = False) -> Tensor:
    """Bernoulli values (needle's ``init.randb``)."""
    return bernoulli(_shape(shape), p, dtype=dtype, device=device, rng=rng, requires_grad=requires_grad)


def constant(*shape, c: float = 1.0, device: str = "cpu", dtype: str = "float32",
             requires_grad: bool = False) -> Tensor:
    """Every value ``c``."""
    if isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating)):
        raise DefinitionError(f"init.constant: c must be a number, got {type(c).__name__} {c!r}")
    return _tensor(np.full(_shape(shape), c, dtype=np.float64), dtype, device, requires_grad)


def zeros(*shape, device: str = "cpu", dtype: str = "float32", requires_grad: bool = False) -> Tensor:
    return constant(*shape, c=0.0, device=device, dtype=dtype, requires_grad=requires_grad)


def ones(*shape, device: str = "cpu", dtype: str = "float32", requires_grad: bool = False) -> Tensor:
    return constant(*shape, c=1.0, device=device, dtype=dtype, requires_grad=requires_grad)


def zeros_like(tensor: Tensor, *, device: str | None = None, requires_grad: bool = False) -> Tensor:
    return zeros(*tensor.shape, device=device or tensor.device, dtype=tensor.dtype, requires_grad=requires_grad)


def ones_like(tensor: Tensor, *, device: str | None = None, requires_grad: bool = False) -> Tensor:
    return ones(*tensor.shape, device=device or tensor.device, dtype=tensor.dtype, requires_grad=requires_grad)


def one_hot(n: int, i, device: str = "cpu", dtype: str = "float32", requires_grad: bool = False) -> Tensor:
    """Rows of ``n`` zeros with a one at each label of ``i`` (a compiled one-hot kernel): the
    shape is ``i.shape + (n,)``, as needle's ``np.eye(n)[i]``."""
    from .ops import one_hot as one_hot_op
    from .ops import reshape

    labels = i if isinstance(i, Tensor) else Tensor(np.asarray(i).astype(np.int64), device=device)
    flat = labels if labels.ndim == 1 else reshape(labels, (labels.size,))
    out = one_hot_op(flat, n, dtype)
    if labels.ndim != 1:
        out = reshape(out, (*labels.shape, n))
    out.requires_grad = requires_grad
    return out


# -- fan-scaled: needle's (fan_in, fan_out, ...) or the frontend's (shape, fan_in, ...) ---------
def _fans(name: str, args: tuple, shape) -> tuple[tuple[int, ...], int, int, tuple]:
    """``(shape, fan_in, fan_out, rest)`` from needle's ``(fan_in, fan_out, *rest)``; the shape is
    ``(fan_in, fan_out)`` unless given."""
    if len(args) < 2:
        raise DefinitionError(f"init.{name}: give fan_in and fan_out, e.g. init.{name}(784, 256)")
    fan_in, fan_out = int(args[0]), int(args[1])
    if fan_in < 1 or fan_out < 1:
        raise DefinitionError(f"init.{name}: fan_in {fan_in} and fan_out {fan_out} must be positive")
    return (tuple(shape) if shape is not None else (fan_in, fan_out)), fan_in, fan_out, args[2:]


def _xavier_args(name: str, args: tuple, shape, gain: float):
    if args and isinstance(args[0], (tuple, list)):  # (shape, fan_in, fan_out, gain)
        if len(args) < 3:
            raise DefinitionError(f"init.{name}: give (fan_in, fan_out) or (shape, fan_in, fan_out)")
        return tuple(args[0]), int(args[1]), int(args[2]), args[3] if len(args) > 3 else gain
    found_shape, fan_in, fan_out, rest = _fans(name, args, shape)
    if rest and (rest[0] is None or isinstance(rest[0], (tuple, list))):  # (fan_in, fan_out, shape, gain)
        found_shape = tuple(rest[0]) if rest[0] is not None else found_shape
        rest = rest[1:]
    return found_shape, fan_in, fan_out, rest[0] if rest else gain


def _needle_defaults(args: tuple, kwargs: dict) -> dict:
    """needle's initialisers draw through ``rand``/``randn``, whose tensors require no grad (a
    module wraps them in a Parameter); the frontend's ``(shape, fan_in)`` form keeps its own."""
    if not (args and isinstance(args[0], (tuple, list))):
        kwargs.setdefault("requires_grad", False)
    return kwargs


def xavier_uniform(*args, gain: float = 1.0, shape=None, **kwargs) -> Tensor:
    """``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``: ``xavier_uniform(fan_in,
    fan_out, gain=1.0)`` or ``(fan_in, fan_out, shape=None, gain=1.0)`` as in needle (no grad
    unless ``requires_grad=True``), or ``xavier_uniform(shape, fan_in, fan_out)``."""
    kwargs = _needle_defaults(args, kwargs)
    shape, fan_in, fan_out, gain = _xavier_args("xavier_uniform", args, shape, gain)
    return uniform(shape, gain * math.sqrt(6.0 / (fan_in + fan_out)), **kwargs)


def xavier_normal(*args, gain: float = 1.0, shape=None, **kwargs) -> Tensor:
    """``N(0, std^2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    kwargs = _needle_defaults(args, kwargs)
    shape, fan_in, fan_out, gain = _xavier_args("xavier_normal", args, shape, gain)
    return normal(shape, gain * math.sqrt(2.0 / (fan_in + fan_out)), **kwargs)


def _kaiming_args(name: str, args: tuple, shape, nonlinearity: str):
    if args and isinstance(args[0], (tuple, list)):  # (shape, fan_in, nonlinearity)
        if len(args) < 2:
            raise DefinitionError(f"init.{name}: give (fan_in, fan_out) or (shape, fan_in)")
        return tuple(args[0]), int(args[1]), args[2] if len(args) > 2 else nonlinearity
    found_shape, fan_in, _, rest = _fans(name, args, shape)
    if rest:  # needle: (fan_in, fan_out, shape=None, nonlinearity="relu")
        found_shape = tuple(rest[0]) if rest[0] is not None else found_shape
        nonlinearity = rest[1] if len(rest) > 1 else nonlinearity
    return found_shape, fan_in, nonlinearity


def kaiming_uniform(*args, shape=None, nonlinearity: str = "relu", **kwargs) -> Tensor:
    """``U(-b, b)`` with ``b = gain * sqrt(3 / fan_in)`` (``gain = sqrt(2)`` for ReLU):
    ``kaiming_uniform(fan_in, fan_out, shape=None, nonlinearity="relu")`` as in needle (the shape
    ``(fan_in, fan_out)`` unless given), or ``kaiming_uniform(shape, fan_in)``."""
    kwargs = _needle_defaults(args, kwargs)
    shape, fan_in, nonlinearity = _kaiming_args("kaiming_uniform", args, shape, nonlinearity)
    return uniform(shape, _gain(nonlinearity) * math.sqrt(3.0 / fan_in), **kwargs)


def kaiming_normal(*args, shape=None, nonlinearity: str = "relu", **kwargs) -> Tensor:
    """``N(0, std^2)`` with ``std = gain / sqrt(fan_in)``: ``Var = 2 / fan_in`` for ReLU."""
    kwargs = _needle_defaults(args, kwargs)
    shape, fan_in, nonlinearity = _kaiming_args("kaiming_normal", args, shape, nonlinearity)
    return normal(shape, _gain(nonlinearity) / math.sqrt(fan_in), **kwargs)
