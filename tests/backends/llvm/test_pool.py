"""Nestor's thread pool (backends/llvm/pool.py): parallel loops through it give numpy's values
for any extent and chunking, with callers in several Python threads at once, after fork, from
exported files and the kernel cache; NESTOR_THREAD_POOL=0 falls back to libgomp's team."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import nestor as ns
from backends.llvm import pool, pool_ir
from backends.llvm.parallel import HEAVY_ITERATION, iteration_work
from backends.llvm.target import host_target
from tensorir import config
from tensorir.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not host_target().pool, reason="Nestor's thread pool is off on this platform")


def _rows(rows: int, cols: int = 3, factor: int | None = None):
    """B[i, j] = A[i, j] * 2 + 4i + j with the row loop parallel (split by ``factor`` first: the
    outer loop then has ceil(rows / factor) iterations, the last one short)."""
    A = ns.placeholder((rows, cols), name="A")
    B = ns.compute((rows, cols), lambda i, j: A[i, j] * 2.0 + i.astype("float32") * 4.0 + j.astype("float32"),
                   name="B")
    s = ns.create_schedule(B)
    axis = B.op.axis[0]
    if factor is not None:
        axis, _ = s[B].split(axis, factor=factor)
    s[B].parallel(axis)
    return ns.build(s, [A, B], target="llvm")


def _check(module, rows: int, cols: int = 3, seed: int = 0) -> None:
    a = np.random.default_rng(seed).standard_normal((rows, cols), dtype=np.float32)
    b = np.full_like(a, np.nan)
    module(a, b)
    expected = a * 2 + np.arange(rows, dtype=np.float32)[:, None] * 4 + np.arange(cols, dtype=np.float32)
    np.testing.assert_array_equal(b, expected)


def test_parallel_loops_call_the_pool():
    source = _rows(64).source
    assert f"@\"{pool_ir.RUN}\"" in source and f"@\"{pool_ir.THREADS}\"" in source
    assert "GOMP_parallel" not in source and "omp_get_num_threads" not in source
    assert pool.threads() == min(host_target_threads(), pool.MAX_WORKERS + 1)


def host_target_threads() -> int:
    from backends.llvm.target import thread_count

    return thread_count()


@pytest.mark.parametrize("rows", [1, 2, 3, 31, 32, 33, 63, 64, 65, 127, 1000, 4097])
def test_every_row_once_for_any_extent(rows):
    """Light rows: the extent in chunks of a 16th of a thread's share, the last one short."""
    _check(_rows(rows), rows)


@pytest.mark.parametrize("rows, factor", [(7, 2), (100, 7), (1000, 33), (4097, 64), (33, 1)])
def test_uneven_outer_chunks(rows, factor):
    _check(_rows(rows, factor=factor), rows)


def test_heavy_iterations_are_taken_one_at_a_time():
    rows, cols = 5, HEAVY_ITERATION
    module = _rows(rows, cols)
    assert iteration_work(module.func.body) >= HEAVY_ITERATION
    _check(module, rows, cols)


def test_two_parallel_loops_in_one_kernel_are_two_jobs():
    A = ns.placeholder((301, 5), name="A")
    B = ns.compute((301, 5), lambda i, j: A[i, j] * 2.0, name="B")
    C = ns.compute((301, 5), lambda i, j: B[i, j] + i.astype("float32"), name="C")
    s = ns.create_schedule(C)
    s[B].parallel(B.op.axis[0])
    s[C].parallel(C.op.axis[0])
    module = ns.build(s, [A, C], target="llvm")
    assert module.source.count(f"call void @\"{pool_ir.RUN}\"") == 2
    a = np.random.default_rng(2).standard_normal((301, 5), dtype=np.float32)
    c = np.full_like(a, np.nan)
    module(a, c)
    np.testing.assert_array_equal(c, a * 2 + np.arange(301, dtype=np.float32)[:, None])


