"""needle's datasets: ``parse_mnist``, ``MNISTDataset(image_filename, label_filename,
transforms)`` and ``NDArrayDataset(*arrays)``.

They read and select host data only (the IDX reader of :mod:`frontend.data.datasets`); the
batches the :class:`~frontend.data.loader.DataLoader` makes of them are needle's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import DataError
from .datasets import _check_pair, read_idx
from .loader import Dataset


def parse_mnist(image_filename: str | os.PathLike, label_filename: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """needle's ``parse_mnist``: ``(X, y)`` from an MNIST image file and its label file (IDX, plain
    or gzipped): ``X`` float32 ``(N, rows * columns)`` scaled to [0, 1] (bytes / 255), ``y`` uint8
    ``(N,)``."""
    images, labels = read_idx(image_filename), read_idx(label_filename)
    _check_pair(image_filename, images, label_filename, labels)
    flat = images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)
    return flat, labels.astype(np.uint8)


class MNISTDataset(Dataset):
    """needle's MNIST dataset: sample ``i`` is ``(x, y)``, ``x`` float32 ``(784,)`` in [0, 1] and
    ``y`` its uint8 label; the transforms see the image as ``(28, 28, 1)`` (height, width,
    channels) and the sample is flattened back."""

    def __init__(self, image_filename: str | os.PathLike, label_filename: str | os.PathLike,
                 transforms: Sequence[Callable] | None = None):
        super().__init__(transforms)
        self.images, self.labels = parse_mnist(image_filename, label_filename)
        self.rows = int(round(self.images.shape[1] ** 0.5))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        x, y = self.images[index], self.labels[index]
        if not self.transforms:
            return x, y
        if np.ndim(x) != 1:
            raise DataError("MNISTDataset: with transforms, index one sample at a time (an int), got "
                            f"{index!r}; the DataLoader does")
        image = self.apply_transforms(x.reshape(self.rows, -1, 1))
        return np.ascontiguousarray(image, dtype=np.float32).reshape(-1), y


class NDArrayDataset(Dataset):
    """needle's dataset of arrays with one first extent: sample ``i`` is ``(a[i] for a in arrays)``."""

    def __init__(self, *arrays: np.ndarray):
        super().__init__()
        if not arrays:
            raise DataError("NDArrayDataset: give at least one array")
        arrays = tuple(np.asarray(a) for a in arrays)
        lengths = [a.shape[0] if a.ndim else None for a in arrays]
        if None in lengths or len(set(lengths)) != 1:
            raise DataError(f"NDArrayDataset: the arrays must share their first extent, got shapes "
                            f"{[a.shape for a in arrays]}")
        self.arrays = arrays

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index) -> tuple:
        return tuple(a[index] for a in self.arrays)
