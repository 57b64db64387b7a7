"""A killed tuning run loses no finished record, leaves a sound database, and resumes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from schedules.autotune import Database, lookup_config, tune

TUNING = textwrap.dedent("""
    import sys
    from schedules.autotune import tune
    tune("matmul", (32, 32, 32), trials=500, tuner="random", db=sys.argv[1], n_parallel=1, batch_size=2, repeat=2)
""")


def count(path) -> int:
    try:
        with sqlite3.connect(path, timeout=30) as conn:
            return conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_killed_run_keeps_its_records_and_resumes(tmp_path):
    path = tmp_path / "t.db"
    process = subprocess.Popen([sys.executable, "-c", TUNING, str(path)], start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while count(path) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert process.poll() is None, "the tuning run ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # its workers would leave by themselves, soon
        except ProcessLookupError:
            pass
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Database(path) as db:
        before = db.records("matmul_cpu")
    assert len(before) >= 3 and all(r.ok for r in before)
    # anytime: the killed run's best so far is what later builds look up
    assert lookup_config("matmul", (32, 32, 32), db=path) == min(before, key=lambda r: r.run_s).kwargs

    result = tune("matmul", (32, 32, 32), trials=3, tuner="random", db=path, n_parallel=1, repeat=2)
    with Database(path) as db:
        after = db.records("matmul_cpu")
    assert len(after) == len(before) + 3
    knobs = [str(r.knobs) for r in after]
    assert len(set(knobs)) == len(knobs), "a resumed run measured a config again"
    assert result.best.run_s == min(r.run_s for r in after if r.ok)
