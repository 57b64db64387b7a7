"""Seconds to build a kernel with a cold kernel cache (median of runs), phase by phase, next to
the time to load it again from the disk cache. Two kernels: the default CPU matmul template and
a frontend elementwise kernel (``a * b + a`` through ``frontend.Tensor``, first use).

Phases: ``schedule`` (the template or the op's compute definition and schedule), ``lower``
(schedule -> loop nest), ``passes`` (the pass pipeline, verifier included), ``codegen`` (LLVM IR
from the loop nest, as text), ``optimize`` (LLVM parses and optimises it), ``machine_code``
(instruction selection to an object file), ``load`` (the JIT links the object). ``--cpu`` reads
the process's CPU time instead of the wall clock (a figure a loaded machine does not inflate).
Each run gets an empty cache directory whose key already exists (its creation is fsync'ed once
per directory, which no build but a machine's first pays).

    python benchmarks/compile_time.py [--json] [--cpu] [--size 1024] [--repeat 7]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.harness import Report, parser  # noqa: E402

#: the clock phases are read on: wall time, or with ``--cpu`` the process's CPU time (all its
#: threads), which a loaded machine does not inflate
CLOCK = {"clock": time.perf_counter}
PHASES = ("schedule", "lower", "passes", "codegen", "optimize", "machine_code", "load")


def cold_build(make: Callable[[], tuple], name: str) -> dict[str, float]:
    """Seconds of each phase of one cold build of the kernel ``make()`` returns as (schedule, args)."""
    import llvmlite.binding as llvm

    from backends.llvm import compile as llvm_compile
    from backends.llvm import module as llvm_module
    from backends.llvm.target import new_target_machine
    from schedules.lower import lower_schedule
    from tensorir import config
    from tensorir.passes.pipeline import run as run_passes

    times, clock = {}, CLOCK["clock"]()

    def lap(phase: str) -> None:
        nonlocal clock
        now = CLOCK["clock"]()
        times[phase], clock = now - clock, now

    schedule, args = make()
    lap("schedule")
    func = lower_schedule(schedule, args, name)
    lap("lower")
    func = run_passes(func)
    lap("passes")
    symbol = llvm_module._symbol(func.name)
    text = llvm_module.generate_ir(func, symbol)
    lap("codegen")
    module = llvm.parse_assembly(text, context=llvm.create_context())
    machine = new_target_machine(3)
    optimize = llvm_compile.optimize_vectorized if llvm_module.explicitly_vectorized(func) else llvm_compile.optimize
    optimize(module, config.LLVM_OPT(), machine)
    lap("optimize")
    obj = machine.emit_object(module)
    lap("machine_code")
    llvm_module._load(obj, symbol, len(func.params) + 1)
    lap("load")
    return times


def end_to_end(make: Callable[[], tuple], name: str) -> tuple[float, float]:
    """Seconds of ``ns.build`` from the template with a cold cache, then from the disk cache."""
    import nestor as ns
    from backends.llvm import module as llvm_module

    llvm_module._compiled.clear()
    clock = CLOCK["clock"]
    start = clock()
    schedule, args = make()
    func = ns.lower(schedule, args, name=name)
    ns.build(func, target="llvm")
    cold = clock() - start
    llvm_module._compiled.clear()
    start = clock()
    ns.build(func, target="llvm")
    return cold, clock() - start


def frontend_elementwise(shape: tuple[int, ...]) -> Callable[[], tuple]:
    """The (schedule, args) the frontend builds for ``a * b + a`` on first use, as a maker: the
    symbolic-batch kernel where the op has one (:mod:`frontend.symbatch`), else the static one."""
    import numpy as np

    import frontend
    from frontend import dispatch, symbatch
    from schedules.templates.size_hints import _HINTS, size_hints

    captured = []
    static_compile, symbolic_compile = dispatch.cache._compile, symbatch._compile

    def capture_static(op, request):
        config = dispatch.cache.schedule_for(request.key, request.shapes, request.dtypes, request.device,
                                             op.default_config(request), op.tuning_task(request))
        captured.append((lambda: op.kernel(request, config), {}))
        return static_compile(op, request)

    def capture_symbolic(cache, builder, symbolic, config, build):
        captured.append((lambda: builder.kernel(symbolic, config), dict(_HINTS.get() or {})))
        return symbolic_compile(cache, builder, symbolic, config, build)

    dispatch.cache.clear()
    dispatch.cache._compile, symbatch._compile = capture_static, capture_symbolic
    try:
        a = frontend.Tensor(np.ones(shape, np.float32), requires_grad=False)
        b = frontend.Tensor(np.ones(shape, np.float32), requires_grad=False)
        (a * b + a).numpy()
    finally:
        del dispatch.cache._compile
        symbatch._compile = symbolic_compile
    kernel, hints = captured[-1]

    def make():
        with size_hints(hints):
            return kernel()

    return make


def _open_cache() -> None:
    from backends.llvm import cache

    cache._open_cache()


def measure(report: Report, case: str, make: Callable[[], tuple], name: str, repeat: int) -> None:
    phases: dict[str, list[float]] = {phase: [] for phase in PHASES}
    cold_s, warm_s = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["NESTOR_CACHE_DIR"] = cache
            _open_cache()  # the directory and its key exist, as for any build but a machine's first
            for phase, seconds in cold_build(make, name).items():
                phases[phase].append(seconds)
            cold, warm = end_to_end(make, name)
            cold_s.append(cold)
            warm_s.append(warm)
    breakdown = {f"{phase}_s": statistics.median(phases[phase]) for phase in PHASES}
    report.add(case, statistics.median(cold_s), "disk-cache hit", statistics.median(warm_s), **breakdown)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--cpu", action="store_true", help="CPU seconds of the process instead of wall seconds")
    args = p.parse_args()
    if args.cpu:
        CLOCK["clock"] = time.process_time
    from schedules.templates import matmul_cpu

    report = Report("compile_time", args.json)
    n = args.size
    measure(report, f"matmul_cpu n={n} cold", lambda: matmul_cpu(n, n, n), "matmul", args.repeat)
    shape = (257, 1000)
    measure(report, f"frontend a*b+a {shape[0]}x{shape[1]} cold", frontend_elementwise(shape), "fused",
            args.repeat)


if __name__ == "__main__":
    main()
