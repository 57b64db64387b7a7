"""Datasets, the DataLoader, transforms, the embedded digits and the IDX reader."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from frontend import data


def test_loader_batches_and_shuffles():
    dataset = data.ArrayDataset(np.arange(10, dtype=np.float32).reshape(10, 1), np.arange(10, dtype=np.int32))
    batches = list(data.DataLoader(dataset, batch_size=4))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in batches]), np.arange(10))
    loader = data.DataLoader(dataset, batch_size=4, shuffle=True, drop_last=True, seed=1)
    epoch1 = np.concatenate([y.numpy() for _, y in loader])
    epoch2 = np.concatenate([y.numpy() for _, y in loader])
    assert len(loader) == 2 and len(epoch1) == 8 and not np.array_equal(epoch1, epoch2)
    x, y = next(iter(loader))
    np.testing.assert_array_equal(x.numpy()[:, 0], y.numpy())


def test_transforms_apply_per_sample():
    dataset = data.ArrayDataset(np.ones((3, 1, 4, 4), np.float32), np.zeros(3, np.int32),
                                transforms=[data.RandomShift(1, seed=0), lambda image: image[..., :2, :2]])
    x, _ = next(iter(data.DataLoader(dataset, batch_size=3)))
    assert x.shape == (3, 1, 2, 2)


def test_embedded_digits():
    images, labels = data.load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() == 1.0
    assert sorted(set(labels.tolist())) == list(range(10))
    train, test = data.digits()
    assert len(train) + len(test) == 1797 and len(test) == 359


def _write_idx(path, array: np.ndarray, code: int, gz: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if gz else open)(path, "wb") as handle:
        handle.write(payload)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx(tmp_path, gz):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("images.idx.gz" if gz else "images.idx")
    _write_idx(path, images, 0x08, gz)
    np.testing.assert_array_equal(data.read_idx(path), images)
    floats = np.linspace(0, 1, 5).astype(np.float32)
    _write_idx(tmp_path / "f.idx", floats, 0x0D, False)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "f.idx"), floats)


def test_read_idx_rejects_other_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="is not an IDX file"):
        data.read_idx(tmp_path / "bad")


def test_mnist_from_a_folder(tmp_path):
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("test", 2)):
        images_name, labels_name = data.datasets.IDX_FILES[split]
        _write_idx(tmp_path / f"{images_name}.gz", rng.integers(0, 256, (count, 28, 28)).astype(np.uint8), 8, True)
        _write_idx(tmp_path / labels_name, rng.integers(0, 10, count).astype(np.uint8), 8, False)
    train, test = data.mnist(tmp_path)
    assert train.inputs.shape == (6, 1, 28, 28) and len(test) == 2 and train.inputs.max() <= 1.0
