"""Optimizers (seed Lec6/Lec7/Lec9): SGD with momentum (bias-corrected) or Nesterov, and Adam;
L2 weight decay; a learning-rate schedule hook; gradient clipping by global norm.

One compiled kernel updates the parameters of one device and dtype (up to
:data:`UPDATE_GROUP` of them) and their state, each flattened (a gradient that is a transposed
view read in place), with the hyperparameters passed as a small array (so a changing learning
rate does not recompile anything)::

    momentum:  u = beta * u + (1 - beta) * (g + wd * w);  w = w - lr * u / (1 - beta^t)
    nesterov:  u as above;  w = w - lr * (beta * u + (1 - beta) * (g + wd * w)) / (1 - beta^t)
    adam:      m = b1 * m + (1 - b1) * g';  v = b2 * v + (1 - b2) * g'^2
               w = w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import numpy as np

from schedules.templates.generic_cpu import flat_vector
from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.tensor import compute

from . import dispatch, ops
from .autograd import no_grad
from .nn.module import Parameter
from .ops.base import Op
from .tensor import Tensor

#: parameters updated by one kernel at most (a kernel's compile time grows with its loops)
UPDATE_GROUP = 8


class UpdateOp(Op):
    """One optimizer step of several parameters in ONE kernel: inputs ``(w, g, *state)`` of each
    parameter, then ``hyper``; outputs ``(*state, w)`` of each. ``request.variant`` says, per
    parameter, whether its gradient comes transposed (a 2-D gradient computed as the transpose of
    a product, read in place): then ``w`` and its state are passed 2-D, the gradient as the
    ``(columns, rows)`` array it is a view of; else all are flat."""

    def __init__(self, rule: str, states: int):
        self.rule, self.states = rule, states
        self.name = f"{rule}_update"
        self.key = (self.name,)

    def compute(self, request, *inputs):
        *arrays, h = inputs
        per, outs = 2 + self.states, []
        for p, transposed in enumerate(request.variant):
            w, g, *state = arrays[p * per:(p + 1) * per]
            read_g = (lambda idx, g=g: g[idx[::-1]]) if transposed else (lambda idx, g=g: g[idx])
            outs += self._rule(w, read_g, state, h, str(p))
        return tuple(outs)

    def _rule(self, w, read_g, state, h, tag: str) -> list:
        """The outputs ``(*state, w)`` of one parameter (``h`` the hyperparameters)."""
        shape = w.shape

        def grad(idx):  # the gradient with L2 weight decay, h[1] = wd
            return read_g(idx) + h[1] * w[idx]

        if self.rule == "sgd":
            return [compute(shape, lambda *i: w[i] - h[0] * grad(i), name=f"w{tag}")]
        if self.rule in ("momentum", "nesterov"):  # h = lr, wd, beta, 1 / (1 - beta^t)
            u = compute(shape, lambda *i: h[2] * state[0][i] + (1.0 - h[2]) * grad(i), name=f"u{tag}")
            if self.rule == "momentum":
                return [u, compute(shape, lambda *i: w[i] - h[0] * u[i] * h[3], name=f"w{tag}")]
            return [u, compute(shape, lambda *i: w[i] - h[0] * (h[2] * u[i] + (1.0 - h[2]) * grad(i)) * h[3],
                               name=f"w{tag}")]
        # adam: h = lr, wd, beta1, beta2, eps, 1 / (1 - beta1^t), 1 / (1 - beta2^t)
        m = compute(shape, lambda *i: h[2] * state[0][i] + (1.0 - h[2]) * grad(i), name=f"m{tag}")
        v = compute(shape, lambda *i: h[3] * state[1][i] + (1.0 - h[3]) * grad(i) * grad(i), name=f"v{tag}")
        return [m, v, compute(shape, lambda *i: w[i] - h[0] * (m[i] * h[5]) / (fn.sqrt(v[i] * h[6]) + h[4]),
                              name=f"w{tag}")]

    def schedule(self, request, s, outputs, config):
        for out in outputs:
            flat_vector(s, out)


def _gradient_layout(p: Parameter) -> tuple[np.ndarray, bool]:
    """``(gradient array as the update kernel reads it, transposed)``: a 2-D gradient that is the
    transpose of a contiguous array is read in place (no copy), any other made contiguous."""
    grad = p.grad._storage()
    if grad.ndim == 2 and not grad.flags.c_contiguous and grad.T.flags.c_contiguous:
        return grad.T, True
    return ops.contiguous(grad, p.device).reshape(-1), False


class Optimizer:
    """Base of the optimizers: holds the parameters, the step count and the learning rate.

    Parameters
    ----------
    params
        The parameters to train (e.g. ``model.parameters()``).
    lr
        The base learning rate.
    weight_decay
        L2 penalty ``wd``: the gradient becomes ``g + wd * w`` (seed Lec9).
    lr_schedule
        Called with the step number (1, 2, ...) before each step; returns the factor applied
        to ``lr`` (see :func:`cosine_schedule`, :func:`step_schedule`).
    clip_norm
        When set, gradients are scaled so that their global L2 norm is at most this.
    """

    rule = "sgd"

    def __init__(self, params: Sequence[Parameter], lr: float = 0.01, weight_decay: float = 0.0,
                 lr_schedule: Callable[[int], float] | None = None, clip_norm: float | None = None):
        self.params = _parameters(type(self).__name__, params)
        _check_hyper(type(self).__name__, lr=lr, weight_decay=weight_decay)
        self.base_lr = self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.lr_schedule = lr_schedule
        self.clip_norm = clip_norm
        self.t = 0
        self.state: dict[int, list[np.ndarray]] = {}

    def _state_tensors(self, index: int) -> dict[Tensor, Tensor]:
        """State ``index`` of each parameter stepped so far, keyed by the parameter as needle's
        ``u``/``m``/``v`` dicts are: a copy of the values, in the parameter's shape."""
        return {p: Tensor(self.state[id(p)][index].reshape(p.shape), requires_grad=False)
                for p in self.params if id(p) in self.state}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def reset_grad(self) -> None:
        """needle's name for :meth:`zero_grad`."""
        self.zero_grad()

    def clip_grad_norm(self, max_norm: float = 0.25) -> float:
        """Scale the gradients to a global L2 norm of at most ``max_norm`` (needle's method;
        see :func:`clip_grad_norm`); returns the norm before clipping."""
        return clip_grad_norm(self.params, max_norm)

    def hyper(self) -> list[float]:
        return [self.lr, self.weight_decay]

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        self.t += 1
        if self.lr_schedule is not None:
            self.lr = self.base_lr * float(self.lr_schedule(self.t))
        if self.clip_norm is not None:
            clip_grad_norm(self.params, self.clip_norm)
        states = {"sgd": 0, "momentum": 1, "nesterov": 1, "adam": 2}[self.rule]
        groups: dict[tuple, list[Parameter]] = {}
        for p in self.params:
            if p.grad is None:
                continue
            if not isinstance(p.grad, Tensor):
                raise DefinitionError(f"{type(self).__name__}.step: a parameter of shape {p.shape} has a gradient "
                                      f"of type {type(p.grad).__name__}, not a Tensor; assign p.grad = "
                                      "Tensor(values) (or let backward() set it)")
            if p.grad.shape != p.shape:
                raise DefinitionError(f"{type(self).__name__}.step: a parameter of shape {p.shape} has a gradient of "
                                      f"shape {p.grad.shape}; give each parameter a gradient of its own shape")
            groups.setdefault((p.device, p.dtype, p.grad.dtype), []).append(p)
        for group in groups.values():
            for start in range(0, len(group), UPDATE_GROUP):
                self._update(group[start:start + UPDATE_GROUP], UpdateOp(self.rule, states))

    def _update(self, params: list[Parameter], op: UpdateOp) -> None:
        """One kernel updates ``params`` (of one device and dtype) and their state."""
        arrays, layouts = [], []
        for p in params:
            grad, transposed = _gradient_layout(p)
            shape = p.shape if transposed else (p.size,)
            storage = p._storage()
            state = self.state.setdefault(id(p), [np.zeros(storage.size, storage.dtype) for _ in range(op.states)])
            arrays += [storage.reshape(shape), grad, *(s.reshape(shape) for s in state)]
            layouts.append(transposed)
        hyper = np.asarray(self.hyper(), dtype=params[0]._storage().dtype)
        outs = iter(dispatch.run(op, [*(ops.contiguous(a, params[0].device) for a in arrays), hyper],
                                 params[0].device, tuple(layouts)))
        for p in params:
            self.state[id(p)] = [next(outs).reshape(-1) for _ in range(op.states)]
            p.assign_storage(next(outs).reshape(p.shape))


