"""Bad data files and labels: damaged IDX files (truncated header or data, extra data, a gzip
bomb, a foreign file, images and labels that disagree) and labels outside the class range each
end in one DataError that names the file or the op, never a traceback or silent training."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import frontend as nf
from frontend import data, nn
from frontend.errors import DataError

IMAGES, LABELS = data.datasets.IDX_FILES["train"]


def _idx(array: np.ndarray, code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


GOOD = _idx(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
IDX_CASES = {
    "empty": (b"", "not an IDX file"),
    "foreign": (b"PK\x03\x04" + bytes(40), "not an IDX file"),
    "unknown-type": (b"\x00\x00\x07\x01" + bytes(8), "not an IDX file"),
    "truncated-header": (GOOD[:9], "truncated header"),
    "truncated-data": (GOOD[:-5], "only 19, less than the 24 data bytes"),
    "extra-data": (GOOD + b"\x00", "more than the 24 data bytes"),
    "zero-extent": (_idx(np.zeros((0, 3), np.uint8)), r"extents \(0, 3\)"),
    "huge-extents": (struct.pack(">BBBB3I", 0, 0, 0x0E, 3, 2**31, 2**31, 2**31), "at most"),
}


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("kind", sorted(IDX_CASES))
def test_a_damaged_idx_file_is_refused(kind, gz, tmp_path):
    payload, message = IDX_CASES[kind]
    path = tmp_path / ("file.idx.gz" if gz else "file.idx")
    path.write_bytes(gzip.compress(payload) if gz else payload)
    with pytest.raises(DataError, match=message) as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_a_gzip_bomb_is_not_decompressed_beyond_its_header(tmp_path):
    path = tmp_path / "bomb.idx.gz"
    header = struct.pack(">BBBBI", 0, 0, 0x08, 1, 16)
    zeros = gzip.compress(bytes(1 << 24), compresslevel=1)
    path.write_bytes(gzip.compress(header) + zeros * 64)  # 1 GiB of zeros in 64 gzip members, 4 MB on disk
    with pytest.raises(DataError, match="more than the 16 data bytes"):
        data.read_idx(path)


def test_a_damaged_gzip_stream_is_refused(tmp_path):
    path = tmp_path / "broken.idx.gz"
    packed = gzip.compress(GOOD)
    path.write_bytes(packed[:-8] + bytes(8))  # a wrong checksum
    with pytest.raises(DataError, match="cannot read .*CRC check failed"):
        data.read_idx(path)


def _folder(tmp_path, images: np.ndarray, labels: np.ndarray):
    for split in ("train", "test"):
        images_name, labels_name = data.datasets.IDX_FILES[split]
        (tmp_path / images_name).write_bytes(_idx(images))
        (tmp_path / labels_name).write_bytes(_idx(labels))
    return tmp_path


@pytest.mark.parametrize("labels, message", [
    (np.zeros(5, np.uint8), "holds 6 images but .* 5 labels"),
    (np.array([0, 1, 2, 3, 4, 10], np.uint8), "label 10 .* outside the 10 classes"),
    (np.zeros((6, 2), np.uint8), "labels must be N integers"),
])
def test_mnist_files_that_disagree_are_refused(tmp_path, labels, message):
    folder = _folder(tmp_path, np.zeros((6, 28, 28), np.uint8), labels)
    with pytest.raises(DataError, match=message):
        data.mnist(folder)


def test_a_missing_mnist_file_is_named(tmp_path):
    with pytest.raises(DataError, match=f"{IMAGES}.*not found in"):
        data.mnist(tmp_path)


@pytest.mark.parametrize("bad", [10, -1, 12345])
def test_labels_outside_the_classes_are_refused_by_the_loss(bad):
    logits = nf.Tensor(np.zeros((4, 10), np.float32), requires_grad=True)
    labels = nf.Tensor(np.array([0, 3, bad, 9], np.int32))
    with pytest.raises(DataError, match=f"softmax_cross_entropy: label {bad} \\(at position 2\\) is outside"):
        nn.SoftmaxLoss()(logits, labels)
    with pytest.raises(DataError, match=f"one_hot: label {bad}"):
        nf.one_hot(labels, 10)


def test_whole_float_labels_are_accepted_and_fractional_ones_refused():
    logits = nf.Tensor(np.zeros((2, 3), np.float32))
    as_int = nn.SoftmaxLoss()(logits, nf.Tensor(np.array([0, 2], np.int32))).numpy()
    as_float = nn.SoftmaxLoss()(logits, nf.Tensor(np.array([0.0, 2.0], np.float32))).numpy()
    np.testing.assert_allclose(as_float, as_int)
    np.testing.assert_allclose(as_int, np.log(3.0), rtol=1e-6)
    with pytest.raises(DataError, match=r"label 1.5 \(at position 1\) is not a class number from 0 to 2"):
        nn.SoftmaxLoss()(logits, nf.Tensor(np.array([0.0, 1.5], np.float32)))
    with pytest.raises(DataError, match="label 3 \\(at position 0\\) is outside the 3 classes"):
        nn.SoftmaxLoss()(logits, nf.Tensor(np.array([3.0, 1.0], np.float32)))

