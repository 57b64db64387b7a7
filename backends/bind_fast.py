"""The common call of a symbolic function, accepted without the general binding's work.

A function whose shapes are ints and bare size variables (``A[M, K]``, ``C[M, N]``: the
frontend's batch kernels, templates built for run-time sizes), with nothing assumed about them,
binds each variable straight from the arrays' shapes. :class:`FastBinding` precomputes what
each dimension is and accepts a call only where the general check
(:class:`backends.bind.Binder`) would accept it, with the same values; anything else (a wrong
dtype, a disagreeing size, a zero size, an int argument) returns None, and the general check
then raises its precise error. The general check costs 35-50 us a call in Python, more than a
256^3 product's kernel takes to run on one core (0.3 ms) by a tenth; this takes a few.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tensorir.buffer import Buffer
from tensorir.stmt import PrimFunc
from tensorir.symbolic import ShapeVar

#: symbolic buffers are addressed with 32-bit offsets (here and in :mod:`backends.bind`)
INT32_MAX = 2**31 - 1


class FastBinding:
    """Per parameter: its numpy dtype, whether the kernel writes it, and per dimension either
    the static extent (an int) or the index of its size variable in ``func.scalars``."""

    def __init__(self, params: Sequence[Buffer], scalars: Sequence[ShapeVar], written: set[Buffer]):
        position = {v: n for n, v in enumerate(scalars)}
        self.count = len(scalars)
        self.divisors = [v.divisor for v in scalars]
        self.expected = [(p.dtype.numpy, tuple(position.get(e, e) if isinstance(e, ShapeVar) else e
                                               for e in p.shape),
                          tuple(isinstance(e, ShapeVar) for e in p.shape), p in written) for p in params]

    @classmethod
    def of(cls, func: PrimFunc, written: set[Buffer], explicit: Sequence, conditions: Sequence) -> FastBinding | None:
        """The fast binding of ``func``, or None where its calls need the general one (a size
        passed as an argument, an assumption to check, a dimension that is an expression, a
        float scalar parameter, a static extent below 1)."""
        if explicit or conditions:
            return None
        for param in func.params:
            if param.by_value or any(not (isinstance(e, ShapeVar) or (isinstance(e, int) and e >= 1))
                                     for e in param.shape):
                return None
        if not all(isinstance(v, ShapeVar) and (v.lower is None or v.lower <= 1) for v in func.scalars):
            return None
        return cls(func.params, func.scalars, written)

    def bind(self, args: Sequence[object]) -> tuple[list[np.ndarray], list[int]] | None:
        """``(arrays, values of the size variables)`` where the call is one the general check
        accepts as it is, else None."""
        if len(args) != len(self.expected):
            return None
        values: list[int | None] = [None] * self.count
        for array, (dtype, dims, bound, writes) in zip(args, self.expected):
            if type(array) is not np.ndarray or array.dtype != dtype or array.ndim != len(dims) \
                    or not array.flags.c_contiguous or (writes and not array.flags.writeable) \
                    or array.size > INT32_MAX:
                return None
            for size, dim, is_var in zip(array.shape, dims, bound):
                if not is_var:
                    if size != dim:
                        return None
                elif values[dim] is None:
                    values[dim] = size
                elif values[dim] != size:
                    return None
        for value, divisor in zip(values, self.divisors):
            if value is None or not 1 <= value <= INT32_MAX or value % divisor:
                return None
        return list(args), values  # type: ignore[return-value]
