"""Reading a checkpoint safely: the ``.npz`` file is checked (a zip of plain numpy arrays, no
pickles, a ``__meta__`` record whose model sizes are in range and agree with the arrays) before
any model is built, so a damaged or foreign file ends in one :class:`DataError` naming the file
and what is wrong, never in a traceback or a huge allocation."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .errors import DataError

#: the most bytes a checkpoint's arrays may hold once decompressed
MAX_BYTES = 1 << 31
#: the largest extent of an input, a channel count, a class count or a hidden layer
MAX_EXTENT = 1 << 16
KINDS = ("mlp", "cnn", "resnet9", "lstm")
#: what zipfile and numpy raise on a damaged archive
_ZIP_ERRORS = (OSError, EOFError, KeyError, RuntimeError, NotImplementedError, zipfile.BadZipFile)
SPEC_FIELDS = ("kind", "in_shape", "classes", "hidden", "channels", "extra")


def _fail(path, problem: str) -> DataError:
    return DataError(f"checkpoint {path}: {problem}; give a file written by `nestor train` (save_checkpoint)")


def _check_archive(path: Path) -> None:
    if not path.is_file():
        raise _fail(path, "no such file" if not path.exists() else "not a regular file")
    if not zipfile.is_zipfile(path):
        raise _fail(path, "not an .npz archive (no zip directory: wrong format or truncated)")
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except _ZIP_ERRORS as error:
        raise _fail(path, f"the zip directory is damaged ({error})") from None
    if declared > MAX_BYTES:
        raise _fail(path, f"its entries declare {declared} bytes, more than the limit of {MAX_BYTES}")


def _read_entries(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as error:  # numpy refuses object arrays without allow_pickle
        if "pickle" in str(error):
            raise _fail(path, "it holds pickled objects, which are never loaded") from None
        raise _fail(path, f"an entry is damaged ({error})") from None
    except _ZIP_ERRORS as error:
        raise _fail(path, f"an entry is damaged ({type(error).__name__}: {error})") from None


def _meta(path: Path, entries: dict) -> dict:
    raw = entries.pop("__meta__", None)
    if raw is None:
        raise _fail(path, "the __meta__ entry (how to rebuild the model) is missing")
    if raw.shape != () or raw.dtype.kind != "U":
        raise _fail(path, f"__meta__ must be one string, not an array of {raw.dtype} with shape {raw.shape}")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as error:
        raise _fail(path, f"__meta__ is not JSON ({error})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("spec"), dict):
        raise _fail(path, "__meta__ lacks the model spec ('spec': {kind, in_shape, ...})")
    if not isinstance(meta.get("info", {}), dict):
        raise _fail(path, "__meta__'s 'info' must be a mapping")
    return meta


def _extent(path, name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_EXTENT:
        raise _fail(path, f"spec {name}={value!r} is out of range: it must be an integer from {low} to {MAX_EXTENT}")
    return value


def _extents(path, name: str, value, count: int) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) != count:
        raise _fail(path, f"spec {name}={value!r} must be a list of {count} integers")
    return tuple(_extent(path, f"{name}[{i}]", v) for i, v in enumerate(value))


def check_spec(path, fields: dict) -> dict:
    """The spec's fields with tuples for lists, each checked to be in range."""
    unknown = sorted(set(fields) - set(SPEC_FIELDS))
    if unknown or "kind" not in fields or "in_shape" not in fields:
        raise _fail(path, f"the spec has fields {sorted(fields)}; it needs kind and in_shape, and may have "
                          f"{', '.join(SPEC_FIELDS[2:])}")
    if fields["kind"] not in KINDS:
        raise _fail(path, f"spec kind={fields['kind']!r} is not a model of nestor train ({', '.join(KINDS)})")
    checked = dict(fields, in_shape=_extents(path, "in_shape", fields["in_shape"], 3),
                   channels=_extents(path, "channels", fields.get("channels", [16, 32]), 2))
    for name in ("classes", "hidden"):
        if name in fields:
            _extent(path, name, fields[name])
    extra = fields.get("extra", {})
    if not isinstance(extra, dict):
        raise _fail(path, "spec extra must be a mapping")
    needed = {"resnet9": ("width",), "lstm": ("embedding", "layers")}.get(fields["kind"], ())
    for name in needed:
        if name not in extra:
            raise _fail(path, f"spec extra lacks {name!r}, which a {fields['kind']} needs")
        _extent(path, f"extra {name}", extra[name])
    return checked


def parameter_count(spec) -> int:
    """How many numbers the model of ``spec`` holds (without building it)."""
    from .models import language_model_size, resnet9_size

    c, h, w = spec.in_shape
    if spec.kind == "resnet9":
        return resnet9_size(spec.in_shape, spec.classes, spec.extra["width"])
    if spec.kind == "lstm":
        return language_model_size(spec.classes, spec.extra["embedding"], spec.hidden, spec.extra["layers"])
    if spec.kind == "mlp":
        return c * h * w * spec.hidden + spec.hidden + spec.hidden * spec.classes + spec.classes
    c1, c2 = spec.channels
    return c1 * c * 9 + c1 + c2 * c1 * 9 + c2 + c2 * (h // 4) * (w // 4) * spec.classes + spec.classes


def check_state(path, spec, state: dict[str, np.ndarray]) -> None:
    """Every array is finite real numbers, and together they are exactly as many as the spec's model
    holds (so building that model allocates no more than the file held)."""
    for name, value in state.items():
        if value.dtype.kind != "f":
            raise _fail(path, f"the array {name!r} holds {value.dtype}, not floating-point numbers")
        if not np.isfinite(value).all():
            raise _fail(path, f"the array {name!r} holds NaN or infinite values")
    held = sum(value.size for value in state.values())
    wanted = parameter_count(spec)
    if held != wanted:
        raise _fail(path, f"the spec ({spec.kind}, in_shape={spec.in_shape}, hidden={spec.hidden}, "
                          f"classes={spec.classes}) needs {wanted} parameters, the file holds {held}")


def check_info(path, info: dict) -> dict:
    """The fields ``nestor eval`` uses from the saved info, each of the type it needs."""
    checks = {"dataset": lambda v: isinstance(v, str), "data_dir": lambda v: v is None or isinstance(v, str),
              "seed": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
              "limit": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)}
    for name, ok in checks.items():
        if name in info and not ok(info[name]):
            raise _fail(path, f"info {name}={info[name]!r} is not usable (dataset: a name, data_dir: a folder, "
                              f"seed and limit: integers of at least 0)")
    return info


def read_checkpoint(path: str | Path) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """``(spec fields, info, state)`` of a checkpoint, each checked; raises :class:`DataError`."""
    path = Path(path)
    _check_archive(path)
    state = _read_entries(path)
    meta = _meta(path, state)
    return check_spec(path, meta["spec"]), check_info(path, meta.get("info", {})), state


def load_state(path, model, state: dict[str, np.ndarray]) -> None:
    """``model.load_state_dict(state)`` with a mismatch reported as a :class:`DataError`."""
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as error:
        raise _fail(path, str(error).strip("'\"")) from None

