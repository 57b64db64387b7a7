"""The kernel cache: one compiled kernel per (op, parameters, shapes, dtypes, device).

The first call of an op on given shapes builds its compute definition, picks a schedule
(:func:`schedule_for`: a tuned config where one is known, else the template defaults), lowers
and compiles it; every later call is a dictionary hit followed by one call into machine code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

import backends
import schedules.autotune  # noqa: F401 - registers the tuning database as a source of tuned configs
from backends.args import data_pointers
from schedules import lower
from schedules.templates.tuned import tuned_knobs
from tensorir.errors import BackendUnavailable

if TYPE_CHECKING:
    from .ops.base import Op


@dataclass
class KernelStats:
    """What the cache did: compilations, calls, and seconds spent compiling and in kernels."""

    compiled: int = 0
    calls: int = 0
    compile_s: float = 0.0
    kernel_s: float = 0.0
    timing: bool = False
    per_op: dict = field(default_factory=dict)

    def reset(self) -> None:
        self.compiled = self.calls = 0
        self.compile_s = self.kernel_s = 0.0
        self.per_op.clear()


#: counters of the kernel cache; set ``stats.timing = True`` to time every kernel call
stats = KernelStats()


class Kernel:
    """A compiled op: allocates its outputs and calls the machine code on raw addresses."""

    __slots__ = ("module", "out_specs", "name", "_call")

    def __init__(self, module, out_specs: list[tuple[tuple[int, ...], np.dtype]], name: str):
        self.module = module
        self.out_specs = out_specs
        self.name = name
        self._call = getattr(module, "call_unchecked", None)

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        outs = [np.empty(shape, dtype) for shape, dtype in self.out_specs]
        if self._call is None:  # a backend without raw calls (cuda): the checked path
            self.module(*arrays, *outs)
        elif stats.timing:
            start = time.perf_counter()
            self._call(*data_pointers([*arrays, *outs]))
            elapsed = time.perf_counter() - start
            stats.kernel_s += elapsed
            stats.per_op[self.name] = stats.per_op.get(self.name, 0.0) + elapsed
        else:
            self._call(*data_pointers([*arrays, *outs]))
        stats.calls += 1
        return outs


_kernels: dict[tuple, Kernel] = {}
#: tuned schedule configs by (op key, shapes, dtypes, device); filled by :func:`register_config`
_tuned: dict[tuple, dict] = {}


def run(op: Op, arrays: list[np.ndarray], device: str = "cpu") -> list[np.ndarray]:
    """Run ``op`` on C-contiguous ``arrays``; compile its kernel on first use."""
    key = (op.key, device, *[(a.shape, a.dtype) for a in arrays])
    kernel = _kernels.get(key)
    if kernel is None:
        kernel = _compile(op, arrays, device, key)
    return kernel(arrays)


def schedule_for(op_key: tuple, shapes: tuple, dtypes: tuple, device: str, defaults: dict,
                 task: tuple | None = None) -> dict:
    """The schedule config of an op on given shapes: a tuned one where known, else ``defaults``.

    Configs registered with :func:`register_config` come first; then, for ops built from a
    tunable template (``task`` is ``(template name, sizes, options)``), the one entry point of
    tuned configs, :func:`schedules.templates.tuned.tuned_knobs` (the tuning database's best
    record for exactly that task on this machine). A config is a dict of the knob values that the
    op's schedule reads (e.g. ``v1, v2, v3, b1, b2`` of ``matmul_cpu``).
    """
    tuned = _tuned.get((op_key, shapes, dtypes, device))
    if tuned is None and task is not None:
        template, sizes, options = task
        tuned = tuned_knobs(template, sizes, dtypes[0], "cuda" if device == "cuda" else "llvm", options)
    return defaults if tuned is None else {**defaults, **tuned}


def register_config(op_key: tuple, shapes: tuple, dtypes: tuple, device: str, config: dict) -> None:
    """Use ``config`` for this op and these shapes from now on (kernels already built are kept)."""
    _tuned[(op_key, tuple(shapes), tuple(dtypes), device)] = dict(config)


def _compile(op: Op, arrays: list[np.ndarray], device: str, key: tuple) -> Kernel:
    start = time.perf_counter()
    shapes = tuple(a.shape for a in arrays)
    dtypes = tuple(a.dtype.name for a in arrays)
    config = schedule_for(op.key, shapes, dtypes, device, op.default_config(shapes), op.tuning_task(shapes))
    target = "cuda" if device == "cuda" else "llvm"
    schedule, args = op.kernel(shapes, dtypes, config, target)
    name = "_".join(str(part) for part in op.key if isinstance(part, str))
    func = lower(schedule, args, name or "kernel")
    module = _build(func, target)
    outs = [(t.shape, np.dtype(t.dtype.value)) for t in args[len(arrays):]]
    kernel = Kernel(module, outs, op.key[0])
    _kernels[key] = kernel
    stats.compiled += 1
    stats.compile_s += time.perf_counter() - start
    return kernel


def _build(func, target: str):
    if target == "cuda":  # kernels built here run at once: a GPU must be there
        try:
            from backends.cuda.runtime import driver
        except ImportError as error:  # pragma: no cover - the cuda backend is optional
            raise BackendUnavailable(f"device 'cuda': the CUDA backend is not available ({error})") from None
        driver("frontend tensors on device 'cuda'")
    return backends.build(func, target)


def cached_kernels() -> int:
    """How many kernels the cache holds."""
    return len(_kernels)


def clear() -> None:
    """Forget every compiled kernel (they are rebuilt, from the disk cache, on next use)."""
    _kernels.clear()