def test_a_job_started_inside_a_job_runs_alone_on_its_thread():
    """The pool is busy with the outer job, so each thread that runs it (the caller, and any
    worker that joins) runs the inner job itself, at once: no deadlock, no lost job."""
    import ctypes

    import llvmlite.binding as llvm

    pool.install()
    task = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
    run = ctypes.CFUNCTYPE(None, task, ctypes.c_void_p)(llvm.address_of_symbol(pool_ir.RUN))
    events: list[tuple[str, int]] = []
    lock = threading.Lock()

    def inner(_):
        with lock:
            events.append(("inner", threading.get_ident()))

    inner_task = task(inner)

    def outer(_):
        run(inner_task, None)
        with lock:
            events.append(("outer", threading.get_ident()))

    outer_task = task(outer)
    for _ in range(200):
        events.clear()
        run(outer_task, None)
        by_thread: dict[int, list[str]] = {}
        for kind, ident in events:
            by_thread.setdefault(ident, []).append(kind)
        assert threading.get_ident() in by_thread  # the caller always runs the job
        assert all(kinds == ["inner", "outer"] for kinds in by_thread.values()), by_thread


def test_a_product_through_the_pool_matches_numpy():
    from schedules.templates import matmul_cpu

    for n in (64, 200, 256):
        s, args = matmul_cpu(n, n, n, transpose_b=False, parallel=True)
        module = ns.build(s, args, target="llvm")
        rng = np.random.default_rng(n)
        a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
        c = np.full((n, n), np.nan, np.float32)
        module(a, b, c)
        np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


def test_repeated_calls_stay_exact():
    """Back-to-back calls (workers spinning) and calls after a pause (workers asleep)."""
    import time

    module, rows = _rows(1000), 1000
    a = np.random.default_rng(1).standard_normal((rows, 3), dtype=np.float32)
    expected = a * 2 + np.arange(rows, dtype=np.float32)[:, None] * 4 + np.arange(3, dtype=np.float32)
    b = np.empty_like(a)
    for call in range(3000):
        b.fill(np.nan)
        module(a, b)
        assert np.array_equal(b, expected), call
        if call % 500 == 0:
            time.sleep(0.02)


def test_callers_in_several_python_threads():
    """Kernels called from four Python threads at once: one owns the pool at a time, the others
    run their chunks alone; every result is exact."""
    modules = {rows: _rows(rows) for rows in (33, 257, 1000, 4097)}
    failures: list[str] = []

    def caller(rows: int) -> None:
        a = np.random.default_rng(rows).standard_normal((rows, 3), dtype=np.float32)
        expected = a * 2 + np.arange(rows, dtype=np.float32)[:, None] * 4 + np.arange(3, dtype=np.float32)
        b = np.empty_like(a)
        for call in range(400):
            b.fill(np.nan)
            modules[rows](a, b)
            if not np.array_equal(b, expected):
                failures.append(f"{rows} rows, call {call}")
                return

    threads = [threading.Thread(target=caller, args=(rows,)) for rows in modules]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []


def _run(code: str, **env) -> dict:
    environment = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    out = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_KERNEL = """
import json, os, sys
import numpy as np
import nestor as ns
from backends.llvm import pool
from backends.llvm.target import host_target
A = ns.placeholder((1000, 3), name="A")
B = ns.compute((1000, 3), lambda i, j: A[i, j] * 2.0 + i.astype("float32"), name="B")
s = ns.create_schedule(B)
s[B].parallel(B.op.axis[0])
a = np.arange(3000, dtype=np.float32).reshape(1000, 3)
expected = a * 2 + np.arange(1000, dtype=np.float32)[:, None]
def name(tid):
    try:
        return open(f"/proc/self/task/{tid}/comm").read().strip()
    except FileNotFoundError:  # a thread (not the pool's: they never end) exited since the listing
        return None
def workers():
    from backends.llvm.pool_ir import THREAD_NAME
    return [name(t) for t in os.listdir("/proc/self/task")].count(THREAD_NAME)
def exact(module):
    b = np.full_like(a, np.nan)
    module(a, b)
    return bool(np.array_equal(b, expected))
"""


