"""``export_library`` and ``load_module``: an LLVM kernel in a file, and back as a callable.

The file is text: the line ``NESTOR-LLVM-MODULE 1``, one line of JSON (the entry's name and
symbol, each parameter's name, dtype, shape and whether the kernel writes it, the subscript
checks, the host the IR was generated for), then the kernel's LLVM IR. ``load_module`` checks
the header, compiles the IR for this CPU (or takes the object from the kernel cache, keyed by
the IR's hash) and returns a module that checks its arrays as the built one does.

Loading a file runs the code in it, as TVM's ``load_module`` of a shared library does: load only
files you exported. Kernels with size variables are not exported (their argument binding needs
the shape expressions); build them with static shapes to export.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import llvmlite.binding as llvm

from tensorir.access_guards import out_of_bounds
from tensorir.buffer import Buffer
from tensorir.dtypes import DType
from tensorir.errors import ArgumentError, CodegenError

from ..aliasing import AliasGuard
from ..args import ArgumentSpec, data_pointers
from ..runtime_module import RuntimeModule
from . import cache
from .compile import compile_text
from .module import run_checked
from .target import host_target

MAGIC = "NESTOR-LLVM-MODULE 1"
#: the largest file ``load_module`` reads
MAX_FILE = 64 << 20


def export(module, path) -> None:
    """Write the LLVM module ``module`` (an ``LLVMModule``) to ``path`` (see the module doc)."""
    func = module.func
    if func.scalars:
        names = ", ".join(v.name for v in func.scalars)
        raise CodegenError(f"export_library: {func.name} has size variables ({names}); only kernels of static "
                           "shapes are exported: build it with integer shapes")
    header = {
        "entry": func.name, "symbol": module.symbol, "host": host_target().key,
        "vectorized": module.vectorized,
        "params": [{"name": p.name, "dtype": p.dtype.value, "shape": list(p.shape), "written": p in module.written,
                    "by_value": p.by_value} for p in func.params],
        "checks": [[c.site, c.extent] for c in module.checks],
    }
    try:
        Path(path).write_text(f"{MAGIC}\n{json.dumps(header)}\n{module.source}")
    except OSError as error:
        raise ArgumentError(f"export_library: cannot write {str(path)!r}: {error.strerror}") from None


def load_module(path) -> LoadedModule:
    """The kernel exported to ``path`` by ``export_library``, callable as the built module was.

    Raises
    ------
    ArgumentError
        Where ``path`` is missing, unreadable, not an exported kernel, or exported on another host.
    """
    where = f"load_module: {str(path)!r}"
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise ArgumentError(f"load_module: the path must be a string or a path, not a {type(path).__name__}; pass "
                            "the path given to f.export_library(path)")
    data = _read(where, path)
    try:
        magic, line, ir = data.decode().split("\n", 2)
    except (UnicodeDecodeError, ValueError):
        magic = line = ir = ""
    if magic != MAGIC and data.startswith(MAGIC.encode() + b"\n") and len(data) <= MAX_FILE:
        raise ArgumentError(f"{where} is cut short (its header line does not end); export the kernel again")
    if magic != MAGIC or len(data) > MAX_FILE:
        raise ArgumentError(f"{where} is not a kernel exported by Nestor's export_library (it starts with "
                            f"{data[:24]!r}); export one with f.export_library(path) of an llvm build")
    return LoadedModule(_header(where, line), ir, where)


def _read(where: str, path) -> bytes:
    """The file's first MAX_FILE + 1 bytes; a FIFO or device (whose reader could wait forever)
    or a folder is refused by name."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise ArgumentError(f"{where} cannot be read ({error.strerror}); pass the path given to "
                            "f.export_library(path)") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ArgumentError(f"{where} is not a regular file; pass the path given to f.export_library(path)")
        chunks, size = [], 0
        while size <= MAX_FILE and (chunk := os.read(fd, min(1 << 20, MAX_FILE + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as error:
        raise ArgumentError(f"{where} cannot be read ({error.strerror}); pass the path given to "
                            "f.export_library(path)") from None
    finally:
        os.close(fd)


def _header(where: str, line: str) -> dict:
    try:
        header = json.loads(line)
        params = [Buffer(str(p["name"]), tuple(int(d) for d in p["shape"]), DType(p["dtype"]),
                          by_value=bool(p["by_value"])) for p in header["params"]]
        header["written"] = {b for b, p in zip(params, header["params"]) if p["written"]}
        header["params"] = params
        header["checks"] = [(str(site), int(extent)) for site, extent in header["checks"]]
        for field in ("entry", "symbol", "host"):
            if not isinstance(header[field], str):
                raise TypeError(field)
    except (ValueError, KeyError, TypeError) as error:
        raise ArgumentError(f"{where} has a corrupt header ({type(error).__name__}: {error}); export the "
                            "kernel again") from None
    if header["host"] != host_target().key:
        raise ArgumentError(f"{where} was compiled for another host ({header['host'].split('|')[1]}); this "
                            f"machine is {host_target().cpu}: export the kernel again on this machine")
    return header


def _object(where: str, header: dict, ir: str) -> bytes:
    """The IR's object code, from the kernel cache or compiled now (and cached)."""
    key = cache.digest(f"loaded|{host_target().key}|{header['vectorized']}|{hashlib.sha256(ir.encode()).hexdigest()}")
    obj = cache.load(key)
    if obj is None:
        try:
            llvm.parse_assembly(ir).verify()
        except RuntimeError as error:
            raise ArgumentError(f"{where} holds IR that does not parse ({' '.join(str(error).split())}); export "
                                "the kernel again") from None
        try:
            obj = compile_text(ir, header["entry"], "object", bool(header["vectorized"]))
        except CodegenError as error:
            raise ArgumentError(f"{where} holds IR that does not compile ({error}); export the kernel again") \
                from None
        cache.store(key, obj)
    return obj


class LoadedModule(RuntimeModule):
    """A kernel read back by :func:`load_module`: call with numpy arrays (inputs then outputs)."""

    target = "llvm"
    SOURCE_FORMATS = {"ll": "source", "asm": "asm"}
    SAVE_SUFFIXES = {"ll": "ll", "s": "asm"}

    def __init__(self, header: dict, ir: str, where: str):
        from .module import _load

        self.name, self.symbol, self.source = header["entry"], header["symbol"], ir
        self.params, self._checks, self._vectorized = header["params"], header["checks"], header["vectorized"]
        self._spec = ArgumentSpec(self.name, self.params, header["written"])
        self._alias = AliasGuard(self.name, self.params, header["written"])
        obj = _object(where, header, ir)
        try:
            self._engine, self._cfunc = _load(obj, self.symbol, len(self.params) + bool(self._checks))
        except (CodegenError, RuntimeError) as error:
            raise ArgumentError(f"{where} does not define its kernel ({error}); export the kernel again") from None

    @property
    def entry_name(self) -> str:
        return self.name

    @property
    def asm(self) -> str:
        return compile_text(self.source, self.name, "assembly", bool(self._vectorized))

    def __call__(self, *arrays) -> None:
        checked = self._spec.check(arrays)
        pointers = data_pointers(checked)
        if self._alias.overlaps(checked, pointers):  # ``checked`` keeps the copies alive through the call
            checked = self._alias.separate(checked)
            pointers = data_pointers(checked)
        if not self._checks:
            self._cfunc(*pointers)
            return
        failed = run_checked(self._cfunc, pointers)
        if failed is not None:
            site, extent = self._checks[failed[0]]
            raise out_of_bounds(site, extent, failed[1], "llvm")

    def export_library(self, path, *args, **kwargs) -> None:
        raise CodegenError("export_library: a loaded module is its file already; copy the file instead")

    def __repr__(self) -> str:
        return f"LoadedModule({self.name})"


__all__ = ["LoadedModule", "export", "load_module"]
