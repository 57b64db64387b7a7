"""The environment knobs (``NESTOR_*``): every one is declared, read and validated here.

A knob is read when it is used (tests and tools change the environment between calls), parsed
once per distinct value, and a value that cannot be used raises a ConfigurationError naming
the variable, the value and what it accepts. Nothing else in the tree reads ``NESTOR_*``
variables from ``os.environ``.

``OMP_NUM_THREADS`` is validated here as well (a positive integer, or libgomp's comma-separated
list of them, each at most :func:`max_threads`), before the OpenMP runtime is loaded: libgomp
reads it once and a value of 100000 crashes the first parallel kernel.

========================== ======================================================= ==============
variable                   meaning                                                 default
========================== ======================================================= ==============
NESTOR_PRINT_IR            print the IR after each lowering pass (0/1)             0
NESTOR_VERIFY_EACH_PASS    verify the IR after every lowering pass, not only       0
                           after the last (0/1; a debugging aid, on in the tests)
NESTOR_CACHE_DIR           directory of compiled kernels, or ``off``               XDG cache dir
NESTOR_LLVM_OPT            LLVM optimisation level, 0 to 3                         2
NESTOR_COMPILE_TIMEOUT     seconds one LLVM optimisation + codegen may take        60
                           before it is retried at a lower level (O1, then O0)
NESTOR_NO_OPENMP           run parallel loops without the OpenMP runtime (0/1)     0
NESTOR_TUNED               let builds use tuned configs of the tuning database     1
NESTOR_TUNING_DB           file of the tuning database                             XDG data dir
NESTOR_PARALLEL_MIN        scalar operations below which a frontend kernel         4194304
                           stays on one thread
NESTOR_TUNE_INJECT_FAULTS  let the test knob ``inject_fault`` crash or hang a      0
                           tuning worker (0/1)
NESTOR_OMP_SPIN            spins of an idle OpenMP thread before it sleeps         10000
                           (libgomp's ``GOMP_SPINCOUNT``; ignored where
                           ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is set)
NESTOR_THREAD_POOL         run new kernels' parallel loops on Nestor's own thread  1
                           pool (1) or on libgomp's team (0); the pool runs on
                           Linux x86-64/AArch64, elsewhere libgomp is used
NESTOR_POOL_SPIN           spins of an idle pool thread before it sleeps           10000
========================== ======================================================= ==============
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from .errors import ConfigurationError

T = TypeVar("T")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"must be one of {', '.join(_TRUE + _FALSE)}")


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise ValueError(f"must be an integer {span}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise ValueError("must be a positive, finite number of seconds")
    return value


def _path_or_off(text: str) -> Path | None:
    return None if text.strip() == "off" else Path(text).expanduser()


def _path(text: str) -> Path:
    return Path(text).expanduser()


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment knob: its variable, how its text is parsed, and its value when unset or
    empty. Call it for the current value."""

    variable: str
    parse: Callable[[str], T]
    default: Callable[[], T]
    meaning: str
    _parsed: dict = field(default_factory=dict, compare=False, repr=False)

    def __call__(self) -> T:
        text = os.environ.get(self.variable, "")
        if not text:
            return self.default()
        if text not in self._parsed:
            try:
                self._parsed[text] = self.parse(text)
            except ValueError as error:
                raise ConfigurationError(
                    f"{self.variable}={text!r}: {error} ({self.meaning}); "
                    f"set a valid value or unset {self.variable} for the default") from None
        return self._parsed[text]

    def is_set(self) -> bool:
        return bool(os.environ.get(self.variable))


def _xdg(variable: str, fallback: tuple[str, ...], *parts: str) -> Path:
    base = os.environ.get(variable) or os.path.join(os.path.expanduser("~"), *fallback)
    return Path(base).joinpath(*parts)


PRINT_IR = Setting("NESTOR_PRINT_IR", _flag, lambda: False, "print the IR after each lowering pass")
VERIFY_EACH_PASS = Setting("NESTOR_VERIFY_EACH_PASS", _flag, lambda: False,
                           "verify the IR after every lowering pass, not only after the last")
CACHE_DIR = Setting("NESTOR_CACHE_DIR", _path_or_off, lambda: _xdg("XDG_CACHE_HOME", (".cache",), "nestor", "kernels"),
                    "the directory of compiled kernels, or 'off'")
LLVM_OPT = Setting("NESTOR_LLVM_OPT", _integer(0, 3), lambda: 2, "the LLVM optimisation level")
COMPILE_TIMEOUT = Setting("NESTOR_COMPILE_TIMEOUT", _seconds, lambda: 60.0,
                          "seconds an LLVM compilation may take before a lower optimisation level is tried")
NO_OPENMP = Setting("NESTOR_NO_OPENMP", _flag, lambda: False,
                    "run parallel loops without the OpenMP runtime")
