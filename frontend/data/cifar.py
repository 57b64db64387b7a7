"""CIFAR-10 from its batch files: needle's ``CIFAR10Dataset``.

Two formats are read: the Python version (``cifar-10-batches-py``: ``data_batch_1`` .. ``_5`` and
``test_batch``, each a pickled dict with ``data`` (N, 3072) bytes and ``labels``), and the binary
version (``cifar-10-batches-bin``: ``data_batch_1.bin`` .. and ``test_batch.bin``, records of one
label byte and 3072 pixel bytes). A pickle can run code when loaded, so the Python batches go
through an unpickler that builds nothing but numpy arrays, bytes, strings, numbers, lists and
dicts, and refuses anything else. Images come out ``(N, 3, 32, 32)`` float32 in [0, 1].
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

from ..errors import DataError
from .loader import ArrayDataset, check_labels

try:
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - numpy 1
    from numpy.core import multiarray as _multiarray

IMAGE_SHAPE = (3, 32, 32)
IMAGE_BYTES = 3 * 32 * 32
CLASSES = 10
TRAIN_BATCHES = tuple(f"data_batch_{k}" for k in range(1, 6))
TEST_BATCHES = ("test_batch",)
#: the largest batch file read (CIFAR-10's are 31 MB)
MAX_BATCH_BYTES = 1 << 28
HOW_TO_GET = ("download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (or the binary "
              "cifar-10-binary.tar.gz), unpack it, and pass the folder cifar-10-batches-py (or -bin) as --data-dir")

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that resolves only the globals a pickled numpy array needs."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a data batch")
        if name == "encode":
            import codecs

            return codecs.encode
        if name in ("ndarray", "dtype"):
            return getattr(np, name)
        return getattr(_multiarray, name)


def _read_bytes(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_BATCH_BYTES:
        raise DataError(f"cifar10: {path} holds {size} bytes, more than a CIFAR-10 batch ({MAX_BATCH_BYTES} at "
                        "most); give the folder of the CIFAR-10 batches")
    return path.read_bytes()


def read_python_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 3, 32, 32), labels int32 (N,))`` of one pickled batch, unpickled safely."""
    path = Path(path)
    try:
        batch = _ArraysOnly(io.BytesIO(_read_bytes(path)), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise DataError(f"cifar10: {path} is not a CIFAR-10 python batch ({error}); {HOW_TO_GET}") from None
    if not isinstance(batch, dict):
        raise DataError(f"cifar10: {path} holds a {type(batch).__name__}, not a batch dict; {HOW_TO_GET}")
    batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"cifar10: {path} lacks 'data' or 'labels' (keys: {sorted(map(str, batch))})")
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        raise DataError(f"cifar10: {path} holds data {data.dtype} {data.shape}; want uint8 (N, {IMAGE_BYTES})")
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        raise DataError(f"cifar10: {path} holds {len(data)} images but labels {labels.dtype} {labels.shape}")
    check_labels(f"cifar10: {path}", labels, CLASSES)
    return data.reshape(-1, *IMAGE_SHAPE), labels.astype(np.int32)


def read_binary_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 3, 32, 32), labels int32 (N,))`` of one binary batch."""
    path = Path(path)
    raw = np.frombuffer(_read_bytes(path), dtype=np.uint8)
    record = 1 + IMAGE_BYTES
    if raw.size == 0 or raw.size % record:
        raise DataError(f"cifar10: {path} holds {raw.size} bytes, not a whole number of {record}-byte records "
                        f"(a label byte and {IMAGE_BYTES} pixels); the file is damaged or not a CIFAR-10 batch")
    records = raw.reshape(-1, record)
    labels = records[:, 0].astype(np.int32)
    check_labels(f"cifar10: {path}", labels, CLASSES)
    return np.ascontiguousarray(records[:, 1:]).reshape(-1, *IMAGE_SHAPE), labels


def read_batches(directory: str | os.PathLike, names) -> tuple[np.ndarray, np.ndarray]:
    """The batches ``names`` of ``directory`` concatenated: the python batch file where there is
    one, else the binary ``<name>.bin``."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataError(f"cifar10: {directory} is not a folder; {HOW_TO_GET}")
    images, labels = [], []
    for name in names:
        if (directory / name).is_file():
            batch = read_python_batch(directory / name)
        elif (directory / f"{name}.bin").is_file():
            batch = read_binary_batch(directory / f"{name}.bin")
        else:
            raise DataError(f"cifar10: {name} (or {name}.bin) not found in {directory}; {HOW_TO_GET}")
        images.append(batch[0])
        labels.append(batch[1])
    return np.concatenate(images), np.concatenate(labels)


class CIFAR10Dataset(ArrayDataset):
    """CIFAR-10 as needle's ``CIFAR10Dataset(base_folder, train, p, transforms)``: ``X`` float32
    ``(N, 3, 32, 32)`` in [0, 1], ``y`` int32 labels; ``dataset[i]`` is ``(X[i], y[i])`` with the
    transforms applied (use them with ``layout="CHW"``). ``p`` is kept for needle's signature."""

    def __init__(self, base_folder: str | os.PathLike, train: bool = True, p: float = 0.5, transforms=None):
        images, labels = read_batches(base_folder, TRAIN_BATCHES if train else TEST_BATCHES)
        super().__init__(images.astype(np.float32) / np.float32(255.0), labels, transforms or ())
        self.p = p

    @property
    def X(self) -> np.ndarray:  # noqa: N802 - needle's name
        return self.inputs

    @property
    def y(self) -> np.ndarray:
        return self.labels


def cifar10(directory: str | os.PathLike) -> tuple[CIFAR10Dataset, CIFAR10Dataset]:
    """The training and test sets of CIFAR-10 in ``directory``."""
    return CIFAR10Dataset(directory, True), CIFAR10Dataset(directory, False)
