"""Binding the size variables of a symbolic function when it is called, shared by every backend.

The arrays' shapes give the variables (a dimension ``n`` binds ``n``; ``n - 2`` or ``8 * m``
is solved for its one unknown); the variables in no shape come as int arguments after the
arrays. Then every dimension must agree with the bound values, be at least 1, and every
variable must meet its constraints (a size_var's lower bound and divisor, what was assumed).
Each failure is an ArgumentError naming the variable, the values and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tensorir.buffer import Buffer
from tensorir.errors import ArgumentError
from tensorir.expr import Expr, Var
from tensorir.stmt import PrimFunc
from tensorir.symbolic import ShapeVar, assumptions, evaluate, shape_vars

from .args import check_arrays
from .bind_fast import INT32_MAX as _INT32_MAX
from .bind_fast import FastBinding


class Binder:
    """The argument check of a function with size variables (``func.scalars``)."""

    def __init__(self, func: PrimFunc, written: set[Buffer]):
        self.name, self.params, self.written = func.name, list(func.params), written
        self.scalars = list(func.scalars)
        in_shapes = set(shape_vars([p.shape for p in func.params]))
        self.explicit = [v for v in self.scalars if v not in in_shapes]
        self.conditions = assumptions(self.scalars)
        self.requires = getattr(func, "requires", ())
        if self.requires:  # the general binder checks them (the fast one takes calls with none)
            self.conditions = [*self.conditions, *(cond for cond, _ in self.requires)]
        self._fast = FastBinding.of(func, written, self.explicit, self.conditions)

    def bind(self, args: Sequence[object]) -> tuple[list[np.ndarray], list[int]]:
        """The checked arrays and the value of every size variable, in ``func.scalars`` order."""
        fast = self._fast.bind(args) if self._fast is not None else None
        if fast is not None:
            return fast
        arrays, given = self._split(args)
        checked = check_arrays(self.name, self.params, arrays, self.written, symbolic=True)
        values = dict(zip(self.explicit, given))
        self._bind_bare(checked, values)
        self._solve(checked, values)
        self._check_dims(checked, values)
        self._check_constraints(values)
        return checked, [values[v] for v in self.scalars]

    def _split(self, args: Sequence[object]) -> tuple[list[object], list[int]]:
        count = len(self.params)
        if len(args) != count + len(self.explicit):
            names = [p.name for p in self.params] + [v.name for v in self.explicit]
            raise ArgumentError(
                f"{self.name}: expected {len(names)} arguments ({', '.join(names)}), got {len(args)}")
        given = []
        for v, value in zip(self.explicit, args[count:]):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise ArgumentError(
                    f"{self.name}: the size variable {v.name} must be passed as an int, got "
                    f"{type(value).__name__} {value!r}")
            given.append(int(value))
        return list(args[:count]), given

    def _bind_bare(self, arrays: list[np.ndarray], values: dict[Var, int]) -> None:
        origin: dict[Var, str] = {v: "the argument" for v in values}
        for param, array in zip(self.params, arrays):
            for dim, extent in enumerate(param.shape):
                if not isinstance(extent, ShapeVar):
                    continue
                where = f"{param.name} (dimension {dim})"
                seen = values.get(extent)
                if seen is not None and seen != array.shape[dim]:
                    raise ArgumentError(
                        f"{self.name}: the size variable {extent.name} is {seen} from "
                        f"{origin[extent]} but {array.shape[dim]} from {where}; pass arrays whose "
                        f"shapes agree on {extent.name}")
                values[extent], origin[extent] = array.shape[dim], where

    def _solve(self, arrays: list[np.ndarray], values: dict[Var, int]) -> None:
        """Bind the variables that only appear in dimensions like ``n - 2`` or ``8 * m``."""
        progress = True
        while progress:
            progress = False
            for param, array in zip(self.params, arrays):
                for dim, extent in enumerate(param.shape):
                    unknown = [v for v in shape_vars([extent]) if v not in values]
                    if isinstance(extent, Expr) and len(unknown) == 1:
                        values[unknown[0]] = self._solve_one(extent, unknown[0], values, array.shape[dim],
                                                             f"{param.name} (dimension {dim})")
                        progress = True
        unbound = [v for v in self.scalars if v not in values]
        if unbound:
            raise ArgumentError(
                f"{self.name}: cannot tell the size variable {unbound[0].name} from the shapes; "
                f"give it a dimension of its own in some argument tensor")

    def _solve_one(self, extent: Expr, v: Var, values: dict[Var, int], size: int, where: str) -> int:
        """The value of ``v`` making the affine ``extent`` equal ``size``."""
        at0 = evaluate(extent, {**values, v: 0})
        slope = evaluate(extent, {**values, v: 1}) - at0
        if slope and (size - at0) % slope == 0:
            guess = (size - at0) // slope
            if evaluate(extent, {**values, v: guess}) == size:
                return guess
        raise ArgumentError(
            f"{self.name}: no value of the size variable {v.name} makes dimension {extent} of "
            f"{where} equal {size}; pass an array of a shape that {extent} can have")

    def _check_dims(self, arrays: list[np.ndarray], values: dict[Var, int]) -> None:
        shown = _shown(values)
        for param, array in zip(self.params, arrays):
            size = 1
            for dim, extent in enumerate(param.shape):
                want = evaluate(extent, values)
                if want < 1:
                    raise ArgumentError(
                        f"{self.name}: dimension {dim} of {param.name}, {extent}, is {want} when "
                        f"{shown}; every dimension must be at least 1, so pass larger arrays")
                if array.shape[dim] != want:
                    raise ArgumentError(
                        f"{self.name}: argument {param.name} must have shape "
                        f"{[evaluate(e, values) for e in param.shape]} ({list(param.shape)} with "
                        f"{shown}), got {list(array.shape)}")
                size *= want
            if size > _INT32_MAX:
                raise ArgumentError(
                    f"{self.name}: {param.name} has {size} elements with {shown}; a kernel of "
                    f"symbolic shape addresses at most {_INT32_MAX}, so split the work")

    def _check_constraints(self, values: dict[Var, int]) -> None:
        shown = _shown(values)
        for v in self.scalars:
            value = values[v]
            if not -_INT32_MAX - 1 <= value <= _INT32_MAX:
                raise ArgumentError(f"{self.name}: the size variable {v.name}={value} does not fit int32 (the kernel's "
                                    f"index arithmetic); pass a value from {-_INT32_MAX - 1} to {_INT32_MAX}")
            if isinstance(v, ShapeVar) and v.lower is not None and value < v.lower:
                raise ArgumentError(
                    f"{self.name}: the size_var {v.name} is {value}, but a size_var is at least "
                    f"{v.lower}; pass a non-negative size")
            if isinstance(v, ShapeVar) and value % v.divisor:
                raise ArgumentError(
                    f"{self.name}: the size_var {v.name} is {value}, not a multiple of its "
                    f"declared divisor {v.divisor}; pass a size that {v.divisor} divides")
        for cond, origin in self.requires:
            if not evaluate(cond, values):
                given = ", ".join(f"{v.name}={values[v]}" for v in shape_vars([cond]))
                raise ArgumentError(
                    f"{self.name}: {origin} needs {cond}, but {given}; a split runs no iteration (or "
                    "divides by zero) otherwise, so pass a positive value")
        for cond in self.conditions:
            if not evaluate(cond, values):
                raise ArgumentError(
                    f"{self.name}: the assumption {cond} does not hold with {shown}; the kernel "
                    "was compiled relying on it, so pass sizes that satisfy it")


def _shown(values: dict[Var, int]) -> str:
    return ", ".join(f"{v.name}={n}" for v, n in values.items())
