"""The tuning loop (:func:`tune`) and the lookups that later builds use (:func:`lookup_config`,
:func:`apply_best`)."""

from __future__ import annotations

import functools
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .database import Database, Record, hardware_fingerprint
from .errors import TuningError
from .measure import LocalExecutor, Measurer, MeasureResult, Task
from .space import Config, ConfigSpace
from .spaces import TunableTemplate, resolve_template
from .transfer import transfer_prior
from .tuners import Tuner, make_tuner
from .validate import valid_records


@dataclass
class Progress:
    """What a progress display needs after each measured candidate."""

    done: int
    total: int
    errors: int
    best_s: float | None
    elapsed: float
    record: Record
    #: machines measuring (a distributed executor), else None
    nodes: int | None = None


@dataclass
class TuneResult:
    """The outcome of :func:`tune`.

    Attributes
    ----------
    best
        The fastest correct record of the task (this run's or an earlier one's), or None.
    records
        The records this run measured, in order.
    space_size
        Valid points of the space.
    stopped
        Why the run ended: ``"trials"``, ``"time budget"``, ``"early stop"`` or ``"space exhausted"``.
    elapsed
        Seconds the run took.
    transferred
        Records of other shapes the cost model was pre-trained on (0: no transfer).
    """

    op: str
    sizes: tuple[int, ...]
    dtype: str
    target: str
    options: dict
    best: Record | None
    records: list[Record] = field(default_factory=list)
    space_size: int = 0
    stopped: str = "trials"
    elapsed: float = 0.0
    flops: float | None = None
    transferred: int = 0

    @property
    def config(self) -> dict | None:
        """The best config as the template's keyword arguments."""
        return dict(self.best.kwargs) if self.best else None

    @property
    def time(self) -> float | None:
        """The best config's median run time in seconds."""
        return self.best.run_s if self.best else None

    @property
    def errors(self) -> int:
        return sum(1 for r in self.records if not r.ok)

    @property
    def trials_per_minute(self) -> float:
        return 60.0 * len(self.records) / self.elapsed if self.elapsed > 0 else 0.0

    def __repr__(self) -> str:
        sizes = "x".join(map(str, self.sizes))
        best = "no correct config" if self.best is None else \
            f"best {self.best.run_s * 1e3:.3f} ms with {self.config}"
        return (f"TuneResult({self.op} {sizes} {self.dtype} {self.target}: {best}; {len(self.records)} trials, "
                f"{self.errors} errors, {self.space_size} valid configs, stopped: {self.stopped})")


@functools.lru_cache(maxsize=32)
def _space(spec: TunableTemplate, sizes: tuple, dtype: str, options_key: tuple) -> ConfigSpace:
    return spec.space(sizes, dict(options_key), dtype)


def task_space(spec: TunableTemplate, sizes: Sequence[int], dtype: str, options: dict) -> ConfigSpace:
    """The (memoised) search space of a task."""
    return _space(spec, tuple(sizes), dtype, tuple(sorted(options.items())))


def _open(db) -> tuple[Database, bool]:
    if isinstance(db, Database):
        return db, False
    return Database(db), True


def _prepare(template, shapes, dtype: str, target: str | None, options: dict | None):
    spec = resolve_template(template, target)
    target = target or spec.target
    return spec, spec.check_sizes(shapes), target, spec.task_options(options)


