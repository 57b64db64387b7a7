"""The tuning database: one SQLite row per measured candidate, safe under concurrent writers and
killed runs (write-ahead log, one transaction per record, a busy timeout).

Rows are data from a file anyone may have edited: a row whose fields do not have the types a
record needs (malformed JSON, a text time, a negative one) is skipped with one warning naming the
file and the row, never used. Whether a record is a valid point of its template's space is checked
where the space is known (:mod:`.validate`).

The default file is ``$NESTOR_TUNING_DB``, else ``$XDG_DATA_HOME/nestor/tuning.db`` (with
``~/.local/share`` for an unset ``XDG_DATA_HOME``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tensorir import config

from .errors import TuningError, TuningWarning

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    op TEXT NOT NULL, shapes TEXT NOT NULL, dtype TEXT NOT NULL, target TEXT NOT NULL,
    hardware TEXT NOT NULL, options TEXT NOT NULL,
    knobs TEXT NOT NULL, kwargs TEXT NOT NULL, trace TEXT,
    compile_s REAL, run_s REAL, noise REAL, error TEXT,
    tuner TEXT, session TEXT, timestamp REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS records_task ON records (op, dtype, target, hardware, options, shapes);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_FIELDS = ("op", "shapes", "dtype", "target", "hardware", "options", "knobs", "kwargs", "trace", "compile_s",
           "run_s", "noise", "error", "tuner", "session", "timestamp")


def default_path() -> Path:
    """``$NESTOR_TUNING_DB``, else ``$XDG_DATA_HOME/nestor/tuning.db``."""
    return config.TUNING_DB()


def hardware_fingerprint(target: str) -> str:
    """What timings depend on: for ``llvm`` the CPU, its features and the thread count; for
    ``cuda`` the GPU's name. Readable, with a short hash of the details."""
    if target == "cuda":
        try:
            from backends.cuda.runtime import driver

            name = driver().Device(0).name()
        except Exception:  # noqa: BLE001 - no GPU here: records are still kept apart
            name = "unknown-gpu"
        return f"cuda:{name}"
    from backends.llvm.target import host_target, thread_count

    host = host_target()
    digest = hashlib.sha256(f"{host.triple}|{host.features}".encode()).hexdigest()[:8]
    return f"{target}:{host.cpu}:{thread_count()}t:{digest}"


def canonical(value) -> str:
    """JSON with sorted keys, so equal options and knobs compare equal as text."""
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class Record:
    """One measured candidate (``run_s`` is None and ``error`` says why when it failed)."""

    op: str
    shapes: tuple[int, ...]
    dtype: str
    target: str
    hardware: str
    options: dict
    knobs: dict
    kwargs: dict
    trace: str | None = None
    compile_s: float | None = None
    run_s: float | None = None
    noise: float | None = None
    error: str | None = None
    tuner: str = ""
    session: str = ""
    timestamp: float = field(default_factory=time.time)
    id: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.run_s is not None

    def _row(self) -> tuple:
        values = asdict(self)
        values["shapes"] = canonical([int(s) for s in self.shapes])
        values["options"] = canonical(self.options)
        values["knobs"], values["kwargs"] = json.dumps(self.knobs), json.dumps(self.kwargs)
        return tuple(values[name] for name in _FIELDS)

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> Record:
        """The record of ``row``; ValueError saying what is wrong with a malformed one."""
        values = {name: row[name] for name in _FIELDS}
        for name in _JSON:
            try:
                values[name] = json.loads(values[name])
            except (TypeError, ValueError, RecursionError):
                raise ValueError(f"its {name} are not JSON ({_clip(values[name])})") from None
        problem = _malformed(values)
        if problem:
            raise ValueError(problem)
        values["shapes"] = tuple(values["shapes"])
        values["tuner"], values["session"] = values["tuner"] or "", values["session"] or ""
        return cls(**values, id=row["id"])


_JSON = ("shapes", "options", "knobs", "kwargs")


def _malformed(values: dict) -> str | None:
    """What makes the decoded fields of a row unusable as a record, or None."""
    shapes = values["shapes"]
    if not isinstance(shapes, list) or not all(type(s) is int for s in shapes):
        return f"its shapes {_clip(shapes)} are not a list of integers"
    for name in ("options", "knobs", "kwargs"):
        if not isinstance(values[name], dict):
            return f"its {name} {_clip(values[name])} are not a JSON object"
    for name in ("op", "dtype", "target", "hardware", "trace", "error", "tuner", "session"):
        optional = name in ("trace", "error", "tuner", "session")
        if not isinstance(values[name], str) and not (optional and values[name] is None):
            return f"its {name} {_clip(values[name])} is not text"
    for name in ("compile_s", "run_s", "noise", "timestamp"):
        value = values[name]
        if value is None and name != "timestamp":
            continue
        least = "above 0" if name == "run_s" else "of at least 0"
        if type(value) not in (int, float) or not math.isfinite(value) or value < 0 or (name == "run_s" and not value):
            return f"its {name} {_clip(value)} is not a finite number {least}"
    return None


