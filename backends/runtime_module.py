"""TVM's runtime-module API on every built module: ``entry_name``, ``time_evaluator``,
``get_source``, ``imported_modules``, ``save`` and ``export_library``.

A built module here is one function, so its entry (``f.entry_name``, TVM's ``__tvm_main__``) is
that function. :class:`RuntimeModule` is the mixin each backend's module takes; a backend says
which source formats it has (``SOURCE_FORMATS``: format -> attribute) and may export itself.
:func:`time_evaluator` times any call the way TVM's evaluator does: one warm-up call, then
``repeat`` measurements of ``number`` calls each, ``number`` grown until one measurement lasts
at least ``min_repeat_ms``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tensorir.errors import ArgumentError, CodegenError

#: TVM's name of a module's main function, accepted by ``time_evaluator`` and ``get_function``
MAIN = "__tvm_main__"
#: the most calls one measurement grows to under ``min_repeat_ms`` (a kernel of no work still ends)
MAX_NUMBER = 1 << 24


@dataclass(frozen=True)
class BenchmarkResult:
    """Seconds per call of each measurement (``results``) and their statistics (TVM's
    ``BenchmarkResult``/``ProfileResult``): ``mean``, ``median``, ``min``, ``max``, ``std``."""

    results: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.results)

    @property
    def median(self) -> float:
        return statistics.median(self.results)

    @property
    def min(self) -> float:
        return min(self.results)

    @property
    def max(self) -> float:
        return max(self.results)

    @property
    def std(self) -> float:
        """The population standard deviation (0 for one measurement), as numpy's ``std``."""
        return statistics.pstdev(self.results)

    def __str__(self) -> str:
        values = (self.mean, self.median, self.max, self.min, self.std)
        return ("Execution time summary:\n mean (ms)   median (ms)    max (ms)     min (ms)     std (ms)  \n"
                + "  ".join(f"{v * 1e3:10.4f}" for v in values))


def _count(what: str, value, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ArgumentError(f"time_evaluator: {what} must be an int >= {least}, got {value!r}")
    return value


class Evaluator:
    """The callable ``time_evaluator`` returns: ``evaluator(*args)`` runs the call on ``args``
    and returns a :class:`BenchmarkResult`."""

    def __init__(self, call: Callable, number: int, repeat: int, min_repeat_ms: float):
        self._call, self.number, self.repeat, self.min_repeat_ms = call, number, repeat, min_repeat_ms

    def __call__(self, *args) -> BenchmarkResult:
        run = self._call
        run(*args)  # warm-up, and the argument check: a bad call raises before any timing
        number, results = self.number, []
        while len(results) < self.repeat:
            start = time.perf_counter()
            for _ in range(number):
                run(*args)
            elapsed = time.perf_counter() - start
            if elapsed * 1e3 < self.min_repeat_ms and number < MAX_NUMBER:
                wanted = self.min_repeat_ms / max(elapsed * 1e3 / number, 1e-6)
                number = min(MAX_NUMBER, max(math.ceil(wanted), math.ceil(number * 1.618)))
                continue
            results.append(elapsed / number)
        return BenchmarkResult(tuple(results))


def time_evaluator(call: Callable, names: tuple[str, ...], func_name: str, dev=None, number: int = 10,
                   repeat: int = 1, min_repeat_ms: float = 0, **options) -> Evaluator:
    """An :class:`Evaluator` of ``call``, the function ``func_name`` (one of ``names``)."""
    if func_name not in (*names, MAIN):
        raise ArgumentError(f"time_evaluator: this module has no function {func_name!r}; its function is "
                            f"{names[0]!r}: pass f.entry_name")
    unknown = sorted(set(options) - {"cooldown_interval_ms", "repeats_to_cooldown", "limit_zero_time_iterations",
                                     "f_preproc", "cache_flush_bytes"})
    if unknown:
        raise ArgumentError(f"time_evaluator: unknown options {unknown}; it takes number=, repeat=, min_repeat_ms=")
    if isinstance(min_repeat_ms, bool) or not isinstance(min_repeat_ms, (int, float)) or not min_repeat_ms >= 0:
        raise ArgumentError(f"time_evaluator: min_repeat_ms must be a number >= 0, got {min_repeat_ms!r}")
    return Evaluator(call, _count("number", number, 1), _count("repeat", repeat, 1), float(min_repeat_ms))


class SourceModule:
    """A module of source text only (TVM's imported device module): ``get_source()``."""

    def __init__(self, source: str, type_key: str):
        self.source, self.type_key = source, type_key

    def get_source(self, fmt: str = "") -> str:
        return self.source

    def __repr__(self) -> str:
        return f"SourceModule({self.type_key})"


class RuntimeModule:
    """TVM's ``runtime.Module`` methods, for a module with ``func`` and ``SOURCE_FORMATS``."""

    #: source format -> attribute holding it; the first is ``get_source()``'s default
    SOURCE_FORMATS: dict[str, str] = {}
    #: file suffix -> source format, for ``save``
    SAVE_SUFFIXES: dict[str, str] = {}

    @property
    def entry_name(self) -> str:
        return self.func.name

    @property
    def type_key(self) -> str:
        return self.target

    @property
    def imported_modules(self) -> list:
        return []

    def get_function(self, name: str):
        """The module's function ``name`` (its entry, called as the module is)."""
        if name not in (self.entry_name, MAIN):
            raise ArgumentError(f"get_function: this module has no function {name!r}; its function is "
                                f"{self.entry_name!r}")
        return self

    def time_evaluator(self, func_name: str, dev=None, number: int = 10, repeat: int = 1,
                       min_repeat_ms: float = 0, **options) -> Evaluator:
        """A callable that runs this module on its arguments (one warm-up call, then ``repeat``
        measurements of ``number`` calls) and returns a :class:`BenchmarkResult` in seconds."""
        return time_evaluator(self, (self.entry_name,), func_name, dev, number, repeat, min_repeat_ms, **options)

    def get_source(self, fmt: str = "") -> str:
        """The module's source: ``""`` its main form, else one of ``SOURCE_FORMATS``."""
        formats = self.SOURCE_FORMATS
        if fmt == "":
            fmt = next(iter(formats))
        if fmt not in formats:
            raise CodegenError(f"get_source: a {self.target} module has no {fmt!r} source; formats: "
                               f"{', '.join(repr(f) for f in formats)}")
        return getattr(self, formats[fmt])

    def save(self, path, fmt: str = "") -> None:
        """Write the source of format ``fmt`` (by default the one of ``path``'s suffix) to ``path``."""
        suffix = Path(path).suffix.lstrip(".")
        fmt = fmt or self.SAVE_SUFFIXES.get(suffix, "")
        if not fmt:
            raise CodegenError(f"save: cannot tell the format of {str(path)!r} from its suffix; name a file "
                               f"{', '.join('.' + s for s in self.SAVE_SUFFIXES)} or pass fmt=")
        Path(path).write_text(self.get_source(fmt))

    def export_library(self, path, *args, **kwargs) -> None:
        raise CodegenError(f"export_library: a {self.target} module cannot be exported; build with "
                           "target='llvm' to export a kernel that load_module loads back")


__all__ = ["MAIN", "BenchmarkResult", "Evaluator", "RuntimeModule", "SourceModule", "time_evaluator"]