def tune(template, shapes: Sequence[int], *, dtype: str = "float32", target: str | None = None,
         trials: int = 64, tuner: str | Tuner = "model", db=None, timeout: float = 10.0,
         time_budget: float | None = None, early_stopping: int | None = None, n_parallel: int | None = None,
         options: dict | None = None, seed: int = 0, batch_size: int | None = None, repeat: int = 5,
         cutoff: float | None = 5.0, progress: Callable[[Progress], None] | None = None,
         executor=None, start: Sequence[dict] = (), transfer: bool | None = None) -> TuneResult:
    """Search the template's space for the fastest config, recording every measurement.

    Parameters
    ----------
    template
        A tunable template: its name (``"matmul_cpu"``), an operator (``"matmul"``), the template
        function (``schedules.templates.matmul_cpu``) or a :class:`TunableTemplate`.
    shapes
        The template's sizes, e.g. ``(m, n, k)`` for a matmul.
    dtype, target, options
        The rest of the task: element type, backend (default: the template's), fixed template
        options (e.g. ``{"transpose_b": False}``).
    trials
        Candidates to measure in this run (configs measured by earlier runs are not measured
        again, and their results guide this one: a killed run resumes where it stopped).
    tuner
        ``"model"``, ``"random"``, ``"grid"`` or a :class:`Tuner` of the task's space.
    db
        A :class:`Database`, a file path, or None for the default database.
    timeout
        Seconds allowed to compile one candidate, and again to run it.
    time_budget
        Seconds after which no new batch is started (every measured record is already in the
        database, so the best so far is always there to look up).
    early_stopping
        Stop after this many trials without a new best.
    n_parallel
        Compiling processes (default: the CPUs available).
    seed
        Seed of the tuner's random choices.
    batch_size
        Candidates compiled together (default: twice ``n_parallel``, at least 4).
    repeat
        Timed rounds per candidate.
    cutoff
        A candidate more than ``cutoff`` times slower than the best so far is timed once only.
    progress
        Called with a :class:`Progress` after each measured candidate.
    executor
        Where candidates are compiled and timed: a :class:`~schedules.autotune.measure.LocalExecutor`
        (the default: worker processes on this machine) or a
        :class:`~schedules.autotune.ray_executor.RayExecutor` (a Ray cluster; records are tagged with
        the hardware of the node that timed them).
    start
        Keyword arguments of configs to measure first, each as the valid point of the space
        nearest to it (e.g. the defaults a build uses without tuning, so that the best record is
        never worse than them).
    transfer
        Pre-train the model tuner's cost model on this template's records of other shapes
        (same target, dtype, options, hardware) so the first batch is already guided: None (the
        default) does where the database has such records, True insists on it (the model tuner
        only), False never does.

    Returns
    -------
    TuneResult
        ``result.config`` (the template keyword arguments) and ``result.time`` (seconds).
    """
    spec, sizes, target, options = _prepare(template, shapes, dtype, target, options)
    space = task_space(spec, sizes, dtype, options)
    if space.enumerable and len(space) == 0:
        raise TuningError(f"{spec.name}{list(sizes)}: the search space has no valid point")
    if target == "cuda":
        from backends.cuda.runtime import driver

        driver(f"tuning {spec.name} on the GPU")  # BackendUnavailable here, not one error per candidate
    database, owned = _open(db)
    try:
        run = _Run(spec, sizes, dtype, target, options, space, database, progress)
        task = Task(spec, sizes, dtype, target, options)
        with (executor or LocalExecutor()).start(task, n_parallel=n_parallel, timeout=timeout,
                                                 repeat=repeat) as measurer:
            run.measured_on(measurer)
            prior = transfer_prior(database, spec, sizes, dtype, target, options, run.hardware, transfer, tuner)
            search = tuner if isinstance(tuner, Tuner) else make_tuner(tuner, space, seed,
                                                                        **({"prior": prior} if prior else {}))
            run.resume(search)
            firsts = [project(spec, space, kwargs) for kwargs in start]
            run.seeds = [c for c in dict.fromkeys(firsts) if c is not None] + run.seeds
            run.tuner_name, run.trials = search.name, trials
            size = batch_size or max(4, 2 * measurer.parallelism)
            run.loop(search, measurer, trials, size, time_budget, early_stopping, cutoff)
        result = run.result()
        result.transferred = len(prior) if prior else 0
        return result
    finally:
        if owned:
            database.close()


