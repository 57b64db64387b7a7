"""Datasets: the embedded 8x8 handwritten digits, and MNIST/Fashion-MNIST from IDX files."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import DataError
from .loader import ArrayDataset, check_labels, train_test_split

#: the files of MNIST and Fashion-MNIST (same names for both)
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: the classes of mnist and fashion-mnist
CLASSES = 10
#: the most data bytes an IDX file may announce (MNIST's largest file holds 47 MB)
MAX_IDX_BYTES = 1 << 32
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
    big-endian 32-bit extents, then the data. At most the bytes the header announces (plus one,
    to notice extra data) are read or decompressed, so a gzip bomb costs nothing.

    Raises
    ------
    DataError
        (a ValueError) When the header is not IDX or is truncated, the type code is unknown, an
        extent is zero or too large, or the data is shorter or longer than the header says.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            dims, dtype = _idx_header(path, handle)
            size = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
            data = handle.read(size + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"read_idx: cannot read {path} ({error}); give an IDX file, plain or gzipped") from None
    if len(data) != size:
        relation = "more than" if len(data) > size else f"only {len(data)}, less than"
        raise DataError(f"read_idx: {path} holds {relation} the {size} data bytes its header announces for "
                        f"extents {tuple(dims)}; the file is damaged or truncated")
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_header(path, handle) -> tuple[tuple[int, ...], np.dtype]:
    magic = handle.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES:
        raise DataError(f"read_idx: {path} is not an IDX file (bad magic {magic!r}); give an IDX file of "
                        f"mnist or fashion-mnist")
    ndim = magic[3]
    raw = handle.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise DataError(f"read_idx: {path} has a truncated header ({len(raw)} of {4 * ndim} bytes of extents)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4"))
    dtype = np.dtype(_IDX_TYPES[magic[2]])
    if 0 in dims or math.prod(dims) * dtype.itemsize > MAX_IDX_BYTES:
        raise DataError(f"read_idx: {path} declares extents {dims}: each must be positive and the data at most "
                        f"{MAX_IDX_BYTES} bytes")
    return dims, dtype


def _find(directory: Path, name: str) -> Path:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise DataError(f"mnist: {name}[.gz] not found in {directory}; give --data-dir the folder holding the four "
                    f"IDX files of mnist or fashion-mnist")


def mnist(directory: str | os.PathLike) -> tuple[ArrayDataset, ArrayDataset]:
    """MNIST or Fashion-MNIST from the four IDX files in ``directory`` (plain or gzipped):
    images float32 ``(N, 1, 28, 28)`` in [0, 1] and int32 labels."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"mnist: {directory} is not a folder; give the folder holding the four IDX files")
    sets = []
    for split in ("train", "test"):
        images_file, labels_file = (_find(directory, name) for name in IDX_FILES[split])
        images, labels = read_idx(images_file), read_idx(labels_file)
        _check_pair(images_file, images, labels_file, labels)
        sets.append(ArrayDataset((images.astype(np.float32) / 255.0).reshape(-1, 1, *images.shape[1:]),
                                 labels.astype(np.int32)))
    return sets[0], sets[1]


def _check_pair(images_file, images: np.ndarray, labels_file, labels: np.ndarray) -> None:
    """Images ``(N, H, W)`` of bytes and ``N`` integer labels from 0 to 9."""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"mnist: {images_file} holds {images.dtype} with extents {images.shape}; images must be "
                        f"unsigned bytes (N, rows, columns)")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"mnist: {labels_file} holds {labels.dtype} with extents {labels.shape}; labels must be "
                        f"N integers")
    if len(images) != len(labels):
        raise DataError(f"mnist: {images_file} holds {len(images)} images but {labels_file} {len(labels)} labels; "
                        f"use the image and label files of the same split")
    check_labels(f"mnist: {labels_file}", labels, CLASSES)
