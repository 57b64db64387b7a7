"""The kernel cache: one compiled kernel per :class:`~frontend.request.KernelRequest`.

The first call of an op with a given request builds the op's compute definition, picks a
schedule config (:meth:`KernelCache.schedule_for`: a registered or tuned config where one is
known, else the op's defaults), lowers (``schedules.lower``) and compiles (``backends.build``)
it; every later call is a dictionary hit followed by one call into machine code. One object,
:data:`cache`, owns the compiled kernels, the registered configs, the memoised requests of the
ops' forwards (broadcast and reduction plans) and the counters; the module functions are thin
calls on it.

Threads: the cache may be filled from several threads. A lookup is a plain dictionary read;
building a kernel holds the cache's re-entrant lock and looks again first, so a request two
threads miss at once is compiled once, and the registered configs, the symbolic-batch builds
and the counters of compilation change under that lock only. (The counters of calls and kernel
seconds are bumped without it: a count may miss a call made at the same instant by another
thread, never a kernel's result.)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

import backends
import schedules.autotune  # noqa: F401 - registers the tuning database as a source of tuned configs
from backends.args import data_pointers
from schedules import lower
from schedules.templates.tuned import tuned_knobs
from tensorir.errors import BackendUnavailable

from . import aligned, symbatch
from .request import KernelRequest

if TYPE_CHECKING:
    from .ops.base import Op


@dataclass
class KernelStats:
    """What the cache did: compilations, calls, and seconds spent compiling and in kernels (with
    ``timing``: per op name in ``per_op``, per request in ``per_kernel``)."""

    compiled: int = 0
    calls: int = 0
    compile_s: float = 0.0
    kernel_s: float = 0.0
    timing: bool = False
    per_op: dict = field(default_factory=dict)
    per_kernel: dict = field(default_factory=dict)

    def reset(self) -> None:
        self.compiled = self.calls = 0
        self.compile_s = self.kernel_s = 0.0
        self.per_op.clear()
        self.per_kernel.clear()


class Kernel:
    """A compiled op: allocates its outputs and calls the machine code on raw addresses.

    ``task`` is the op's tuning task for its request (``(template name, sizes, options)``, or None
    for a kernel without a tuning space) and ``config`` the schedule config it was built with:
    what whole-model tuning searches and starts from."""

    __slots__ = ("module", "out_specs", "name", "stats", "_call", "request", "task", "config")

    def __init__(self, module, out_specs: list[tuple[tuple[int, ...], np.dtype]], name: str, stats: KernelStats,
                 request: KernelRequest | None = None, task: tuple | None = None, config: dict | None = None):
        self.module = module
        self.out_specs = out_specs
        self.name = name
        self.stats = stats
        self.request, self.task, self.config = request, task, config or {}
        self._call = getattr(module, "call_unchecked", None)

    def __call__(self, arrays: list[np.ndarray], outs: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """Run on ``arrays``; into ``outs`` where given (C-contiguous, of the outputs' shapes and
        dtypes: a slice of a larger array the caller fills step by step), else new arrays."""
        if outs is None:
            outs = aligned.outputs(self.out_specs, arrays)  # 64-byte aligned, placed against the inputs
        stats = self.stats
        if self._call is None:  # a backend without raw calls (cuda): the checked path
            self.module(*arrays, *outs)
        elif stats.timing:
            _timed(self, self._call, data_pointers([*arrays, *outs]))
        else:
            self._call(*data_pointers([*arrays, *outs]))
        stats.calls += 1
        return outs

    def at(self, addresses: list[int]) -> None:
        """Run on the raw addresses of its arrays (inputs, then outputs), counted (and timed) as a
        call; for a caller that made the outputs and knows every address (:mod:`frontend.replay`).
        Only for a backend with raw calls (``raw``)."""
        stats = self.stats
        if stats.timing:
            _timed(self, self._call, addresses)
        else:
            self._call(*addresses)
        stats.calls += 1

    @property
    def raw(self) -> bool:
        """Whether :meth:`at` may be called (the CPU's kernels)."""
        return self._call is not None


def _timed(kernel, call, arguments) -> None:
    """``call(*arguments)``, its seconds added to the counters of ``kernel``."""
    stats = kernel.stats
    start = time.perf_counter()
    call(*arguments)
    elapsed = time.perf_counter() - start
    stats.kernel_s += elapsed
    stats.per_op[kernel.name] = stats.per_op.get(kernel.name, 0.0) + elapsed
    stats.per_kernel[kernel.request] = stats.per_kernel.get(kernel.request, 0.0) + elapsed


class KernelCache:
    """Compiled kernels by request, registered schedule configs, memoised requests, counters.

    Attributes
    ----------
    kernels
        ``KernelRequest -> Kernel``.
    configs
        Registered schedule configs by ``(request key, shapes, dtypes, device)``.
    requests
        What ops' forwards derive from a call's signature (shapes, layouts, dtypes, device) and
        memoise: the request and, where the arrays are reshaped first, the plan of that.
    stats
        The counters; set ``stats.timing = True`` to time every kernel call.
    symbolic
        Compiled symbolic-batch kernels by ``(symbolic request, config)`` (None: it stays static);
        see :mod:`frontend.symbatch`. ``symbolic_batch = False`` builds every kernel static.
    replays
        What ops' forwards did on a signature, to do it again without their Python
        (:mod:`frontend.replay`); forgotten with the kernels.
    """

    def __init__(self) -> None:
        self.kernels: dict[KernelRequest, Kernel] = {}
        self.configs: dict[tuple, dict] = {}
        self.requests: dict[tuple, object] = {}
        self.stats = KernelStats()
        self.symbolic: dict[tuple, object] = {}
        self.symbolic_batch = True
        self.replays: dict[tuple, object] = {}
        self._lock = threading.RLock()

    def run(self, op: Op, request: KernelRequest, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Run ``op``'s kernel for ``request`` on C-contiguous ``arrays``; compile it on first use."""
        kernel = self.kernels.get(request)
        if kernel is None:
            kernel = self._kernel(op, request)
        if _RECORDERS[0]:
            outs = kernel(arrays)
            _note(kernel, arrays, outs)
            return outs
        return kernel(arrays)

    def kernel(self, op: Op, request: KernelRequest):
        """The compiled kernel of ``op`` for ``request`` (built on first use), for a caller that
        runs it many times on arrays of exactly the request's shapes, dtypes and layout."""
        if _RECORDERS[0]:
            decline_replay()  # called by the caller, out of the recorder's sight
        kernel = self.kernels.get(request)
        return kernel if kernel is not None else self._kernel(op, request)

    def _kernel(self, op: Op, request: KernelRequest):
        """A symbolic-batch kernel for ``request`` where its op has one, else a static one
        (built once: under the lock, where another thread may have built it meanwhile)."""
        with self._lock:
            kernel = self.kernels.get(request)
            if kernel is not None:
                return kernel
            found = symbatch.batch_kernel(self, op, request, _build) if self.symbolic_batch else None
            return found if found is not None else self._compile(op, request)

    def schedule_for(self, op_key: tuple, shapes: tuple, dtypes: tuple, device: str, defaults: dict,
                     task: tuple | None = None) -> dict:
        """See :func:`schedule_for`."""
        tuned = self.configs.get((op_key, shapes, dtypes, device))
        if tuned is None and task is not None:
            template, sizes, options = task
            tuned = tuned_knobs(template, sizes, dtypes[0], "cuda" if device == "cuda" else "llvm", options)
        return defaults if tuned is None else {**defaults, **tuned}

    def register_config(self, op_key: tuple, shapes: tuple, dtypes: tuple, device: str, config: dict) -> None:
        """See :func:`register_config`."""
        with self._lock:
            self.configs[(op_key, tuple(shapes), tuple(dtypes), device)] = dict(config)

    def clear(self) -> None:
        """Forget every compiled kernel and memoised request (registered configs are kept)."""
        with self._lock:
            self.kernels.clear()
            self.requests.clear()
            self.symbolic.clear()
            self.replays.clear()

    def _compile(self, op: Op, request: KernelRequest) -> Kernel:
        start = time.perf_counter()
        task = op.tuning_task(request)
        config = self.schedule_for(request.key, request.shapes, request.dtypes, request.device,
                                   op.default_config(request), task)
        schedule, args = op.kernel(request, config)
        func = lower(schedule, args, request.kernel_name)
        module = _build(func, request.target)
        outs = [(t.shape, np.dtype(t.dtype.value)) for t in args[len(request.shapes):]]
        kernel = Kernel(module, outs, request.op, self.stats, request, task, config)
        self.kernels[request] = kernel
        self.stats.compiled += 1
        self.stats.compile_s += time.perf_counter() - start
        return kernel


def _build(func, target: str):
    if target == "cuda":  # kernels built here run at once: a GPU must be there
        try:
            from backends.cuda.runtime import driver
        except ImportError as error:  # pragma: no cover - the cuda backend is optional
            raise BackendUnavailable(f"device 'cuda': the CUDA backend is not available ({error})") from None
        driver("frontend tensors on device 'cuda'")
    return backends.build(func, target)


#: how many threads are recording their kernel calls (:func:`recording`); 0 costs one check a call
_RECORDERS = [0]
_recorder = threading.local()


@contextlib.contextmanager
def recording() -> Iterator[list]:
    """Within this block the thread's calls of :meth:`KernelCache.run` are noted, as ``(kernel,
    arrays, outputs)``, in the list yielded; :func:`decline_replay` adds two empty entries (for
    :mod:`frontend.replay`, which learns from exactly one call)."""
    calls: list = []
    outer = getattr(_recorder, "calls", None)
    _recorder.calls = calls
    with cache._lock:
        _RECORDERS[0] += 1
    try:
        yield calls
    finally:
        with cache._lock:
            _RECORDERS[0] -= 1
        _recorder.calls = outer
        if outer is not None:  # a forward recorded within a recorded forward: the outer one did it too
            outer.extend(calls)


def decline_replay() -> None:
    """Mark the forward being recorded in this thread as not replayable: it chose what to run from
    more than its inputs' signature (a packed weight's memory), or called a kernel directly."""
    calls = getattr(_recorder, "calls", None)
    if calls is not None:
        calls.extend([None, None])  # two calls more: never learnt as one


class PackedStep:
    """A note in a recording: the product looked up the kept packed copy of its operand ``b``
    in ``layout`` and found ``packed`` (None: it read ``b`` itself); see :mod:`frontend.replay`."""

    __slots__ = ("b", "packed", "layout")

    def __init__(self, b: np.ndarray, packed: np.ndarray | None, layout: tuple):
        self.b, self.packed, self.layout = b, packed, layout


def note_packed(b: np.ndarray, packed: np.ndarray | None, layout: tuple) -> None:
    """Note in the thread's recording that a product looked up ``b``'s kept packed copy."""
    calls = getattr(_recorder, "calls", None) if _RECORDERS[0] else None
    if calls is not None:
        calls.append(PackedStep(b, packed, layout))


def _note(kernel, arrays: list[np.ndarray], outs: list[np.ndarray]) -> None:
    calls = getattr(_recorder, "calls", None)
    if calls is not None:
        calls.append((kernel, arrays, outs))


#: the frontend's one kernel cache
cache = KernelCache()
#: counters of the kernel cache; set ``stats.timing = True`` to time every kernel call
stats = cache.stats


def run(op: Op, arrays: list[np.ndarray], device: str = "cpu", variant: tuple = ()) -> list[np.ndarray]:
    """Run ``op`` (in its form ``variant``) on C-contiguous ``arrays``; compile its kernel on first use."""
    return cache.run(op, op.request(arrays, device, variant), arrays)


def bind(op: Op, arrays: list[np.ndarray], device: str = "cpu", variant: tuple = ()):
    """The kernel :func:`run` would call for ``op`` on ``arrays``, resolved once: a loop that
    runs it again and again on C-contiguous arrays of the same shapes and dtypes calls it
    directly (``kernel(arrays) -> outputs``) and derives no request per call. It reads raw
    addresses: arrays of other shapes or layouts must never be passed to it."""
    return cache.kernel(op, op.request(arrays, device, variant))


def schedule_for(op_key: tuple, shapes: tuple, dtypes: tuple, device: str, defaults: dict,
                 task: tuple | None = None) -> dict:
    """The schedule config of an op on given shapes: a tuned one where known, else ``defaults``.

    Configs registered with :func:`register_config` come first; then, for ops built from a
    tunable template (``task`` is ``(template name, sizes, options)``), the one entry point of
    tuned configs, :func:`schedules.templates.tuned.tuned_knobs` (the tuning database's best
    record for exactly that task on this machine). A config is a dict of the knob values that the
    op's schedule reads (e.g. ``v1, v2, v3, b1, b2`` of ``matmul_cpu``). ``op_key`` is a
    request's :attr:`~frontend.request.KernelRequest.key`.
    """
    return cache.schedule_for(op_key, shapes, dtypes, device, defaults, task)


def register_config(op_key: tuple, shapes: tuple, dtypes: tuple, device: str, config: dict) -> None:
    """Use ``config`` for this op and these shapes from now on (kernels already built are kept)."""
    cache.register_config(op_key, shapes, dtypes, device, config)


def clear_configs() -> None:
    """Forget every config registered with :func:`register_config`."""
    with cache._lock:
        cache.configs.clear()


def cached_kernels() -> int:
    """How many kernels the cache holds."""
    return len(cache.kernels)


def clear() -> None:
    """Forget every compiled kernel (they are rebuilt, from the disk cache, on next use)."""
    cache.clear()
