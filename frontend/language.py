"""Training a word-level language model (``nestor train lstm --dataset text``): the corpus cut
into columns, truncated backpropagation through time over ``bptt`` rows at a time (the state is
carried from one window to the next but cut from the graph), next-word loss and perplexity."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from . import data, nn, optim
from .autograd import no_grad
from .errors import DataError
from .training import EpochResult


def load_corpus(data_dir: str | None, max_lines: int | None = None) -> data.Corpus:
    """The corpus of ``train.txt`` and ``test.txt`` in ``data_dir``."""
    from .training import DATA_SOURCES

    if not data_dir:
        raise DataError(f"dataset text: pass --data-dir, the folder holding {DATA_SOURCES['text']}")
    return data.Corpus(data_dir, max_lines)


def _detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(part.detach() for part in state)
    return state.detach()


def _windows(batches: np.ndarray, bptt: int):
    for start in range(0, len(batches) - 1, bptt):
        yield data.get_batch(batches, start, bptt)


def run_text_epoch(model: nn.Module, batches: np.ndarray, bptt: int, optimizer: optim.Optimizer | None = None,
                   progress: Callable[[EpochResult], None] | None = None) -> EpochResult:
    """One pass over the columns ``batches`` (from :func:`frontend.data.batchify`): trains when an
    ``optimizer`` is given, else evaluates without a graph. The loss is the mean next-word cross
    entropy; ``accuracy`` counts correctly predicted next words."""
    model.train(optimizer is not None)
    loss_fn = nn.SoftmaxLoss()
    total, correct, seen, state, start = 0.0, 0, 0, None, time.perf_counter()
    for x, y in _windows(batches, bptt):
        if optimizer is None:
            with no_grad():
                logits, state = model(x, state)
                loss = loss_fn(logits, y)
        else:
            logits, state = model(x, state)
            loss = loss_fn(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        state = _detach(state)
        total += loss.item() * len(y)
        correct += int((logits._storage().argmax(axis=1) == y._storage()).sum())
        seen += len(y)
        if progress is not None:
            progress(EpochResult(total / seen, correct / seen, len(y), time.perf_counter() - start))
    return EpochResult(total / max(seen, 1), correct / max(seen, 1), seen, time.perf_counter() - start)


def perplexity(result: EpochResult) -> float:
    """``exp(mean next-word loss)``."""
    return math.exp(min(result.loss, 700.0))

