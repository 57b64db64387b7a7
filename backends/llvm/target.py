"""The host CPU as an LLVM target: triple, CPU name, features, and the JIT's runtime libraries."""

from __future__ import annotations

import contextlib
import ctypes.util
import functools
import os
from dataclasses import dataclass

import llvmlite
import llvmlite.binding as llvm

from tensorir import config


@dataclass(frozen=True)
class HostTarget:
    triple: str
    cpu: str
    features: str
    #: widest vector register in bytes (64 with AVX-512)
    vector_bytes: int
    #: whether libgomp was found, so parallel loops run on OS threads
    openmp: bool
    #: whether parallel loops run on Nestor's thread pool (:mod:`.pool`) instead of libgomp
    pool: bool = False

    @property
    def threaded(self) -> bool:
        """Whether parallel loops run on OS threads (the pool's or libgomp's)."""
        return self.openmp or self.pool

    @property
    def key(self) -> str:
        """What compiled code depends on, for cache keys."""
        return f"{self.triple}|{self.cpu}|{self.features}|llvmlite {llvmlite.__version__}|{llvm.llvm_version_info}"


@functools.cache
def host_target() -> HostTarget:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    features = llvm.get_host_cpu_features().flatten()
    width = 64 if "+avx512f" in features else (32 if "+avx" in features else 16)
    from . import pool  # it builds on this module

    return HostTarget(llvm.get_process_triple(), llvm.get_host_cpu_name(), features, width, _load_openmp(),
                      not config.NO_OPENMP() and pool.chosen())


def _load_openmp() -> bool:
    if config.NO_OPENMP():
        return False
    config.OMP_NUM_THREADS()  # libgomp reads it once, as it loads: refuse a value it would crash on
    spin = None if config.omp_wait_chosen() else config.OMP_SPIN()
    with _environment("GOMP_SPINCOUNT", spin):
        for name in ("libgomp.so.1", ctypes.util.find_library("gomp")):
            if not name:
                continue
            try:
                llvm.load_library_permanently(name)
            except RuntimeError:
                continue
            _serial_after_fork(name)
            return True
    return False


def _serial_after_fork(library: str) -> None:
    """Make a child forked while libgomp's team may have threads run parallel loops on one
    thread: the team's threads do not survive ``fork``, and the child's first parallel loop would
    wait for them forever. Any other thread in the parent (libgomp's are not named) counts."""
    omp_set_num_threads = ctypes.CDLL(library).omp_set_num_threads
    threaded = [False]

    def before() -> None:
        try:
            threaded[0] = len(os.listdir("/proc/self/task")) > 1
        except OSError:  # no procfs: assume the worst
            threaded[0] = True

    def after_in_child() -> None:
        if threaded[0]:
            omp_set_num_threads(1)

    os.register_at_fork(before=before, after_in_child=after_in_child)


@contextlib.contextmanager
def _environment(variable: str, value: int | None):
    """``variable`` set to ``value`` while libgomp loads (it reads its settings once, then), and
    removed again, so that other OpenMP runtimes loaded later (torch's own copy) keep theirs.

    Why spin less than libgomp's default (300000 spins, about a millisecond): a thread that
    waits for the next parallel region spins on its core; on a machine where other processes
    want that core, the spinning thread takes time from the thread still working, and a 2-core
    matmul at 777x1025x513 ran at 0.6-0.9x torch under load instead of 1.0-1.4x.
    """
    if value is None:
        yield
        return
    os.environ[variable] = str(value)
    try:
        yield
    finally:
        os.environ.pop(variable, None)


def new_target_machine(opt: int = 3) -> llvm.TargetMachine:
    """A fresh target machine for the host (an execution engine owns and frees the one it gets);
    ``opt`` is its code generator's optimisation level."""
    host = host_target()
    target = llvm.Target.from_triple(host.triple)
    return target.create_target_machine(cpu=host.cpu, features=host.features, opt=opt,
                                        reloc="pic", codemodel="jitdefault")


@functools.cache
def target_machine() -> llvm.TargetMachine:
    """The target machine that optimises and emits code (never handed to an engine)."""
    return new_target_machine()


def thread_count() -> int:
    """Threads for parallel loops: OMP_NUM_THREADS, else the CPUs this process may use."""
    threads = config.OMP_NUM_THREADS()
    if threads is not None:
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1
