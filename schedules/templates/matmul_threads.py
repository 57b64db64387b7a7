"""Whether the CPU matmul starts threads when its caller does not say: only for products large
enough that a thread team pays for itself.

A product of 256^3 takes 0.3 ms on one core of the 2-core AVX-512 host (111 GFLOP/s). A team of
two halves that on a quiet machine, but each parallel region ends in a barrier that waits for
the slower thread, and a thread that another process holds off its core (or one asleep after a
pause between calls) costs milliseconds there: in an interleaved benchmark the threaded kernel
took 3-12 ms a call (median) where one thread took 0.45 ms. Below :data:`SERIAL_FLOPS` the
template therefore runs on one thread unless ``parallel=True`` is passed; at 512^3 and above
(268 MFLOP) the split pays by far.
"""

from __future__ import annotations

import functools
import inspect
from numbers import Integral

#: products of fewer floating-point operations (2 m n k) run on one thread by default
SERIAL_FLOPS = 1 << 26


def threads_pay(m, n, k) -> bool:
    """Whether a product of these sizes should split its tiles over threads: at least
    :data:`SERIAL_FLOPS` operations, or a symbolic size (its value is not known here)."""
    if not all(isinstance(size, Integral) for size in (m, n, k)):
        return True
    return 2 * int(m) * int(n) * int(k) >= SERIAL_FLOPS


def parallel_by_size(name: str, target: str):
    """Decorate the tunable matmul template ``name`` (its first three arguments ``m, n, k``): a
    call without ``parallel`` for a product below :data:`SERIAL_FLOPS` runs on one thread,
    unless the tuning database has a config for the task (the tuner measured it with threads:
    a plain call gets that config, and a call with the same knobs the same nest)."""

    def wrap(template):
        signature = inspect.signature(template)
        size_names = list(signature.parameters)[:3]

        @functools.wraps(template)
        def call(*args, **kwargs):
            if "parallel" in kwargs:
                return template(*args, **kwargs)
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return template(*args, **kwargs)  # the template reports the bad call itself
            bound.apply_defaults()
            given = bound.arguments
            sizes = tuple(given[size] for size in size_names)
            if threads_pay(*sizes) or _tuned(name, target, sizes, given):
                return template(*args, **kwargs)
            return template(*args, **kwargs, parallel=False)

        return call

    return wrap


def _tuned(name: str, target: str, sizes: tuple, given: dict) -> bool:
    from .tuned import tuned_knobs

    options = {"transpose_b": given.get("transpose_b", True), "parallel": True}
    return tuned_knobs(name, tuple(int(size) for size in sizes), given.get("dtype", "float32"), target,
                       options) is not None
