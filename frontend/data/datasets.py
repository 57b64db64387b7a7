"""Datasets: the embedded 8x8 handwritten digits, and MNIST/Fashion-MNIST from IDX files."""

from __future__ import annotations

import gzip
import os
from importlib import resources
from pathlib import Path

import numpy as np

from .loader import ArrayDataset, train_test_split

#: the files of MNIST and Fashion-MNIST (same names for both)
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 8x8 digit images shipped with the package: ``(images float32 (N, 1, 8, 8) in
    [0, 1], labels int32 (N,))``. Source and licence: ``frontend/data/NOTICE``."""
    with resources.files(__package__).joinpath("digits.csv.gz").open("rb") as raw:
        table = np.loadtxt(gzip.open(raw, "rt"), delimiter=",", dtype=np.float32)
    images = (table[:, :64] / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    return images, table[:, 64].astype(np.int32)


def digits(test_fraction: float = 0.2, seed: int = 0) -> tuple[ArrayDataset, ArrayDataset]:
    """The embedded digits split into training and test sets (80/20 by default, fixed seed)."""
    images, labels = load_digits()
    return train_test_split(images, labels, test_fraction, seed)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` or plain): magic ``0 0 type ndim``, then ``ndim``
    big-endian 32-bit extents, then the data.

    Raises
    ------
    ValueError
        When the header is not IDX, the type code is unknown, or the data is short.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"read_idx: {path} is not an IDX file (bad magic {data[:4]!r})")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(int)
    dtype = np.dtype(_IDX_TYPES[data[2]])
    count = int(np.prod(dims)) if ndim else 1
    offset = 4 + 4 * ndim
    if len(data) - offset < count * dtype.itemsize:
        raise ValueError(f"read_idx: {path} holds {len(data) - offset} data bytes, the header wants "
                         f"{count * dtype.itemsize}")
    return np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(dims).astype(dtype.newbyteorder("="))


def _find(directory: Path, name: str) -> Path:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"mnist: {name}[.gz] not found in {directory}")


def mnist(directory: str | os.PathLike) -> tuple[ArrayDataset, ArrayDataset]:
    """MNIST or Fashion-MNIST from the four IDX files in ``directory`` (plain or gzipped):
    images float32 ``(N, 1, 28, 28)`` in [0, 1] and int32 labels."""
    directory = Path(directory)
    sets = []
    for split in ("train", "test"):
        images_file, labels_file = IDX_FILES[split]
        images = read_idx(_find(directory, images_file)).astype(np.float32) / 255.0
        labels = read_idx(_find(directory, labels_file)).astype(np.int32)
        sets.append(ArrayDataset(images.reshape(-1, 1, *images.shape[1:]), labels))
    return sets[0], sets[1]
