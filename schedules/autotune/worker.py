"""What runs inside the measurement worker processes: build a candidate (template -> schedule ->
lowered function -> compiled module), or run one (check it against the reference, then time it).

A worker serves jobs from its pipe until the pipe closes or its parent dies. Any exception is
returned as an error; a crash or a hang is the parent's to notice.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import traceback

import numpy as np

from tensorir import config

#: set to 1 to let the knob ``inject_fault`` of a (test) template crash or hang the runner
FAULT_VARIABLE = config.TUNE_INJECT_FAULTS.variable

_prepared: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}


def main(argv: list[str]) -> None:
    """``python -m schedules.autotune.worker FD``: serve jobs on the socket inherited as FD."""
    from multiprocessing.connection import Connection

    serve(Connection(int(argv[1])))


def serve(conn) -> None:
    """Answer ``(kind, payload)`` jobs on ``conn`` until it closes; ``None`` stops the worker."""
    _exit_with_parent()
    handlers = {"ping": lambda payload: {"pid": os.getpid()}, "build": build_job, "run": run_job,
                "prepare": lambda payload: (_inputs_and_reference(payload, payload["func"]), {})[1]}
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        kind, payload = job
        fatal = False
        try:
            answer = handlers[kind](payload)
        except Exception as error:  # noqa: BLE001 - every failure of a candidate is data
            answer = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=6)}
            fatal = poisons_the_process(error)
        try:
            conn.send(answer)
        except (BrokenPipeError, OSError):
            return
        if fatal:  # the parent finds the worker gone and starts a fresh one for the next candidate
            return


def poisons_the_process(error: BaseException) -> bool:
    """Whether a candidate's failure leaves this process unable to run the next one: a GPU fault
    makes the CUDA context unusable for every later launch in the process."""
    from backends.cuda.runtime import is_sticky

    return is_sticky(error)


def _exit_with_parent() -> None:
    """Leave when the tuner that started us is gone, even in the middle of a hanging job."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _template(payload: dict):
    from .spaces import resolve_template

    return resolve_template(payload["template"])


def compile_func(func, target: str):
    from backends import build

    return build(func, target)


def build_job(payload: dict) -> dict:
    """Instantiate the template with the candidate's keyword arguments, lower and compile it."""
    from schedules import lower

    template = _template(payload)
    start = time.perf_counter()
    schedule, args = template.instantiate(payload["sizes"], payload["kwargs"], payload["dtype"], payload["options"])
    trace = schedule.trace.to_json()
    func = lower(schedule, args, template.name)
    compile_func(func, payload["target"])  # fills the kernel cache that the runner loads from
    return {"trace": trace, "func": func, "compile_s": time.perf_counter() - start}


def _inputs_and_reference(payload: dict, func) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Random inputs and the reference outputs for the task, made once per task."""
    key = json.dumps([payload[k] for k in ("template", "sizes", "dtype", "options")])
    if key not in _prepared:
        template = _template(payload)
        written = _written(func)
        rng = np.random.default_rng(0)
        inputs = [rng.uniform(-1, 1, b.shape).astype(b.dtype.numpy) for b in func.params if b not in written]
        expected = template.reference(inputs, tuple(payload["sizes"]), template.task_options(payload["options"]))
        _prepared.clear()
        _prepared[key] = (inputs, [np.ascontiguousarray(e) for e in expected])
    return _prepared[key]


def _written(func) -> set:
    from tensorir.stmt import Store
    from tensorir.visitor import walk

    return {node.buffer for node in walk(func.body) if isinstance(node, Store)}


def _inject_fault(kwargs: dict) -> None:
    fault = kwargs.get("inject_fault") if config.TUNE_INJECT_FAULTS() else None
    if fault == "run_crash":
        os._exit(70)
    if fault == "run_hang":
        time.sleep(3600)


def check(outputs: list[np.ndarray], expected: list[np.ndarray], rtol: float) -> str | None:
    """None if every output matches its reference, else what is wrong."""
    for position, (got, want) in enumerate(zip(outputs, expected)):
        if got.shape != want.shape:
            return f"wrong result: output {position} has shape {got.shape}, expected {want.shape}"
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        error = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
        if not np.isfinite(error) or error > rtol * max(scale, 1.0):
            return (f"wrong result: output {position} differs from the reference by up to {error:.3g} "
                    f"(allowed {rtol * max(scale, 1.0):.3g})")
    return None


def run_job(payload: dict) -> dict:
    """Run the compiled candidate once on fresh outputs and check it; if right, time it."""
    _inject_fault(payload["kwargs"])
    func = payload["func"]
    module = compile_func(func, payload["target"])
    inputs, expected = _inputs_and_reference(payload, func)
    outputs = [np.full(e.shape, np.nan, e.dtype) for e in expected]
    module(*inputs, *outputs)
    wrong = check(outputs, expected, payload.get("rtol", 1e-3))
    if wrong:
        return {"error": wrong}
    return time_module(module, inputs + outputs, payload)


def _round(module, arrays: list[np.ndarray], number: int) -> float:
    if getattr(module, "target", "") == "cuda":
        return module.time(*arrays, number=number, repeat=1)
    start = time.perf_counter()
    for _ in range(number):
        module(*arrays)
    return (time.perf_counter() - start) / number


def time_module(module, arrays: list[np.ndarray], payload: dict) -> dict:
    """Median seconds per call over ``repeat`` rounds of at least ``min_round`` seconds each, after
    a warm-up; a candidate slower than ``cutoff`` seconds is timed once only."""
    once = max(_round(module, arrays, 1), 1e-9)  # warm-up, and the size of a round
    cutoff = payload.get("cutoff")
    if cutoff is not None and once > cutoff:
        return {"run_s": once, "noise": None, "rounds": 1, "note": f"timed once: slower than {cutoff:.3g} s"}
    number = max(1, int(payload.get("min_round", 0.02) / once))
    samples = [_round(module, arrays, number) for _ in range(payload.get("repeat", 5))]
    median = statistics.median(samples)
    return {"run_s": median, "noise": _spread(samples, median), "rounds": len(samples), "number": number}


def _spread(samples: list[float], median: float) -> float:
    """Relative interquartile range, a noise figure (0 for fewer than two samples)."""
    if len(samples) < 2 or median <= 0:
        return 0.0
    low, _, high = statistics.quantiles(samples, n=4, method="inclusive")
    return (high - low) / median


if __name__ == "__main__":
    import sys

    main(sys.argv)
