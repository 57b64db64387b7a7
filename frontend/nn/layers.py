"""Basic layers: Linear, activations, Flatten, Sequential, Residual, Dropout and the softmax loss."""

from __future__ import annotations

import numpy as np

from tensorir.errors import DefinitionError

from .. import init, ops, random
from ..tensor import Tensor
from .module import Module, Parameter, check_input, check_sizes


class Linear(Module):
    """``y = x @ W + b`` (seed Lec7), initialised as needle does: ``W`` of shape (in_features,
    out_features) Kaiming-uniform with fan_in ``in_features``, then ``b`` of shape
    (1, out_features) Kaiming-uniform with fan_in ``out_features`` (drawn in that order, so a
    seeded generator gives needle's values). ``b`` may also be given shape (out_features,)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: str = "cpu",
                 dtype: str = "float32", rng: np.random.Generator | None = None):  # needle's order
        super().__init__()
        check_sizes("Linear", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter.of(init.kaiming_uniform((in_features, out_features), in_features, dtype=dtype,
                                                        device=device, rng=rng))
        self.bias = None
        if bias:
            values = init.kaiming_uniform((out_features, 1), out_features, dtype=dtype, device=device, rng=rng)
            self.bias = Parameter(values._storage().reshape(1, out_features), device=device)

    def forward(self, x: Tensor) -> Tensor:
        if self.bias is None:
            check_input("Linear", x)
            return ops.matmul(x, self.weight)
        return self.affine_activation(x, None)

    def affine_activation(self, x: Tensor, activation: str | None) -> Tensor:
        """``activation(x @ W + b)``, the product, bias and activation one kernel where fusion is
        on (:func:`frontend.fusion_epilogue.affine`)."""
        from ..fusion_epilogue import affine

        check_input("Linear", x)
        return affine(x, self.weight, self.bias, activation)  # a (1, out) bias as is: no reshape op


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.relu(x)


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.tanh(x)


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class Flatten(Module):
    """``(N, ...)`` to ``(N, product of the rest)``, a view."""

    def forward(self, x: Tensor) -> Tensor:
        check_input("Flatten", x)
        if x.ndim == 0:
            raise DefinitionError("Flatten: a 0-d tensor has no batch axis to keep; give (N, ...)")
        return ops.reshape(x, (x.shape[0], -1))


class ModuleSequence(list):
    """needle's ``Sequential.modules``: the layers in order (``seq.modules[0]``); called, it is
    :meth:`Module.modules`, every module inside (``seq.modules()``)."""

    def __init__(self, owner: Module, layers):
        super().__init__(layers)
        self.owner = owner

    def __call__(self):
        return Module.modules(self.owner)


class Sequential(Module):
    """The modules applied one after another. A recurrent layer inside (it returns ``(output,
    state)``) passes its output to the next module; the last module's result is returned whole."""

    def __init__(self, *modules: Module):
        super().__init__()
        for position, module in enumerate(modules):
            if not callable(module):
                raise DefinitionError(f"Sequential: module {position} ({module!r}) is not a Module; "
                                      "give layers such as nn.Linear(4, 2), nn.ReLU()")
        self.modules_list = list(modules)

    @property
    def modules(self) -> ModuleSequence:
        """The layers, indexable as needle's ``modules`` attribute and callable as ``modules()``."""
        return ModuleSequence(self, self.modules_list)

    def forward(self, x: Tensor) -> Tensor:
        from ..fusion import epilogue

        modules = self.modules_list
        last, position = len(modules) - 1, 0
        while position <= last:
            module = modules[position]
            activation = epilogue(module, modules[position + 1] if position < last else None)
            if activation is not None:  # an affine layer and the activation after it: one epilogue
                x = module.affine_activation(x, activation)
                position += 1
            else:
                x = module(x)
            if position < last and getattr(module, "returns_state", False):
                x = x[0]
            position += 1
        return x


class Residual(Module):
    """``fn(x) + x``."""

    def __init__(self, fn: Module):
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return ops.add(self.fn(x), x)


class Dropout(Module):
    """Zeroes elements with probability ``p`` and scales the others by 1/(1-p) in training;
    the identity in evaluation (seed Lec9)."""

    def __init__(self, p: float = 0.5, rng: np.random.Generator | np.random.RandomState | None = None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0 <= p < 1:
            raise DefinitionError(f"Dropout: p must be a number in [0, 1) (the probability of zeroing an element), "
                                  f"got {p!r}")
        self.p = p
        self.rng = random.check("Dropout", rng)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        if self.p == 0:  # needle draws the mask even then: the draws after it stay needle's
            random.random(self.rng, x.shape)
            return x
        return ops.dropout(x, self.p, self.rng)


class SoftmaxLoss(Module):
    """Mean cross entropy of logits ``(N, K)`` against int labels ``(N,)``:
    ``mean(logsumexp(z) - z[y])`` (seed Lec2/Lec4)."""

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        check_input("SoftmaxLoss", logits, "logits")
        if logits.ndim != 2 or labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
            from tensorir.errors import DefinitionError

            raise DefinitionError(f"softmax_loss: logits {logits.shape} and labels {labels.shape} do not fit; "
                                  "want (N, K) and (N,)")
        return ops.softmax_cross_entropy_mean(logits, labels)  # one kernel each way
