"""Backends: each compiles a lowered PrimFunc into a callable Module.

This module is the one target registry: :func:`build` compiles a lowered function for a target
named by a string, and every caller (``nestor.build``, the frontend's kernel cache, the tuner's
workers) goes through it, so that a target's options and errors are checked in one place.

Every backend compiles the lowered IR as the pass pipeline leaves it: one flat offset per buffer
access (``tensorir.passes.flatten_buffers``). ``source.py`` is the printer base that the CUDA C
printer (``cuda/cstyle.py``) and the interpreter's Python printer (``interp/pysource.py``) share;
``args.py`` checks and converts call arguments. The LLVM backend's kernel cache keys on the IR's
structural hash (``tensorir.structural``), never on printed text.
"""

from __future__ import annotations

import importlib
import numbers
from dataclasses import dataclass

from tensorir.errors import LoweringError
from tensorir.stmt import PrimFunc


@dataclass(frozen=True)
class Target:
    """A compilation target: the module whose ``build(func, **options)`` compiles for it, and the
    options that build accepts."""

    name: str
    module: str
    options: tuple[str, ...] = ()
    summary: str = ""


#: every target, by name; the first is the default of :func:`build`
TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("llvm", "backends.llvm", summary="native code for this CPU through LLVM"),
    Target("cuda", "backends.cuda", ("shared_memory_bytes", "max_threads"), "CUDA C for NVIDIA GPUs"),
    Target("interp", "backends.interp", summary="the reference interpreter"),
)}


def target(name: str, options=()) -> Target:
    """The registered target ``name`` after checking that it takes every option named in
    ``options``; a LoweringError lists the available targets or names the refused options."""
    chosen = TARGETS.get(_kind(name)) if isinstance(name, str) else None
    if chosen is None:
        flags = ("; an llvm target string may carry only -mcpu= and -mattr= (kernels are compiled for "
                 "this machine's CPU)") if isinstance(name, str) and name.startswith("llvm ") else ""
        raise LoweringError(f"build: unknown target {name!r}; available targets: {', '.join(TARGETS)}{flags}")
    unknown = sorted(set(options) - set(chosen.options))
    if unknown:
        takers = [t.name for t in TARGETS.values() if set(unknown) <= set(t.options)]
        where = f"apply to target {takers[0]!r} only" if takers else "are not build options of any target"
        raise LoweringError(f"build: options {unknown} {where}, not {chosen.name!r}"
                            + (f" (it takes {list(chosen.options)})" if chosen.options else "")
                            + _did_you_mean(unknown, chosen.options))
    _check_option_values(chosen, options)
    return chosen


def _did_you_mean(unknown: list[str], known: tuple[str, ...]) -> str:
    """``; did you mean ...?`` for the misspelled options that are close to a known one."""
    import difflib

    close = [f"{match[0]!r} (not {name!r})" for name in unknown
             if (match := difflib.get_close_matches(name, known, n=1, cutoff=0.6))]
    return f"; did you mean {', '.join(close)}?" if close else ""


def _check_option_values(chosen: Target, options) -> None:
    """Every build option of a target is a count (threads, bytes): a positive int."""
    if not isinstance(options, dict):
        return
    for name, value in options.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise LoweringError(f"build: option {name}={value!r:.60} of target {chosen.name!r} must be a positive "
                                f"int, e.g. {name}={_EXAMPLES.get(name, 1)}")


#: an example value of each build option, for errors
_EXAMPLES = {"shared_memory_bytes": 48 * 1024, "max_threads": 1024}


#: TVM's flags of an ``llvm`` target string that compiling for this machine's CPU satisfies
HOST_FLAGS = ("-mcpu=", "-mattr=")


def _kind(name: str) -> str:
    """The target named by ``name``, TVM's ``"llvm -mcpu=skylake-avx512"`` included: every
    ``llvm`` kernel is compiled for the CPU it runs on, with all its features, so ``-mcpu``
    and ``-mattr`` need nothing more (other flags leave the name unknown)."""
    kind, *flags = name.split() or [name]
    return kind if kind == "llvm" and flags and all(f.startswith(HOST_FLAGS) for f in flags) else name


def build(func: PrimFunc, target_name: str = "llvm", **options):
    """Compile the lowered function ``func`` for the target named ``target_name``.

    ``options`` go to the target's own build (``cuda``: ``shared_memory_bytes``,
    ``max_threads``); an option the target does not take is refused here, by name.
    """
    chosen = target(target_name, options)
    if not isinstance(func, PrimFunc):
        raise LoweringError(f"build: expected a lowered function (PrimFunc), got {type(func).__name__}; "
                            "lower a schedule first with schedules.lower(s, args)")
    return importlib.import_module(chosen.module).build(func, **options)


__all__ = ["TARGETS", "Target", "build", "target"]
