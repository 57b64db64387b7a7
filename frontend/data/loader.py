"""Datasets and the DataLoader (seed Lec7): batching, shuffling and per-sample transforms.

Everything here moves and selects host data (indexing, stacking, shuffling); the model's
arithmetic happens in compiled kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from tensorir.errors import DefinitionError
from tensorir.intmath import ceil_div

from .. import random
from ..errors import DataError
from ..tensor import Tensor


def check_labels(what: str, labels: np.ndarray, classes: int) -> None:
    """Refuse class labels that are not whole numbers in ``[0, classes)``: a loss or a one-hot of
    an out-of-range label would silently read or match nothing. Integer labels and float labels
    holding whole numbers (needle's tensors are float32) are both accepted."""
    labels = np.asarray(labels)
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 1:
        raise DataError(f"{what}: the number of classes must be a positive int, got {classes!r}")
    if labels.dtype.kind not in "iuf":
        raise DataError(f"{what}: labels must be class numbers from 0 to {classes - 1}, not {labels.dtype}; "
                        f"convert them with .astype(np.int32)")
    if labels.size == 0:
        return
    if labels.dtype.kind == "f":
        fractional = ~np.isfinite(labels) | (labels != np.floor(labels))
        if fractional.any():
            position = int(np.flatnonzero(fractional.reshape(-1))[0])
            raise DataError(f"{what}: label {labels.reshape(-1)[position]} (at position {position}) is not a "
                            f"class number from 0 to {classes - 1}; labels must be whole numbers")
    low, high = labels.min(), labels.max()
    if low < 0 or high >= classes:
        bad = low if low < 0 else high
        position = int(np.flatnonzero(labels.reshape(-1) == bad)[0])
        bad = int(bad)
        fix = "class numbers start at 0" if bad < 0 else f"or give the model {int(high) + 1} classes"
        raise DataError(f"{what}: label {bad} (at position {position}) is outside the {classes} classes "
                        f"0..{classes - 1}; fix the labels ({fix})")


class Dataset:
    """A sized collection of samples; ``dataset[i]`` is a tuple of numpy arrays."""

    transforms: Sequence[Callable] = ()

    def __init__(self, transforms: Sequence[Callable] | None = None):
        if transforms is not None and (not hasattr(transforms, "__iter__") or callable(transforms)):
            raise DataError(f"{type(self).__name__}: transforms must be a list of callables, got "
                            f"{type(transforms).__name__} {transforms!r}; e.g. transforms=[RandomFlipHorizontal()]")
        self.transforms = list(transforms) if transforms else []
        for position, transform in enumerate(self.transforms):
            if not callable(transform):
                raise DataError(f"{type(self).__name__}: transforms[{position}] is a {type(transform).__name__}, not "
                                "a callable; give functions of an image")

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple:
        raise NotImplementedError

    def apply_transforms(self, x: np.ndarray) -> np.ndarray:
        for transform in self.transforms:
            x = transform(x)
        return x


class ArrayDataset(Dataset):
    """Samples ``(inputs[i], labels[i])`` from arrays, the transforms applied to the inputs."""

    def __init__(self, inputs: np.ndarray, labels: np.ndarray, transforms: Sequence[Callable] = ()):
        if len(inputs) != len(labels):
            raise ValueError(f"ArrayDataset: {len(inputs)} inputs but {len(labels)} labels")
        self.inputs, self.labels, self.transforms = inputs, labels, list(transforms)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index):
        return self.apply_transforms(self.inputs[index]), self.labels[index]

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The samples at ``indices`` stacked (one gather when there are no transforms)."""
        if not self.transforms:
            return self.inputs[indices], self.labels[indices]
        return np.stack([self.apply_transforms(self.inputs[i]) for i in indices]), self.labels[indices]

    def subset(self, indices) -> ArrayDataset:
        return ArrayDataset(self.inputs[indices], self.labels[indices], self.transforms)


class DataLoader:
    """Batches of a dataset as Tensors, reshuffled every epoch when ``shuffle``.

    Parameters
    ----------
    dataset
        An :class:`ArrayDataset` (batched by gathering) or any :class:`Dataset`.
    batch_size
        Samples per batch; the last batch is smaller unless ``drop_last``.
    shuffle
        Visit the samples in a new random order each epoch.
    seed
        Seed of the shuffling generator, for reproducible epochs.
    rng
        The shuffling generator itself (a Generator or a RandomState); with neither ``seed`` nor
        ``rng``, numpy's global generator shuffles (as in needle).
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, device: str = "cpu",
                 rng: np.random.Generator | np.random.RandomState | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise DefinitionError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        batch_size = int(batch_size)
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.rng = random.check("DataLoader", rng) if rng is not None else (
            np.random.default_rng(seed) if seed is not None else None)
        self.device = device

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else ceil_div(n, self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        n = len(self.dataset)
        order = random.permutation(self.rng, n) if self.shuffle else np.arange(n)
        for start in range(0, n, self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.drop_last and len(indices) < self.batch_size:
                return
            if isinstance(self.dataset, ArrayDataset):
                columns = self.dataset.batch(indices)
            else:
                samples = [_fields(self.dataset[int(i)]) for i in indices]
                columns = tuple(np.stack(column) for column in zip(*samples))
            yield tuple(Tensor(np.ascontiguousarray(c), device=self.device, requires_grad=False) for c in columns)


def _fields(sample) -> tuple:
    """A sample as a tuple of its fields (a dataset may return one bare array)."""
    return tuple(sample) if isinstance(sample, (tuple, list)) else (sample,)


class RandomShift:
    """Shift an image ``(..., H, W)`` by up to ``pixels`` in each direction, filling with zeros
    (data augmentation by padding and cropping)."""

    def __init__(self, pixels: int = 1, seed: int | None = None):
        self.pixels = pixels
        self.rng = np.random.default_rng(seed)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        p = self.pixels
        dy, dx = self.rng.integers(-p, p + 1, size=2)
        padded = np.pad(image, [(0, 0)] * (image.ndim - 2) + [(p, p), (p, p)])
        h, w = image.shape[-2:]
        return np.ascontiguousarray(padded[..., p + dy:p + dy + h, p + dx:p + dx + w])


def train_test_split(inputs: np.ndarray, labels: np.ndarray, test_fraction: float = 0.2,
                     seed: int = 0) -> tuple[ArrayDataset, ArrayDataset]:
    """A shuffled split into a training and a test dataset (fixed by ``seed``)."""
    order = np.random.default_rng(seed).permutation(len(inputs))
    cut = len(inputs) - int(round(len(inputs) * test_fraction))
    train, test = order[:cut], order[cut:]
    return ArrayDataset(inputs[train], labels[train]), ArrayDataset(inputs[test], labels[test])