class SGD(Optimizer):
    """Gradient descent; with ``momentum`` the seed's averaged update ``u = beta * u + (1 - beta)
    * g``, ``w = w - lr * u`` as in needle (``bias_correction=True`` divides ``u`` by ``1 -
    beta^t``, the notes' unbiased form), or Nesterov's look-ahead."""

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False, bias_correction: bool = False, **kwargs):  # needle's order first
        super().__init__(params, lr, weight_decay, **kwargs)
        _check_hyper("SGD", momentum=momentum)
        self.momentum, self.bias_correction = float(momentum), bias_correction
        # needle keeps u[p] = g + wd * w also at momentum 0: with weight decay the averaged update
        # at beta = 0 computes it alongside w; without, it is the gradient itself (held, not copied)
        self.rule = "nesterov" if nesterov else ("momentum" if momentum or weight_decay else "sgd")
        self._gradients: dict[int, Tensor] = {}

    @property
    def u(self) -> dict[Tensor, Tensor]:
        """needle's momentum dict: ``u[p]`` after the steps so far; at momentum 0 the last step's
        ``g + wd * w``, as needle's update ``u = beta * u + (1 - beta) * (g + wd * w)`` leaves it."""
        if self.rule != "sgd":
            return self._state_tensors(0)
        return {p: Tensor(self._gradients[id(p)].numpy().copy(), requires_grad=False)
                for p in self.params if id(p) in self._gradients}

    def step(self) -> None:
        super().step()
        if self.rule == "sgd":
            self._gradients.update((id(p), p.grad) for p in self.params if p.grad is not None)

    def hyper(self) -> list[float]:
        if self.rule == "sgd":
            return [self.lr, self.weight_decay]
        correction = 1.0 / (1.0 - self.momentum ** self.t) if self.bias_correction else 1.0
        return [self.lr, self.weight_decay, self.momentum, correction]


