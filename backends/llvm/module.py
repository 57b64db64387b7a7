"""LLVMModule: a lowered function compiled for the host CPU, callable on numpy arrays."""

from __future__ import annotations

import ctypes
import functools
import threading
import time

import llvmlite.binding as llvm
import numpy as np

from tensorir.access_guards import out_of_bounds, runtime_checks
from tensorir.errors import ArgumentError, CodegenError, DefinitionError
from tensorir.names import identifier
from tensorir.stmt import For, ForKind, PrimFunc, Store
from tensorir.structural import structural_hash
from tensorir.symbolic import evaluate
from tensorir.visitor import walk

from ..aliasing import AliasGuard
from ..args import ArgumentSpec, check_arrays, data_pointers
from ..bind import Binder
from ..runtime_module import RuntimeModule
from . import cache, pool
from .codegen import Codegen
from .compile import compile_text
from .target import host_target, new_target_machine, target_machine


def _codegen_version() -> str:
    """A hash of this backend's own source: cached code from another version is never reused."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


CODEGEN_VERSION = _codegen_version()
_lock = threading.Lock()
_compiled: dict[bytes, tuple] = {}


def _symbol(name: str) -> str:
    return "nestor_" + identifier(name, prefix="")


def generate_ir(func: PrimFunc, symbol: str) -> str:
    host = host_target()
    renamed = PrimFunc(symbol, func.params, func.body, func.scalars)
    codegen = Codegen(renamed, host.triple, str(target_machine().target_data), host.vector_bytes, host.threaded)
    return str(codegen.generate())


def explicitly_vectorized(func: PrimFunc) -> bool:
    """Whether the schedule vectorized a loop of ``func`` itself (LLVM's vectorizers then stay off)."""
    return any(isinstance(n, For) and n.kind is ForKind.VECTORIZED for n in walk(func.body))


def _compile_object(func: PrimFunc, symbol: str) -> bytes:
    return compile_text(generate_ir(func, symbol), func.name, "object", explicitly_vectorized(func))


def _cache_key(func: PrimFunc) -> bytes:
    """The IR's structural hash (names of variables and buffers aside: they do not reach the
    object code) with the symbol, this backend's version and the host target."""
    host = host_target()
    runtime = "pool" if host.pool else "openmp" if host.openmp else "serial"  # what parallel loops call
    return cache.digest(f"{CODEGEN_VERSION}|{host.key}|{runtime}|{_symbol(func.name)}|{structural_hash(func)}")


def _value(extent, sizes: dict):
    """A dimension's extent for an error: its value where it is symbolic and the sizes are known."""
    if isinstance(extent, int):
        return extent
    try:
        return evaluate(extent, sizes)
    except (KeyError, DefinitionError):
        return extent


class LLVMModule(RuntimeModule):
    """Call with numpy arrays (inputs then outputs); outputs are written in place.

    Attributes: ``source`` (LLVM IR), ``asm`` (assembly), ``compile_time`` (seconds spent
    compiling, ~0 on a cache hit), ``cache_hit`` (``"memory"``, ``"disk"`` or ``None``); TVM's
    runtime-module methods (:class:`~backends.runtime_module.RuntimeModule`), and
    ``export_library(path)``, which ``backends.llvm.export.load_module`` reads back.
    """

    target = "llvm"
    SOURCE_FORMATS = {"ll": "source", "asm": "asm", "s": "asm"}
    SAVE_SUFFIXES = {"ll": "ll", "s": "asm"}

    def __init__(self, func: PrimFunc):
        self.func = func
        self.symbol = _symbol(func.name)
        self._written = {n.buffer for n in walk(func.body) if isinstance(n, Store)}
        #: the run-time subscript checks; a kernel with any takes a status slot after its buffers
        self._checks = runtime_checks(func)
        self._spec = ArgumentSpec(func.name, func.params, self._written)
        self._binder = Binder(func, self._written) if func.scalars else None
        self._alias = AliasGuard(func.name, func.params, self._written)
        start = time.perf_counter()
        key = _cache_key(func)
        with _lock:
            entry = _compiled.get(key)
            self.cache_hit = "memory" if entry is not None else None
            if entry is None:
                obj = cache.load(key)
                self.cache_hit = "disk" if obj is not None else None
                if obj is None:
                    obj = _compile_object(func, self.symbol)
                    cache.store(key, obj)
                entry = _load(obj, self.symbol, len(func.params) + len(func.scalars) + bool(self._checks))
                _compiled[key] = entry
        self._engine, self._cfunc = entry
        if not self._checks and not func.scalars:  # nothing to read back: raw calls go straight to the code
            self.call_unchecked = self._cfunc
        #: addresses, then the size variables' values, with no count check (for callers that pass both right)
        self.call_sized = self._cfunc if not self._checks else self._run_sized
        self.compile_time = time.perf_counter() - start
        self._source: str | None = None
        self._asm: str | None = None

    @property
    def source(self) -> str:
        if self._source is None:
            self._source = generate_ir(self.func, self.symbol)
        return self._source

    @property
    def asm(self) -> str:
        if self._asm is None:
            self._asm = compile_text(self.source, self.func.name, "assembly", explicitly_vectorized(self.func))
        return self._asm

    @property
    def written(self) -> set:
        return self._written

    @property
    def checks(self) -> tuple:
        return self._checks

    @property
    def vectorized(self) -> bool:
        return explicitly_vectorized(self.func)

    def export_library(self, path, *args, **kwargs) -> None:
        """Write this kernel to ``path`` (see :mod:`backends.llvm.export`) for ``load_module``."""
        from .export import export

        export(self, path)

    def __call__(self, *arrays) -> None:
        if self._binder is not None:
            checked, sizes = self._binder.bind(arrays)
            checked, pointers = self._addresses(checked)
            self._run([*pointers, *sizes], dict(zip(self._binder.scalars, sizes)))
            return
        checked, pointers = self._addresses(self._spec.check(arrays))
        self._run(pointers)  # ``checked`` holds any copies alive through the call

    def _addresses(self, checked):
        """``(arrays, their addresses)``, any input that shares memory with an output copied
        first (:mod:`backends.aliasing`); the caller keeps the arrays alive while the kernel runs."""
        pointers = data_pointers(checked)
        if self._alias.overlaps(checked, pointers):
            checked = self._alias.separate(checked)
            pointers = data_pointers(checked)
        return checked, pointers

    def _run(self, pointers, sizes: dict | None = None) -> None:
        """Call the kernel; with subscript checks, pass it a status slot and raise what it reports."""
        if not self._checks:
            self._cfunc(*pointers)
            return
        failed = run_checked(self._cfunc, pointers)
        if failed is not None:
            check = self._checks[failed[0]]
            raise out_of_bounds(check.site, _value(check.extent, sizes or {}), failed[1], "llvm")

    def call_unchecked(self, *addresses: int) -> None:
        """Run the kernel on raw buffer addresses (inputs then outputs) without checking them.

        For callers that check shapes, dtypes and contiguity once, e.g. a cache of kernels keyed
        by them; a wrong address here is undefined behaviour, not an error. Subscripts computed
        from data are still checked (``OutOfBoundsError``). A kernel of symbolic shape takes the
        values of its size variables (``func.scalars``) after the addresses.
        """
        expected = len(self.func.params) + len(self.func.scalars)
        if self.func.scalars and len(addresses) != expected:
            names = [p.name for p in self.func.params] + [v.name for v in self.func.scalars]
            raise ArgumentError(f"{self.func.name}: call_unchecked takes {expected} values ({', '.join(names)}): "
                                f"the buffer addresses, then the size variables; got {len(addresses)}")
        self._run(addresses)

    def _run_sized(self, *values: int) -> None:
        self._run(values)

    def time(self, *arrays, number: int = 10, repeat: int = 5) -> float:
        """Median seconds per call over ``repeat`` rounds of ``number`` calls (after one warm-up)."""
        if self._binder is not None:
            checked, sizes = self._binder.bind(arrays)
        else:
            checked, sizes = check_arrays(self.func.name, self.func.params, arrays, self._written), []
        checked, pointers = self._addresses(checked)  # ``checked`` holds any copies alive while timing
        pointers = pointers + sizes
        self._run(pointers)
        call = functools.partial(self._run, pointers) if self._checks else functools.partial(self._cfunc, *pointers)
        rounds = []
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(number):
                call()
            rounds.append((time.perf_counter() - start) / number)
        return float(np.median(rounds))

    def __repr__(self) -> str:
        return f"LLVMModule({self.func.name})"


def _load(obj: bytes, symbol: str, nparams: int):
    # the engine's own code generator only ever compiles its empty module (the kernel arrives
    # as object code), at its first finalize: at O0 that costs 0.55 instead of 0.9 ms a load
    pool.provide(obj)  # before the engine links the kernel to the pool's entry points
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), new_target_machine(0))
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    address = engine.get_function_address(symbol)
    if not address:
        raise CodegenError(f"llvm: compiled object lacks the kernel symbol {symbol}")
    prototype = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * nparams))
    return engine, prototype(address)


def build(func: PrimFunc) -> LLVMModule:
    return LLVMModule(func)


def run_checked(cfunc, pointers) -> tuple[int, int] | None:
    """Call a kernel compiled with run-time subscript checks (its last argument a status slot):
    None where every subscript was in range, else (the failed check's number, its value)."""
    status = np.zeros(2, dtype=np.int64)
    cfunc(*pointers, status.ctypes.data)
    return (int(status[0]) - 1, int(status[1])) if status[0] else None