def _clip(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


_warned: set[tuple[str, int]] = set()


def skip_row(path: Path, row_id, reason: str) -> None:
    """Warn, once per process, that row ``row_id`` of the database at ``path`` is not used."""
    if (str(path), row_id) in _warned:
        return
    _warned.add((str(path), row_id))
    warnings.warn(f"tuning database {path}: row {row_id} skipped, {reason}; it is not used (delete it: "
                  f"sqlite3 {path} 'DELETE FROM records WHERE id = {row_id}')", TuningWarning, stacklevel=3)


class Database:
    """The tuning records in one SQLite file.

    Parameters
    ----------
    path
        The file (created with its folder if absent); default :func:`default_path`.
    busy_timeout
        Seconds to wait for another writer before giving up.
    """

    def __init__(self, path: str | os.PathLike | None = None, busy_timeout: float = 30.0):
        self.path = Path(path).expanduser() if path else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            with self._transaction():
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self._conn.execute(statement)
                self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        except (sqlite3.Error, OSError) as error:
            raise TuningError(f"tuning database {self.path}: cannot open it ({error}); pass another "
                              "file with --db PATH or NESTOR_TUNING_DB") from None

    def _transaction(self):
        return _Transaction(self._conn)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, record: Record) -> int:
        """Store ``record`` in its own transaction (durable once this returns); its new id."""
        placeholders = ", ".join("?" * len(_FIELDS))
        try:
            with self._transaction():
                cursor = self._conn.execute(
                    f"INSERT INTO records ({', '.join(_FIELDS)}) VALUES ({placeholders})", record._row())
        except sqlite3.Error as error:
            raise TuningError(f"tuning database {self.path}: cannot write a record ({error}); free disk space, "
                              "check the file's permissions, or pass another file with --db PATH") from None
        return int(cursor.lastrowid)

    def records(self, op: str, shapes=None, dtype: str | None = None, target: str | None = None,
                options: dict | None = None, hardware: str | None = None) -> list[Record]:
        """Records of ``op``, narrowed by whichever of the other keys are given, oldest first."""
        clauses, values = ["op = ?"], [op]
        for name, value in (("dtype", dtype), ("target", target), ("hardware", hardware)):
            if value is not None:
                clauses.append(f"{name} = ?")
                values.append(value)
        if shapes is not None:
            clauses.append("shapes = ?")
            values.append(canonical([int(s) for s in shapes]))
        if options is not None:
            clauses.append("options = ?")
            values.append(canonical(options))
        found = []
        for row in self._query(f"SELECT * FROM records WHERE {' AND '.join(clauses)} ORDER BY id", values):
            try:
                found.append(Record._from_row(row))
            except ValueError as error:
                skip_row(self.path, row["id"], str(error))
        return found

    def _query(self, sql: str, values=()) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, values).fetchall()
        except sqlite3.Error as error:
            raise TuningError(f"tuning database {self.path}: cannot read it ({error}); repair or delete the "
                              "file, or pass another with --db PATH or NESTOR_TUNING_DB") from None

    def best(self, op: str, shapes, dtype: str, target: str, options: dict | None = None,
             hardware: str | None = None) -> Record | None:
        """The fastest correct record for exactly this task (on this machine by default)."""
        hardware = hardware or hardware_fingerprint(target)
        found = [r for r in self.records(op, shapes, dtype, target, options, hardware) if r.ok]
        return min(found, key=lambda r: r.run_s) if found else None

    def nearest(self, op: str, shapes, dtype: str, target: str, options: dict | None = None,
                hardware: str | None = None) -> Record | None:
        """The best record of the nearest other shape (by log-distance of the sizes), or None."""
        hardware = hardware or hardware_fingerprint(target)
        shapes = tuple(int(s) for s in shapes)
        by_shape: dict[tuple, Record] = {}
        for record in self.records(op, None, dtype, target, options, hardware):
            if record.ok and len(record.shapes) == len(shapes) and record.shapes != shapes:
                held = by_shape.get(record.shapes)
                if held is None or record.run_s < held.run_s:
                    by_shape[record.shapes] = record
        if not by_shape:
            return None
        return by_shape[min(by_shape, key=lambda other: _distance(other, shapes))]

    def tasks(self) -> list[dict]:
        """Each tuned task (op, shapes, dtype, target, options, hardware) with its record count and
        last timestamp, most recent first."""
        rows = self._query(
            "SELECT op, shapes, dtype, target, options, hardware, COUNT(*) AS count, MAX(timestamp) AS last, "
            "MIN(id) AS first FROM records GROUP BY op, shapes, dtype, target, options, hardware ORDER BY last DESC")
        tasks = []
        for row in rows:
            try:
                shapes, options = json.loads(row["shapes"]), json.loads(row["options"])
            except (TypeError, ValueError, RecursionError):
                shapes = options = None
            if not isinstance(shapes, list) or not all(type(s) is int for s in shapes) or \
                    not isinstance(options, dict):
                skip_row(self.path, row["first"], f"its shapes or options are malformed ({_clip(row['shapes'])}, "
                         f"{_clip(row['options'])})")
                continue
            task = {k: row[k] for k in row.keys() if k != "first"}
            tasks.append({**task, "shapes": tuple(shapes), "options": options})
        return tasks


def _distance(a: tuple, b: tuple) -> float:
    return sum(abs(math.log(x) - math.log(y)) for x, y in zip(a, b) if x > 0 and y > 0)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on an exception): one writer at a time."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback) -> None:
        self._conn.execute("COMMIT" if kind is None else "ROLLBACK")