def test_openmp_fallback_when_the_pool_is_off(tmp_path):
    result = _run(_KERNEL + """
module = ns.build(s, [A, B], target="llvm")
print(json.dumps({"pool": host_target().pool, "gomp": "GOMP_parallel" in module.source,
                  "ours": "nestor_pool_run" in module.source, "exact": exact(module)}))
""", NESTOR_THREAD_POOL="0", NESTOR_CACHE_DIR=str(tmp_path))
    assert result == {"pool": False, "gomp": True, "ours": False, "exact": True}


def test_one_thread_starts_no_worker(tmp_path):
    result = _run(_KERNEL + """
ok = exact(ns.build(s, [A, B], target="llvm"))
print(json.dumps({"threads": pool.threads(), "started": workers(), "exact": ok}))
""", OMP_NUM_THREADS="1", NESTOR_CACHE_DIR=str(tmp_path))
    assert result == {"threads": 1, "started": 0, "exact": True}


def test_three_threads_start_two_workers(tmp_path):
    result = _run(_KERNEL + """
ok = all(exact(ns.build(s, [A, B], target="llvm")) for _ in range(50))
print(json.dumps({"threads": pool.threads(), "started": workers(), "exact": ok}))
""", OMP_NUM_THREADS="3", NESTOR_CACHE_DIR=str(tmp_path))
    assert result == {"threads": 3, "started": 2, "exact": True}


def test_a_forked_child_starts_its_own_workers(tmp_path):
    result = _run(_KERNEL + """
module = ns.build(s, [A, B], target="llvm")
assert exact(module)
pid = os.fork()
if pid == 0:
    ok = all(exact(module) for _ in range(200)) and pool.threads() == 2 and workers() == 1
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
print(json.dumps({"child": os.waitstatus_to_exitcode(status), "parent": exact(module)}))
""", OMP_NUM_THREADS="2", NESTOR_CACHE_DIR=str(tmp_path))
    assert result == {"child": 0, "parent": True}


def test_kernels_from_the_disk_cache_and_exported_files_load_the_pool(tmp_path):
    """A second process loads the kernel from the disk cache, and an exported file of it in a
    process where the pool is off for new kernels: either installs the pool as it loads."""
    export = str(tmp_path / "rows.nestor")
    first = _run(_KERNEL + f"""
module = ns.build(s, [A, B], target="llvm")
module.export_library({export!r})
print(json.dumps({{"hit": module.cache_hit, "exact": exact(module)}}))
""", NESTOR_CACHE_DIR=str(tmp_path / "cache"))
    second = _run(_KERNEL + """
module = ns.build(s, [A, B], target="llvm")
print(json.dumps({"hit": module.cache_hit, "exact": exact(module)}))
""", NESTOR_CACHE_DIR=str(tmp_path / "cache"))
    loaded = _run(_KERNEL + f"""
module = ns.load_module({export!r})
print(json.dumps({{"pool": host_target().pool, "exact": all(exact(module) for _ in range(20))}}))
""", NESTOR_CACHE_DIR=str(tmp_path / "cache"), NESTOR_THREAD_POOL="0")
    assert first == {"hit": None, "exact": True}
    assert second == {"hit": "disk", "exact": True}
    assert loaded == {"pool": False, "exact": True}


def test_the_interpreter_exits_cleanly_with_workers_running(tmp_path):
    """Workers spinning or asleep when the interpreter ends do not keep it alive or crash it."""
    for _ in range(3):
        result = _run(_KERNEL + """
module = ns.build(s, [A, B], target="llvm")
print(json.dumps({"exact": all(exact(module) for _ in range(5))}))
""", NESTOR_CACHE_DIR=str(tmp_path))
        assert result == {"exact": True}


