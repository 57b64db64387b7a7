"""The fused gradients of the activations: each one kernel, each differentiable again
(:class:`ReLU`, :class:`Tanh` and :class:`Sigmoid` of :mod:`.elementwise` use them)."""

from __future__ import annotations

from .elementwise import Elementwise, ScalarOp, mask, multiply


class ReLUBackward(Elementwise):
    """``g`` where ``x > 0``, else 0."""

    name = "relu_backward"
    saves, saves_output = (1,), False

    def scalar(self, g, x): return g * mask(x > 0.0, g.dtype)

    def gradient(self, gg, node): return (ReLUBackward()(gg, node.inputs[1]), None)


class TanhBackward(Elementwise):
    """``g * (1 - y^2)`` with ``y = tanh(x)``."""

    name = "tanh_backward"
    saves, saves_output = (0, 1), False

    def scalar(self, g, y): return g * (1.0 - y * y)

    def gradient(self, gg, node):
        g, y = node.inputs
        return TanhBackward()(gg, y), ScalarOp("mul", -2.0)(multiply(multiply(gg, g), y))


class SigmoidBackward(Elementwise):
    """``g * y * (1 - y)`` with ``y = sigmoid(x)``."""

    name = "sigmoid_backward"
    saves, saves_output = (0, 1), False

    def scalar(self, g, y): return g * y * (1.0 - y)

    def gradient(self, gg, node):
        g, y = node.inputs
        return SigmoidBackward()(gg, y), multiply(multiply(gg, g), ScalarOp("sub", 1.0, reverse=True)(
            ScalarOp("mul", 2.0)(y)))