TUNED = Setting("NESTOR_TUNED", _flag, lambda: True, "whether builds use the tuning database's configs")
TUNING_DB = Setting("NESTOR_TUNING_DB", _path,
                    lambda: _xdg("XDG_DATA_HOME", (".local", "share"), "nestor", "tuning.db"),
                    "the file of the tuning database")
PARALLEL_MIN = Setting("NESTOR_PARALLEL_MIN", _integer(0), lambda: 1 << 22,
                       "scalar operations below which a frontend kernel stays on one thread")
TUNE_INJECT_FAULTS = Setting("NESTOR_TUNE_INJECT_FAULTS", _flag, lambda: False,
                             "let the test knob inject_fault crash or hang a tuning worker")

#: every knob, by variable name
SETTINGS: dict[str, Setting] = {s.variable: s for s in (
    PRINT_IR, CACHE_DIR, LLVM_OPT, COMPILE_TIMEOUT, NO_OPENMP, TUNED, TUNING_DB, PARALLEL_MIN, TUNE_INJECT_FAULTS)}


def check_all() -> None:
    """Read every knob once, so that a bad value is reported now rather than at first use."""
    for setting in SETTINGS.values():
        setting()


def max_threads() -> int:
    """The most threads ``OMP_NUM_THREADS`` may ask for: 4 per CPU, at least 1024."""
    return max(1024, 4 * (os.cpu_count() or 1))


def _thread_counts(text: str) -> int:
    counts = []
    for part in text.split(","):
        try:
            counts.append(int(part.strip()))
        except ValueError:
            counts.append(None)
    if any(count is None or not 1 <= count <= max_threads() for count in counts):
        raise ValueError(f"must be a positive integer (or a comma-separated list of them) of at most "
                         f"{max_threads()}")
    return counts[0]


OMP_NUM_THREADS = Setting("OMP_NUM_THREADS", _thread_counts, lambda: None,
                          "threads of the OpenMP runtime's parallel loops")
SETTINGS[OMP_NUM_THREADS.variable] = OMP_NUM_THREADS


OMP_SPIN = Setting("NESTOR_OMP_SPIN", _integer(0), lambda: 10000,
                   "spins of an idle OpenMP thread before it sleeps (libgomp's GOMP_SPINCOUNT)")
SETTINGS[OMP_SPIN.variable] = OMP_SPIN


def omp_wait_chosen() -> bool:
    """Whether the environment sets libgomp's waiting itself (``OMP_WAIT_POLICY`` or
    ``GOMP_SPINCOUNT``), which :data:`OMP_SPIN` then leaves alone."""
    return bool(os.environ.get("OMP_WAIT_POLICY") or os.environ.get("GOMP_SPINCOUNT"))


SETTINGS[VERIFY_EACH_PASS.variable] = VERIFY_EACH_PASS


THREAD_POOL = Setting("NESTOR_THREAD_POOL", _flag, lambda: True,
                      "whether new kernels run parallel loops on Nestor's thread pool (1) or libgomp's (0)")
POOL_SPIN = Setting("NESTOR_POOL_SPIN", _integer(0), lambda: 10000,
                    "spins of an idle thread of Nestor's pool before it sleeps")
SETTINGS[THREAD_POOL.variable] = THREAD_POOL
SETTINGS[POOL_SPIN.variable] = POOL_SPIN


PACKED_WEIGHTS_MB = Setting("NESTOR_PACKED_WEIGHTS_MB", _integer(0), lambda: 256,
                            "MiB of matrix-product right operands the frontend keeps packed between calls "
                            "(0: pack on every call)")
SETTINGS[PACKED_WEIGHTS_MB.variable] = PACKED_WEIGHTS_MB


#: prefixes of variables that are read elsewhere on purpose (the benchmarks' own knobs)
_OTHER_PREFIXES = ("NESTOR_BENCH_",)


def unknown_variables() -> list[tuple[str, str | None]]:
    """Each ``NESTOR_*`` variable of the environment that is no knob (a misspelling is silently
    ignored otherwise), with the knob it is closest to (or None)."""
    import difflib

    known = [name for name in SETTINGS if name.startswith("NESTOR_")]
    found = []
    for name in sorted(os.environ):
        if name.startswith("NESTOR_") and name not in SETTINGS and not name.startswith(_OTHER_PREFIXES):
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
            found.append((name, close[0] if close else None))
    return found


def unknown_variables_message() -> str | None:
    """One line naming the unknown ``NESTOR_*`` variables and the likely knob of each, or None."""
    found = unknown_variables()
    if not found:
        return None
    named = "; ".join(f"{name} (did you mean {close}?)" if close else name for name, close in found)
    return f"ignoring unknown environment variables: {named}; tensorir/config.py lists the knobs"
