"""Module and Parameter (seed Lec7): a module maps tensors to tensors, finds its parameters by
walking its attributes, and switches between training and evaluation."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tensorir.errors import DefinitionError

from ..tensor import Tensor


def check_sizes(layer: str, **sizes) -> None:
    """Refuse a layer size that is not a positive int, naming the layer and the argument."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise DefinitionError(f"{layer}: {name} must be a positive integer, got {value!r}")


def check_input(layer: str, x, what: str = "input") -> None:
    """Refuse a layer input that is not a Tensor, or that holds no elements (a batch of 0 samples:
    the kernels need every dimension positive), naming the layer, the value and the fix."""
    if not isinstance(x, Tensor):
        raise DefinitionError(f"{layer}: the {what} is of type {type(x).__name__}, not a Tensor; wrap it first: "
                              "Tensor(value)")
    if 0 in x.shape:
        raise DefinitionError(f"{layer}: the {what} has shape {x.shape}, which holds no elements; layers need "
                              "every dimension positive: skip empty batches")


class Parameter(Tensor):
    """A tensor that a module trains: a leaf that requires grad."""

    __slots__ = ()

    def __init__(self, data, dtype=None, device: str = "cpu"):
        super().__init__(data, dtype=dtype, device=device, requires_grad=True)

    @classmethod
    def of(cls, tensor: Tensor) -> Parameter:
        return cls._wrap(tensor._storage(), tensor.device, requires_grad=True)


def _walk(value, prefix: str) -> Iterator[tuple[str, object]]:
    if isinstance(value, (Parameter, Module)):
        yield prefix, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, (list, tuple)):
        for position, item in enumerate(value):
            yield from _walk(item, f"{prefix}.{position}" if prefix else str(position))


class Module:
    """Base of layers and models: override ``forward``; call the module to run it."""

    def __init__(self) -> None:
        self.training = True

    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter of this module and its children, with a dotted name, each once."""
        seen: set[int] = set()
        for name, value in vars(self).items():
            for path, item in _walk(value, f"{prefix}{name}"):
                items = item.named_parameters(path + ".") if isinstance(item, Module) else [(path, item)]
                for full, parameter in items:
                    if id(parameter) not in seen:
                        seen.add(id(parameter))
                        yield full, parameter

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def children(self) -> list[Module]:
        """The modules directly inside this one."""
        return [item for value in vars(self).values() for _, item in _walk(value, "") if isinstance(item, Module)]

    def modules(self) -> Iterator[Module]:
        """This module and every module inside it."""
        yield self
        for child in self.children():
            yield from child.modules()

    def _children(self) -> list[Module]:
        """needle's name: every module inside this one at any depth, in the order ``eval`` visits them."""
        return list(self.modules())[1:]

    def train(self, mode: bool = True) -> Module:
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def buffers(self) -> dict[str, np.ndarray]:
        """State that is not trained but saved (e.g. running statistics), by dotted name."""
        found = {}
        for name, value in vars(self).items():
            for path, item in _walk(value, name):
                if isinstance(item, Module):
                    found.update({f"{path}.{k}": v for k, v in item.buffers().items()})
        found.update(getattr(self, "_buffers", {}))
        return found

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers as numpy arrays (copies), by dotted name."""
        state = {name: p.numpy() for name, p in self.named_parameters()}
        state.update({name: np.array(v) for name, v in self.buffers().items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy values saved by :meth:`state_dict` into this module (names and shapes must match)."""
        params = dict(self.named_parameters())
        missing = [name for name in params if name not in state]
        if missing:
            raise KeyError(f"load_state_dict: the state lacks {missing}")
        for name, parameter in params.items():
            value = np.asarray(state[name])
            if value.shape != parameter.shape:
                raise ValueError(f"load_state_dict: {name} has shape {value.shape}, the module wants {parameter.shape}")
            parameter.assign_storage(np.array(value, dtype=parameter.dtype, order="C"))
        for module_name, module in self._named_modules():
            for key in getattr(module, "_buffers", {}):
                full = f"{module_name}{key}"
                if full in state:
                    module._buffers[key] = np.array(state[full], dtype=module._buffers[key].dtype, order="C")

    def _named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, value in vars(self).items():
            for path, item in _walk(value, f"{prefix}{name}"):
                if isinstance(item, Module):
                    yield from item._named_modules(path + ".")

    def __repr__(self) -> str:
        inner = ", ".join(type(c).__name__ for c in self.children())
        return f"{type(self).__name__}({inner})"
