"""Optimizers (seed Lec6/Lec7/Lec9): SGD with momentum (bias-corrected) or Nesterov, and Adam;
L2 weight decay; a learning-rate schedule hook; gradient clipping by global norm.

Each parameter's update is one compiled kernel over the flattened parameter, its gradient and
its state, with the hyperparameters passed as a small array (so a changing learning rate does
not recompile anything)::

    momentum:  u = beta * u + (1 - beta) * (g + wd * w);  w = w - lr * u / (1 - beta^t)
    nesterov:  u as above;  w = w - lr * (beta * u + (1 - beta) * (g + wd * w)) / (1 - beta^t)
    adam:      m = b1 * m + (1 - b1) * g';  v = b2 * v + (1 - b2) * g'^2
               w = w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from schedules.templates.generic_cpu import flat_vector
from tensorir import functions as fn
from tensorir.tensor import compute

from . import dispatch, ops
from .nn.module import Parameter
from .ops.base import Op
from .tensor import Tensor, no_grad


class UpdateOp(Op):
    """One optimizer step of one parameter: inputs ``(w, g, *state, hyper)``, outputs ``(*state, w)``."""

    def __init__(self, rule: str, states: int):
        self.rule, self.states = rule, states
        self.name = f"{rule}_update"
        self.key = (self.name,)

    def compute(self, request, w, g, *rest):
        *state, h = rest
        n = w.shape

        def grad(i):  # the gradient with L2 weight decay, h[1] = wd
            return g[i] + h[1] * w[i]

        if self.rule == "sgd":
            return compute(n, lambda i: w[i] - h[0] * grad(i), name="w")
        if self.rule in ("momentum", "nesterov"):  # h = lr, wd, beta, 1 / (1 - beta^t)
            u = compute(n, lambda i: h[2] * state[0][i] + (1.0 - h[2]) * grad(i), name="u")
            if self.rule == "momentum":
                return u, compute(n, lambda i: w[i] - h[0] * u[i] * h[3], name="w")
            return u, compute(n, lambda i: w[i] - h[0] * (h[2] * u[i] + (1.0 - h[2]) * grad(i)) * h[3], name="w")
        # adam: h = lr, wd, beta1, beta2, eps, 1 / (1 - beta1^t), 1 / (1 - beta2^t)
        m = compute(n, lambda i: h[2] * state[0][i] + (1.0 - h[2]) * grad(i), name="m")
        v = compute(n, lambda i: h[3] * state[1][i] + (1.0 - h[3]) * grad(i) * grad(i), name="v")
        return m, v, compute(n, lambda i: w[i] - h[0] * (m[i] * h[5]) / (fn.sqrt(v[i] * h[6]) + h[4]), name="w")

    def schedule(self, request, s, outputs, config):
        for out in outputs:
            flat_vector(s, out)


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

    def __init__(self, params: Sequence[Parameter], lr: float, weight_decay: float = 0.0,
                 lr_schedule: Callable[[int], float] | None = None, clip_norm: float | None = None):
        self.params = list(params)
        self.base_lr = self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.lr_schedule = lr_schedule
        self.clip_norm = clip_norm
        self.t = 0
        self.state: dict[int, list[np.ndarray]] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

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
        op = UpdateOp(self.rule, states)
        for p in self.params:
            if p.grad is None:
                continue
            flat = p._storage().reshape(-1)
            state = self.state.setdefault(id(p), [np.zeros_like(flat) for _ in range(states)])
            hyper = np.asarray(self.hyper(), dtype=flat.dtype)
            grad = ops.contiguous(p.grad._storage(), p.device).reshape(-1)
            outs = dispatch.run(op, [flat, grad, *state, hyper], p.device)
            self.state[id(p)] = outs[:-1]
            p.assign_storage(outs[-1].reshape(p.shape))


class SGD(Optimizer):
    """Gradient descent; with ``momentum`` the seed's averaged update with bias correction
    ``1 / (1 - beta^t)`` (``bias_correction=False`` drops it), or Nesterov's look-ahead."""

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 bias_correction: bool = True, **kwargs):
        super().__init__(params, lr, **kwargs)
        self.momentum, self.bias_correction = float(momentum), bias_correction
        self.rule = "nesterov" if nesterov else ("momentum" if momentum else "sgd")

    def hyper(self) -> list[float]:
        if self.rule == "sgd":
            return [self.lr, self.weight_decay]
        correction = 1.0 / (1.0 - self.momentum ** self.t) if self.bias_correction else 1.0
        return [self.lr, self.weight_decay, self.momentum, correction]


class Adam(Optimizer):
    """Adam with bias-corrected first and second moments (seed Lec6)."""

    rule = "adam"

    def __init__(self, params, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 **kwargs):
        super().__init__(params, lr, **kwargs)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def hyper(self) -> list[float]:
        return [self.lr, self.weight_decay, self.beta1, self.beta2, self.eps,
                1.0 / (1.0 - self.beta1 ** self.t), 1.0 / (1.0 - self.beta2 ** self.t)]


def clip_grad_norm(params: Sequence[Parameter], max_norm: float) -> float:
    """Scale the gradients so that their global L2 norm is at most ``max_norm``; returns the norm
    before clipping. The squared norms are reductions in compiled kernels."""
    grads = [p for p in params if p.grad is not None]
    with no_grad():
        total = math.sqrt(sum(ops.summation(ops.multiply(p.grad, p.grad)).item() for p in grads))
        if total > max_norm:
            scale = Tensor(np.array([max_norm / (total + 1e-6)]), dtype=grads[0].dtype)
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
