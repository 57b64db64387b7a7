"""CIFAR-10 batches (python and binary, read safely), the text corpus with batchify/get_batch, and
the flip and crop transforms, each on small files the tests write."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from frontend import data
from frontend.errors import DataError


def _batch(rng, n):
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n)


def write_cifar(folder, binary=False, n=4, seed=0):
    """data_batch_1..5 and test_batch of ``n`` images each; returns what they hold."""
    rng, held = np.random.default_rng(seed), {}
    folder.mkdir(exist_ok=True)
    for name in [*data.cifar.TRAIN_BATCHES, "test_batch"]:
        images, labels = held[name] = _batch(rng, n)
        if binary:
            records = np.concatenate([labels.astype(np.uint8)[:, None], images], axis=1)
            (folder / f"{name}.bin").write_bytes(records.tobytes())
        else:
            (folder / name).write_bytes(pickle.dumps({b"batch_label": b"x", b"data": images,
                                                      b"labels": labels.tolist()}, protocol=2))
    return held


@pytest.mark.parametrize("binary", [False, True])
def test_cifar10_batches(tmp_path, binary):
    held = write_cifar(tmp_path / "cifar", binary)
    train = data.CIFAR10Dataset(tmp_path / "cifar", train=True)
    test = data.CIFAR10Dataset(tmp_path / "cifar", train=False)
    assert len(train) == 20 and len(test) == 4
    want = np.concatenate([held[name][0] for name in data.cifar.TRAIN_BATCHES]).reshape(-1, 3, 32, 32) / 255.0
    np.testing.assert_allclose(train.X, want.astype(np.float32))
    np.testing.assert_array_equal(test.y, held["test_batch"][1])
    x, y = train[5]
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and y == held["data_batch_2"][1][1]


def test_cifar10_pickle_with_foreign_globals_is_refused(tmp_path):
    folder = tmp_path / "cifar"
    write_cifar(folder)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="cifar10: .*test_batch is not a CIFAR-10 python batch \\(global "
                                        "builtins.print is not allowed in a data batch\\)"):
        data.CIFAR10Dataset(folder, train=False)


def test_cifar10_missing_folder_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="cifar10: .* is not a folder; download https://www.cs.toronto.edu/"):
        data.cifar10(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="cifar10: data_batch_1 \\(or data_batch_1.bin\\) not found"):
        data.cifar10(tmp_path / "empty")


def test_cifar10_damaged_binary_batch(tmp_path):
    folder = tmp_path / "cifar"
    write_cifar(folder, binary=True)
    (folder / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match="holds 100 bytes, not a whole number of 3073-byte records"):
        data.CIFAR10Dataset(folder, train=False)
    (folder / "test_batch.bin").write_bytes(bytes([12]) + b"\x00" * 3072)
    with pytest.raises(DataError, match="label 12 \\(at position 0\\) is outside the 10 classes"):
        data.CIFAR10Dataset(folder, train=False)


def write_corpus(folder):
    folder.mkdir(exist_ok=True)
    (folder / "train.txt").write_text("the cat sat\n a dog sat on the cat \n\nthe end\n")
    (folder / "test.txt").write_text("the dog\nnew words here\n")


def test_corpus_and_dictionary(tmp_path):
    write_corpus(tmp_path / "ptb")
    corpus = data.Corpus(tmp_path / "ptb")
    words = corpus.dictionary.idx2word
    assert words[:4] == ["the", "cat", "sat", "<eos>"]
    want = "the cat sat <eos> a dog sat on the cat <eos> <eos> the end <eos>"
    assert [words[i] for i in corpus.train] == want.split()
    assert [words[i] for i in corpus.test] == "the dog <eos> new words here <eos>".split()
    assert len(corpus.dictionary) == len(set(words)) == 11
    assert len(data.Corpus(tmp_path / "ptb", max_lines=1).train) == 4


def test_batchify_and_get_batch():
    ids = list(range(23))
    batches = data.batchify(ids, 4)
    np.testing.assert_array_equal(batches, np.arange(20).reshape(4, 5).T)
    x, target = data.get_batch(batches, 1, 3)
    np.testing.assert_array_equal(x.numpy(), batches[1:4])
    np.testing.assert_array_equal(target.numpy(), batches[2:5].reshape(-1))
    x, target = data.get_batch(batches, 3, 3)  # only one row left
    assert x.shape == (1, 4) and target.shape == (4,)


def test_corpus_errors(tmp_path):
    with pytest.raises(DataError, match="text corpus: .* is not a folder; put train.txt and test.txt"):
        data.Corpus(tmp_path / "none")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "train.txt").write_text("a b\n")
    with pytest.raises(DataError, match="text corpus: test.txt \\(or ptb.test.txt\\) not found"):
        data.Corpus(tmp_path / "half")
    with pytest.raises(DataError, match="batchify: 3 ids do not fill one row of 4"):
        data.batchify([1, 2, 3], 4)
    with pytest.raises(DataError, match="get_batch: row 4 leaves no \\(input, next word\\) pair in 5 rows"):
        data.get_batch(np.zeros((5, 2)), 4, 3)


def test_random_flip_horizontal():
    image = np.arange(24, dtype=np.float32).reshape(2, 3, 4)  # H, W, C
    np.testing.assert_array_equal(data.RandomFlipHorizontal(p=1.0)(image), image[:, ::-1, :])
    np.testing.assert_array_equal(data.RandomFlipHorizontal(p=0.0)(image), image)
    np.testing.assert_array_equal(data.RandomFlipHorizontal(1.0, layout="CHW")(image), image[:, :, ::-1])
    np.random.seed(1)
    flips = [data.RandomFlipHorizontal(0.5)(image)[0, 0, 0] != 0 for _ in range(8)]
    np.random.seed(1)
    assert flips == [np.random.rand() < 0.5 for _ in range(8)]


@pytest.mark.parametrize("source", [np.random.default_rng, np.random.RandomState])
def test_random_crop_shifts_with_zero_fill(source):
    image = np.arange(1, 1 + 5 * 6 * 2, dtype=np.float32).reshape(5, 6, 2)
    out = data.RandomCrop(2, rng=source(3))(image)
    rng = source(3)
    dx, dy = (rng.integers(-2, 3, 2) if hasattr(rng, "integers") else rng.randint(-2, 3, 2))
    padded = np.pad(image, ((2, 2), (2, 2), (0, 0)))
    np.testing.assert_array_equal(out, padded[2 + dx:7 + dx, 2 + dy:8 + dy])
    chw = data.RandomCrop(1, rng=source(0), layout="CHW")(np.ones((3, 4, 4), np.float32))
    assert chw.shape == (3, 4, 4) and chw[0].sum() >= 9


def test_transform_errors():
    with pytest.raises(DataError, match="RandomCrop: an image must have 3 axes \\(HWC\\), got shape \\(4, 4\\)"):
        data.RandomCrop(1)(np.zeros((4, 4)))
    with pytest.raises(DataError, match="RandomFlipHorizontal: layout 'NHWC' is unknown"):
        data.RandomFlipHorizontal(layout="NHWC")(np.zeros((2, 2, 2)))