class _Run:
    """The state of one tuning run: its records, the best so far, and the stopping rules."""

    def __init__(self, spec: TunableTemplate, sizes: tuple, dtype: str, target: str, options: dict,
                 space: ConfigSpace, database: Database, progress):
        self.spec, self.sizes, self.dtype, self.target, self.options = spec, sizes, dtype, target, options
        self.space, self.database, self.progress = space, database, progress
        self.hardware = hardware_fingerprint(target)
        self.session = uuid.uuid4().hex[:12]
        self.records: list[Record] = []
        self.best: Record | None = None
        self.start = time.monotonic()
        self.stopped = "trials"
        self.seeds: list[Config] = []
        self.tuner_name, self.trials = "", 0
        self.nodes: int | None = None

    def measured_on(self, measurer) -> None:
        """Resume from, and compare with, the records of the hardware the measurer times on."""
        self.hardware = measurer.hardware or self.hardware
        self.nodes = measurer.nodes

    def resume(self, search: Tuner) -> None:
        """Feed the task's earlier records that are valid points of the space to the tuner (others
        are skipped with a warning); with none, start from a nearby shape's best."""
        earlier = self.database.records(self.spec.name, self.sizes, self.dtype, self.target, self.options,
                                        self.hardware)
        usable = valid_records(self.database.path, self.spec, self.space, earlier)
        for record, _ in usable:
            if record.ok and (self.best is None or record.run_s < self.best.run_s):
                self.best = record
        search.update([config for _, config in usable], [r.run_s if r.ok else None for r, _ in usable])
        if not usable:
            near = self.database.nearest(self.spec.name, self.sizes, self.dtype, self.target, self.options,
                                         self.hardware)
            seed = project(self.spec, self.space, near.kwargs) if near else None
            self.seeds = [seed] if seed is not None else []

    def loop(self, search: Tuner, measurer: Measurer, trials: int, batch_size: int, time_budget: float | None,
             early_stopping: int | None, cutoff: float | None) -> None:
        since_best = 0
        while len(self.records) < trials:
            if time_budget is not None and time.monotonic() - self.start >= time_budget:
                self.stopped = "time budget"
                return
            if early_stopping is not None and since_best >= early_stopping:
                self.stopped = "early stop"
                return
            wanted = min(batch_size, trials - len(self.records))
            batch = self.seeds[:wanted]
            self.seeds = self.seeds[wanted:]
            batch += [c for c in search.propose(wanted - len(batch)) if c not in batch]
            if not batch:
                self.stopped = "space exhausted"
                return
            limit = self.best.run_s * cutoff if self.best and cutoff else None
            results = measurer.measure(batch, [self.spec.to_kwargs(c) for c in batch], limit)
            for result in results:
                since_best = 0 if self._add(result) else since_best + 1
            search.update(batch, [r.run_s if r.ok else None for r in results])

    def _add(self, result: MeasureResult) -> bool:
        """Store one result; whether it is the new best."""
        record = Record(self.spec.name, self.sizes, self.dtype, self.target, result.hardware or self.hardware,
                        self.options,
                        _json_knobs(result.config), result.kwargs, result.trace, result.compile_s, result.run_s,
                        result.noise, result.error, tuner=self.tuner_name, session=self.session)
        record = _with_id(record, self.database.add(record))
        self.records.append(record)
        improved = record.ok and (self.best is None or record.run_s < self.best.run_s)
        if improved:
            self.best = record
        if self.progress:
            self.progress(Progress(len(self.records), self.trials, sum(1 for r in self.records if not r.ok),
                                   self.best.run_s if self.best else None, time.monotonic() - self.start, record,
                                   self.nodes))
        return improved

    def result(self) -> TuneResult:
        flops = self.spec.flops(self.sizes, self.options) if self.spec.flops else None
        return TuneResult(self.spec.name, self.sizes, self.dtype, self.target, self.options, self.best, self.records,
                          len(self.space) if self.space.enumerable else 0, self.stopped,
                          time.monotonic() - self.start, flops)


def _json_knobs(config: Config) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def _with_id(record: Record, record_id: int) -> Record:
    from dataclasses import replace

    return replace(record, id=record_id)


def project(spec: TunableTemplate, space: ConfigSpace, kwargs: dict) -> Config | None:
    """The valid config of ``space`` whose keyword arguments are nearest ``kwargs`` (numeric values
    compared on a log scale, others by equality); None for a space that cannot be enumerated."""
    if not space.enumerable or not len(space):
        return None

    def distance(config: Config) -> float:
        total = 0.0
        for name, theirs in spec.to_kwargs(config).items():
            wanted = kwargs.get(name)
            if isinstance(theirs, bool) or not isinstance(theirs, (int, float)):
                total += 0.0 if theirs == wanted else 1.0
            elif isinstance(wanted, (int, float)) and wanted > 0 and theirs > 0:
                total += abs(math.log2(theirs) - math.log2(wanted))
            else:
                total += 1.0
        return total

    return min(space.points(), key=distance)
