"""The call of a module built from an argument list in TVM's order: size variables anywhere in
the list (``build(s, [x, A, B])``, called ``f(2, a, b)``) and size variables that a tensor's
shape also binds (``build(s, [A, B] + shape_vars)``, called ``f(a, b, *a.shape)``).

A compiled function takes its arrays first and the size variables no shape binds after them;
``Reordered`` maps TVM's call onto that one, checking each value a shape also gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tensorir.errors import ArgumentError
from tensorir.symbolic import ShapeVar
from tensorir.tensor import Tensor


@dataclass(frozen=True)
class Plan:
    """Where each argument of the call goes: ``arrays`` and ``sizes`` are positions in the
    call; ``bound`` lists (position, variable, tensor position, dimension) of a variable that a
    shape binds (the position of that tensor in the call), whose value is checked against that
    dimension and then dropped."""

    arrays: tuple[int, ...]
    sizes: tuple[int, ...]
    bound: tuple[tuple[int, str, int, int], ...]


def plan(args: Sequence[object]) -> Plan | None:
    """The reordering ``args`` needs, or None when the call already is the function's."""
    if not isinstance(args, (list, tuple)):
        return None
    tensors = [(n, a) for n, a in enumerate(args) if isinstance(a, Tensor)]
    arrays, sizes, bound = [], [], []
    for n, a in enumerate(args):
        if not isinstance(a, ShapeVar):
            arrays.append(n)
            continue
        home = next(((p, d) for p, t in tensors for d, extent in enumerate(t.shape) if extent is a), None)
        if home is None:
            sizes.append(n)
        else:
            bound.append((n, a.name, *home))
    result = Plan(tuple(arrays), tuple(sizes), tuple(bound))
    in_order = list(range(len(args))) == [*arrays, *sizes] and not bound
    return None if in_order else result


class Reordered:
    """``module`` called with its arguments in the order of the build's list (see the module doc);
    everything else (``source``, ``func``, ...) is the module's own."""

    def __init__(self, module, order: Plan):
        self._module, self._plan = module, order

    def _arguments(self, values: Sequence[object]) -> list[object]:
        order = self._plan
        expected = len(order.arrays) + len(order.sizes) + len(order.bound)
        if len(values) != expected:
            raise ArgumentError(f"{self._module.func.name}: expected {expected} arguments in the order of the "
                                f"build's argument list, got {len(values)}")
        for position, name, tensor, dim in order.bound:
            value, shape = values[position], getattr(values[tensor], "shape", None)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ArgumentError(f"{self._module.func.name}: the size variable {name} must be passed as an int, "
                                    f"got {type(value).__name__} {value!r}")
            if shape is not None and len(shape) > dim and value != shape[dim]:
                raise ArgumentError(
                    f"{self._module.func.name}: the size variable {name} is passed as {value!r} but argument "
                    f"{tensor} has {shape[dim]} in dimension {dim}; pass the arrays' own extents")
        return [*(values[n] for n in order.arrays), *(values[n] for n in order.sizes)]

    def __call__(self, *values) -> None:
        self._module(*self._arguments(values))

    def time(self, *values, **options) -> float:
        """The module's ``time`` with the arguments in the build's order."""
        return self._module.time(*self._arguments(values), **options)

    def time_evaluator(self, func_name: str, dev=None, number: int = 10, repeat: int = 1,
                       min_repeat_ms: float = 0, **options):
        """The module's ``time_evaluator``, its evaluator taking the arguments in the build's order."""
        from backends.runtime_module import time_evaluator

        return time_evaluator(self, (self._module.entry_name,), func_name, dev, number, repeat, min_repeat_ms,
                              **options)

    def get_function(self, name: str):
        self._module.get_function(name)
        return self

    def __getattr__(self, name: str):
        return getattr(self._module, name)
