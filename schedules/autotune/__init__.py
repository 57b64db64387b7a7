"""Autotuning: search spaces over template knobs, tuners, isolated and verified measurement, and
a SQLite database of every measured candidate that later builds consult.

>>> result = tune("matmul", (1024, 1024, 1024), trials=64)          # doctest: +SKIP
>>> result.config, result.time                                      # doctest: +SKIP
>>> s, args = apply_best("matmul", (1024, 1024, 1024))              # doctest: +SKIP
"""

import warnings

from ..templates.tuned import register_provider
from .database import Database, Record, default_path, hardware_fingerprint
from .driver import Progress, TuneResult, tune
from .errors import TuningError, TuningWarning
from .lookup import apply_best, lookup_config
from .measure import LocalExecutor, Measurer, MeasureResult, Task
from .ray_executor import RayExecutor
from .space import Config, ConfigSpace
from .spaces import TEMPLATES, TunableTemplate, resolve_template
from .tuners import GridTuner, ModelTuner, RandomTuner, Tuner, make_tuner


def _database_provider(name: str, sizes: tuple, dtype: str, target: str, options: dict) -> dict | None:
    """Templates called without knobs use the database's best record for exactly their task (only
    a valid point of the task's space: :mod:`.validate`)."""
    if name not in TEMPLATES:
        return None
    try:
        return lookup_config(name, sizes, dtype, target, options=options, nearby=False)
    except Exception as error:  # noqa: BLE001 - an unreadable database must not break building with defaults
        warnings.warn(f"{name}{list(sizes)}: the tuning database is not usable ({error}); building with the "
                      "template's defaults", TuningWarning, stacklevel=2)
        return None


register_provider(_database_provider)

__all__ = [
    "Config", "ConfigSpace", "Database", "GridTuner", "MeasureResult", "Measurer", "ModelTuner", "Progress",
    "RandomTuner", "Record", "TEMPLATES", "Task", "TunableTemplate", "TuneResult", "Tuner", "TuningError",
    "TuningWarning", "apply_best", "default_path", "hardware_fingerprint", "lookup_config", "make_tuner",
    "resolve_template", "tune",
]
# where candidates are measured: worker processes here (the default), or a Ray cluster
__all__ += ["LocalExecutor", "RayExecutor"]