class Adam(Optimizer):
    """Adam with bias-corrected first and second moments (seed Lec6); needle's defaults."""

    rule = "adam"

    def __init__(self, params, lr: float = 0.01, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0, **kwargs):  # needle's order
        super().__init__(params, lr, weight_decay, **kwargs)
        _check_hyper("Adam", beta1=beta1, beta2=beta2, eps=eps)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    @property
    def m(self) -> dict[Tensor, Tensor]:
        """needle's first-moment dict: ``m[p]`` after the steps so far (not bias-corrected)."""
        return self._state_tensors(0)

    @property
    def v(self) -> dict[Tensor, Tensor]:
        """needle's second-moment dict: ``v[p]`` after the steps so far (not bias-corrected)."""
        return self._state_tensors(1)

    def hyper(self) -> list[float]:
        return [self.lr, self.weight_decay, self.beta1, self.beta2, self.eps,
                1.0 / (1.0 - self.beta1 ** self.t), 1.0 / (1.0 - self.beta2 ** self.t)]


def _parameters(name: str, params) -> list[Tensor]:
    """``params`` as a list of tensors; a module or anything else is refused with the fix."""
    from .nn.module import Module

    if isinstance(params, Module):
        raise DefinitionError(f"{name}: give the module's parameters, {name}(model.parameters(), ...), "
                              "not the module itself")
    try:
        params = list(params)
    except TypeError:
        raise DefinitionError(f"{name}: params must be a list of parameters (model.parameters()), "
                              f"got {type(params).__name__}") from None
    for position, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise DefinitionError(f"{name}: params[{position}] is a {type(p).__name__}, not a Parameter; "
                                  "give model.parameters()")
    return params


#: each hyperparameter lies in ``[0, high)``
_HIGH = {"lr": math.inf, "weight_decay": math.inf, "momentum": 1.0, "beta1": 1.0, "beta2": 1.0, "eps": math.inf}


def _check_hyper(name: str, **values) -> None:
    for key, value in values.items():
        high = _HIGH[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < high:
            bound = "[0, 1)" if high == 1.0 else ">= 0"
            raise DefinitionError(f"{name}: {key}={value!r} is outside {bound}; give a number in that range")


def clip_grad_norm(params: Sequence[Parameter], max_norm: float) -> float:
    """Scale the gradients so that their global L2 norm is at most ``max_norm``; returns the norm
    before clipping. The squared norms are reductions in compiled kernels."""
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float, np.integer, np.floating)) \
            or not max_norm >= 0:
        raise DefinitionError(f"clip_grad_norm: max_norm must be a non-negative number, got {max_norm!r}")
    grads = [p for p in params if p.grad is not None]
    with no_grad():
        total = math.sqrt(sum(ops.summation(ops.multiply(p.grad, p.grad)).item() for p in grads))
        if total > max_norm:
            scale = Tensor(np.array([max_norm / (total + 1e-6)]), dtype=grads[0].dtype, requires_grad=False)
            for p in grads:
                p.grad = ops.multiply(p.grad, scale)
    return total


def cosine_schedule(total_steps: int, warmup: int = 0) -> Callable[[int], float]:
    """A learning-rate factor rising linearly over ``warmup`` steps, then a cosine down to 0."""
    def factor(step: int) -> float:
        if step <= warmup:
            return step / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def step_schedule(every: int, gamma: float = 0.1) -> Callable[[int], float]:
    """A learning-rate factor multiplied by ``gamma`` every ``every`` steps."""
    return lambda step: gamma ** ((step - 1) // every)