@pytest.mark.parametrize("variable, text, accepts", [
    ("NESTOR_THREAD_POOL", "maybe", "must be one of 1, true, yes, on, 0, false, no, off"),
    ("NESTOR_POOL_SPIN", "-5", "must be an integer of at least 0"),
])
def test_bad_pool_settings_are_refused(monkeypatch, variable, text, accepts):
    monkeypatch.setenv(variable, text)
    with pytest.raises(ConfigurationError, match=f"{variable}={text!r}: {accepts}"):
        config.SETTINGS[variable]()


@pytest.mark.parametrize("pause", [0.0, 0.05])
def test_a_worker_joins_a_job_spinning_or_woken_from_sleep(pause):
    """The caller's share of the job waits (at most 30 s) for another thread to enter it: a
    worker still spinning (no pause) or asleep on the futex (after a pause) is woken and joins."""
    import ctypes
    import time

    import llvmlite.binding as llvm

    pool.install()
    if pool.threads() < 2:
        pytest.skip("one thread: the pool has no worker")
    task = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
    run = ctypes.CFUNCTYPE(None, task, ctypes.c_void_p)(llvm.address_of_symbol(pool_ir.RUN))
    caller = threading.get_ident()
    for _ in range(5):
        joined = threading.Event()

        def job(_, joined=joined):
            if threading.get_ident() != caller:
                joined.set()
            else:
                joined.wait(timeout=30)

        keep = task(job)
        time.sleep(pause)
        run(keep, None)
        assert joined.is_set()


@pytest.mark.parametrize("period", [1, 0, pool_ir.YIELD_EVERY])
def test_spins_that_yield_at_every_look_or_never_stay_exact(period):
    """The spinning threads yield their core every ``period``-th look (1: at every look, 0:
    never): back-to-back calls, calls after a pause (workers asleep), and a product, all exact."""
    import time

    from schedules.templates import matmul_cpu

    s, args = matmul_cpu(256, 256, 256, transpose_b=False, parallel=True)
    product = ns.build(s, args, target="llvm")
    rng = np.random.default_rng(period)
    a, b = (rng.standard_normal((256, 256), dtype=np.float32) for _ in range(2))
    expected, c = a @ b, np.empty((256, 256), np.float32)
    module = _rows(1000)
    pool.set_yield(period)
    try:
        for call in range(600):
            _check(module, 1000, seed=call % 7)
            if call % 100 == 0:
                time.sleep(0.01)
            if call % 20 == 0:
                c.fill(np.nan)
                product(a, b, c)
                np.testing.assert_allclose(c, expected, rtol=1e-4, atol=1e-4)
    finally:
        pool.set_yield(pool_ir.YIELD_EVERY)


def test_caller_and_worker_sharing_one_core_stay_exact(tmp_path):
    """The process held to one CPU (as where another process holds the other core): the worker
    spins on the caller's core and yields it; four Python threads call at once; all exact."""
    result = _run(_KERNEL + """
import threading
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
module = ns.build(s, [A, B], target="llvm")
results = []
def calls():
    results.append(all(exact(module) for _ in range(300)))
threads = [threading.Thread(target=calls) for _ in range(4)]
[t.start() for t in threads]
[t.join(120) for t in threads]
print(json.dumps({"threads": pool.threads(), "exact": results == [True] * 4, "alone": exact(module)}))
""", OMP_NUM_THREADS="2", NESTOR_CACHE_DIR=str(tmp_path))
    assert result == {"threads": 2, "exact": True, "alone": True}


@pytest.mark.parametrize("period", [3, -1, 1.5, True, 1 << 32])
def test_a_bad_yield_period_is_refused(period):
    with pytest.raises(ConfigurationError, match=re.escape(
            f"thread pool set_yield(period={period!r}): the period must be 0 (never yield) or a power of two "
            f"up to 2**31, e.g. {pool_ir.YIELD_EVERY}")):
        pool.set_yield(period)
