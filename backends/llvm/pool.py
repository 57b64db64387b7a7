"""Nestor's thread pool for parallel loops (``NESTOR_THREAD_POOL``, on by default where it runs:
Linux on x86-64 or AArch64): the runtime of :mod:`.pool_ir`, compiled once per process, its
entry points given to every kernel's JIT (``llvm.add_symbol``), and its workers started.

Why not libgomp's team: at the end of a parallel region libgomp waits for every thread of the
team, also one that was asleep or had no core and took no chunk. Timestamps of 2902 calls of the
256^3 matmul on two threads, interleaved with numpy and torch: in 27% of them the second thread
took no chunk, and the caller, done with all the work, waited a median 504 us more for it
(1075 us against 150 us for a call both threads worked on). Here the caller returns as soon as
the chunks taken are done.

Kernels compiled for the pool call ``nestor_pool_run``; one loaded from the kernel cache or from
an exported file installs the pool as it loads (:func:`provide`), whatever the setting. After a
``fork`` the child starts its own workers (the parent's did not survive the fork). The pool's
code is never freed: its threads run it until the process ends.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import threading

import llvmlite.binding as llvm

from tensorir import config
from tensorir.errors import ConfigurationError

from . import pool_ir
from .compile import compile_text
from .target import host_target, new_target_machine, thread_count

#: the futex system call's number and the spin-wait hint, by machine
_MACHINES = {"x86_64": (202, "pause"), "amd64": (202, "pause"), "aarch64": (98, "yield"), "arm64": (98, "yield")}
#: the most workers started (as libgomp, a thread per CPU the process may use)
MAX_WORKERS = 1023

_lock = threading.Lock()
_runtime: dict[str, object] = {}


def available() -> bool:
    """Whether the pool runs on this platform (Linux, x86-64 or AArch64)."""
    return sys.platform.startswith("linux") and platform.machine().lower() in _MACHINES


def chosen() -> bool:
    """Whether new kernels run their parallel loops on the pool (``NESTOR_THREAD_POOL``, where
    :func:`available`); else on libgomp's team."""
    return config.THREAD_POOL() and available()


def provide(obj: bytes) -> None:
    """Install the pool if the object code ``obj`` calls it (before its engine links it)."""
    if pool_ir.RUN.encode() in obj:
        install()


def install() -> None:
    """Compile the pool's runtime, give its entry points to the JIT and start its workers, once
    per process."""
    if _runtime:
        return
    with _lock:
        if _runtime:
            return
        machine = _MACHINES[platform.machine().lower()]
        # compiled as a kernel is (an LLVM context of its own), then linked as one
        obj = compile_text(str(pool_ir.build(host_target().triple, *machine)), "nestor_pool", "object")
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), new_target_machine(0))
        engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        engine.finalize_object()
        addresses = {name: engine.get_function_address(name) for name in
                     (pool_ir.RUN, pool_ir.THREADS, pool_ir.SPAWN, pool_ir.RESET, pool_ir.SET_SPIN,
                      pool_ir.SET_YIELD)}
        engine.detach()  # never freed: the workers run this code until the process ends
        for name in (pool_ir.RUN, pool_ir.THREADS):
            llvm.add_symbol(name, addresses[name])
        _runtime["spawn"] = ctypes.CFUNCTYPE(ctypes.c_int)(addresses[pool_ir.SPAWN])
        _runtime["reset"] = ctypes.CFUNCTYPE(None)(addresses[pool_ir.RESET])
        _runtime["spin"] = ctypes.CFUNCTYPE(None, ctypes.c_int)(addresses[pool_ir.SET_SPIN])
        _runtime["threads"] = ctypes.CFUNCTYPE(ctypes.c_int)(addresses[pool_ir.THREADS])
        _runtime["yield"] = ctypes.CFUNCTYPE(None, ctypes.c_uint32)(addresses[pool_ir.SET_YIELD])
        _runtime["engine"] = engine
        _start()
        os.register_at_fork(after_in_child=_after_fork)


def threads() -> int:
    """The threads a parallel loop is split for now: the workers started and the caller (1
    before :func:`install`)."""
    return int(_runtime["threads"]()) if _runtime else 1


def set_yield(period: int) -> None:
    """Make the pool's spinning threads yield their core every ``period``-th look where the
    thread they wait for last ran on the same CPU (a power of two; 0: never, they only pause),
    :data:`~.pool_ir.YIELD_EVERY` by default; installs the pool.

    Raises
    ------
    ConfigurationError
        ``period`` is not 0 nor a power of two.
    """
    if isinstance(period, bool) or not isinstance(period, int) or period < 0 or period & (period - 1) \
            or period > 1 << 31:
        raise ConfigurationError(f"thread pool set_yield(period={period!r}): the period must be 0 (never "
                                 f"yield) or a power of two up to 2**31, e.g. {pool_ir.YIELD_EVERY}")
    install()
    _runtime["yield"](period - 1 if period else pool_ir.NEVER)


def _start() -> None:
    _runtime["spin"](min(config.POOL_SPIN(), 0x7FFFFFFF))
    for _ in range(min(thread_count() - 1, MAX_WORKERS)):
        if _runtime["spawn"]() != 0:  # the system refused a thread: run with those started
            break


def _after_fork() -> None:
    _runtime["reset"]()
    _start()
