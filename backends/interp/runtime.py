"""Helpers that the generated Python calls: math with IEEE results, and the thread-block runner."""

from __future__ import annotations

import functools
import itertools
import math

from tensorir.access_guards import out_of_bounds
from tensorir.errors import NestorError

from .typed import NAMESPACE as TYPED_NAMESPACE

THREAD_AXES = {"threadIdx.x": 0, "threadIdx.y": 1, "threadIdx.z": 2}
_inf = math.inf
_nan = math.nan


def _div(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or a != a:
            return _nan
        return math.copysign(_inf, a) * math.copysign(1.0, b)


def _max(a, b):
    if a != a or b != b:
        return _nan
    return a if a >= b else b


def _min(a, b):
    if a != a or b != b:
        return _nan
    return a if a <= b else b


def _pow(a, b):
    try:
        result = a ** b
    except ZeroDivisionError:
        return _inf
    except OverflowError:
        return _inf
    if isinstance(result, complex):
        return _nan
    return result


def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return _inf


def _log(x):
    if x > 0:
        return math.log(x)
    return -_inf if x == 0 else _nan


def _sqrt(x):
    return math.sqrt(x) if x >= 0 else _nan


def _tanh(x):
    return math.tanh(x)


def _sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _int(x):
    if isinstance(x, float):
        if x != x or x in (_inf, -_inf):
            return 0
        return int(x)
    return int(x)


def _floordiv(a, b, bits=0):
    """Floor division with numpy's results where Python raises or grows past the type: an
    integer ``x // 0`` is 0, ``INT_MIN // -1`` wraps to ``INT_MIN`` (``bits`` is the integer
    width), a float ``x // 0.0`` is +-inf or nan."""
    if b == 0:
        return _float_divmod(a, b)[0] if bits == 0 else 0
    q = a // b
    if bits:
        half = 1 << (bits - 1)
        q = (q + half) % (2 * half) - half
    return q


def _floormod(a, b, bits=0):
    """Floor modulo with numpy's results: an integer ``x % 0`` is 0, a float one nan."""
    if b == 0:
        return _float_divmod(a, b)[1] if bits == 0 else 0
    return a % b


def _float_divmod(a, b):
    import numpy as np

    with np.errstate(all="ignore"):
        x, y = np.float64(a), np.float64(b)
        return float(np.floor_divide(x, y)), float(np.remainder(x, y))


def _chk(index, extent, site):
    """``index`` once it lies in ``0..extent``; a subscript that no proof bounds."""
    if not 0 <= index < extent:
        raise out_of_bounds(site, extent, index, "interp")
    return index


class OutOfBounds(NestorError):
    """The interpreted IR accessed a buffer outside its shape (a lowering or schedule bug)."""


def _ck(offset, name, *checks):
    """``offset`` once each (index, extent, dimension) triple of ``checks`` is inside its dimension."""
    for at in range(0, len(checks), 3):
        index, extent, dim = checks[at:at + 3]
        if not 0 <= index < extent:
            raise OutOfBounds(
                f"interp: {name} is indexed with {index} in dimension {dim}, outside 0..{extent - 1}")
    return offset


class BarrierDivergence(NestorError):
    """Some threads of a block reached a barrier that others skipped (a deadlock on a GPU)."""


def _run_block(body, dims, name):
    """Run ``body`` for every thread of a block, stepping all threads from barrier to barrier."""
    threads = [body(x, y, z) for z, y, x in itertools.product(range(dims[2]), range(dims[1]),
                                                               range(dims[0]))]
    live = threads
    while live:
        waiting, finished = [], 0
        for thread in live:
            try:
                next(thread)
                waiting.append(thread)
            except StopIteration:
                finished += 1
        if waiting and finished:
            raise BarrierDivergence(
                f"{name}: {len(waiting)} threads of a block wait at a barrier that {finished} "
                "threads never reach; a barrier must not sit under a condition that differs "
                "between threads")
        live = waiting


def _allreduce(op, exchange, t1, t2, threads):
    """The ``op`` reduction of the values that threads ``0..threads`` of group (t1, t2) left in
    ``exchange`` (see :class:`tensorir.thread_reduce.ThreadAllReduce`)."""
    values = []
    for t0 in range(threads):
        if (t0, t1, t2) not in exchange:
            raise BarrierDivergence(
                f"interp: thread {t0} of a block never reached the cross-thread reduction over "
                f"{threads} threads; every thread must reach it")
        values.append(exchange[(t0, t1, t2)])
    combine = {"sum": lambda a, b: a + b, "max": _max, "min": _min}[op]
    return functools.reduce(combine, values)


def _allreduce_with(combine, exchange, t1, t2, threads):
    """The tuples that threads ``0..threads`` of group (t1, t2) left in ``exchange``, folded in
    thread order with ``combine(*accumulated, *value)`` (a user-defined reducer)."""
    total = None
    for t0 in range(threads):
        if (t0, t1, t2) not in exchange:
            raise BarrierDivergence(
                f"interp: thread {t0} of a block never reached the cross-thread reduction over "
                f"{threads} threads; every thread must reach it")
        value = exchange[(t0, t1, t2)]
        total = value if total is None else combine(*total, *value)
    return total


NAMESPACE = {
    "_inf": _inf, "_nan": _nan, "_div": _div, "_max": _max, "_min": _min, "_pow": _pow,
    "_exp": _exp, "_log": _log, "_sqrt": _sqrt, "_tanh": _tanh, "_sigmoid": _sigmoid,
    "_int": _int, "_run_block": _run_block, "_allreduce": _allreduce, "_ck": _ck, "_chk": _chk,
    "_allreduce_with": _allreduce_with,
    "_floordiv": _floordiv, "_floormod": _floormod, **TYPED_NAMESPACE,
}
