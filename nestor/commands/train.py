"""``nestor train mlp|cnn|resnet9|lstm`` and ``nestor eval``: train a model whose every operation
runs a kernel Nestor compiled, report test accuracy (perplexity for the lstm), save and reload an
``.npz`` checkpoint."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .arguments import finite_non_negative_float, finite_positive_float, integer, non_negative_int, positive_int

#: the widest hidden layer the command line builds (a typo of a few digits is refused, not allocated)
MAX_HIDDEN = 1 << 16

#: per model: epochs, batch size, optimizer, learning rate that reach the targets on the digits
DEFAULTS = {
    "mlp": {"epochs": 20, "batch_size": 32, "optimizer": "adam", "lr": 0.002, "dataset": "digits"},
    "cnn": {"epochs": 20, "batch_size": 32, "optimizer": "adam", "lr": 0.002, "dataset": "digits"},
    "resnet9": {"epochs": 10, "batch_size": 128, "optimizer": "adam", "lr": 0.001, "dataset": "digits"},
    "lstm": {"epochs": 3, "batch_size": 16, "optimizer": "adam", "lr": 0.003, "dataset": "text"},
}


def _loader(dataset, batch_size: int, shuffle: bool, seed: int, device: str):
    from frontend.data import DataLoader

    return DataLoader(dataset, batch_size, shuffle=shuffle, seed=seed, device=device)


def _progress_bar(total: int, epoch: int, epochs: int, quiet: bool):
    from tqdm import tqdm

    bar = tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit="sample", disable=quiet, leave=True,
               file=sys.stderr, dynamic_ncols=True)

    def update(result) -> None:
        bar.update(result.samples)
        rate = bar.n / result.seconds if result.seconds else 0.0
        bar.set_postfix(loss=f"{result.loss:.4f}", acc=f"{result.accuracy:.3f}", samples_s=f"{rate:.0f}")

    return bar, update


def _augmentation(seed: int) -> list:
    """needle's CIFAR-10 augmentation: random horizontal flips and crops (4 pixels), seeded."""
    import numpy as np

    from frontend.data import RandomCrop, RandomFlipHorizontal

    rng = np.random.default_rng(seed)
    return [RandomFlipHorizontal(0.5, rng, layout="CHW"), RandomCrop(4, rng, layout="CHW")]


def _complete(args: argparse.Namespace) -> None:
    """Fill in the model's defaults; refuse a dataset the model cannot use or one without its files."""
    from frontend.tensor import check_device
    from frontend.training import DATA_SOURCES

    for name, value in DEFAULTS[args.model].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if (args.model == "lstm") != (args.dataset == "text"):
        args.parser.error(f"model {args.model} cannot train on --dataset {args.dataset}: lstm is a language model "
                          "for --dataset text; mlp, cnn and resnet9 classify images")
    if args.dataset in DATA_SOURCES and not args.data_dir:
        args.parser.error(f"--dataset {args.dataset} needs --data-dir, the folder holding {DATA_SOURCES[args.dataset]}")
    check_device(args.device)
    _check_checkpoint(args)


def _check_checkpoint(args: argparse.Namespace) -> None:
    """A ``--checkpoint`` that cannot be written is refused before training, not after it."""
    if not args.checkpoint:
        return
    path = Path(args.checkpoint)
    path = path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
    where = f"--checkpoint {args.checkpoint}"
    if path.is_dir():
        args.parser.error(f"{where}: {path} is a folder; give a file name, e.g. {path / 'model.npz'}")
    if not path.parent.is_dir():
        args.parser.error(f"{where}: the folder {path.parent} does not exist; create it or give another path")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        args.parser.error(f"{where}: the folder {path.parent} is not writable; give another path")


def train(args: argparse.Namespace) -> int:
    from frontend import init
    from frontend.training import (
        ModelSpec,
        build_model,
        evaluate,
        load_dataset,
        make_optimizer,
        save_checkpoint,
        train_epoch,
    )

    _complete(args)
    if args.model == "lstm":
        from .train_text import train_text

        return train_text(args)
    init.seed(args.seed)
    train_set, test_set = load_dataset(args.dataset, args.data_dir, args.seed)
    if args.limit:
        train_set = train_set.subset(slice(0, args.limit))
        test_set = test_set.subset(slice(0, max(args.limit // 4, 1)))
    if args.dataset == "cifar10":
        train_set.transforms = _augmentation(args.seed)
    spec = ModelSpec(args.model, tuple(train_set.inputs.shape[1:]), hidden=args.hidden,
                     extra={"width": args.width} if args.model == "resnet9" else {})
    model = build_model(spec, seed=args.seed, device=args.device)
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    loader = _loader(train_set, args.batch_size, True, args.seed, args.device)
    print(f"training {args.model} on {args.dataset}: {len(train_set)} training / {len(test_set)} test samples, "
          f"{args.epochs} epochs, batch {args.batch_size}, {args.optimizer} lr {args.lr}, device {args.device}")
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        bar, update = _progress_bar(len(train_set), epoch, args.epochs, args.quiet)
        train_epoch(model, loader, optimizer, update)
        bar.close()
    result = evaluate(model, _loader(test_set, 256, False, args.seed, args.device))
    elapsed = time.perf_counter() - start
    print(f"test accuracy {result.accuracy:.4f} (loss {result.loss:.4f}) after {elapsed:.1f} s")
    _print_compilations()
    path = save_checkpoint(args.checkpoint or f"{args.model}-{args.dataset}.npz", model, spec,
                           {"dataset": args.dataset, "seed": args.seed, "data_dir": args.data_dir,
                            "test_accuracy": result.accuracy, "limit": args.limit})
    print(f"checkpoint saved to {path}")
    return 0


def _print_compilations() -> None:
    from frontend import dispatch

    stats = dispatch.stats
    print(f"{stats.compiled} kernels compiled in {stats.compile_s:.1f} s")


def evaluate_checkpoint(args: argparse.Namespace) -> int:
    from frontend.training import evaluate, load_checkpoint, load_dataset

    model, spec, info = load_checkpoint(args.checkpoint, device=args.device)
    if spec.kind == "lstm":
        from .train_text import evaluate_text_checkpoint

        return evaluate_text_checkpoint(args, model, info)
    dataset = args.dataset or info.get("dataset", "digits")
    _, test_set = load_dataset(dataset, args.data_dir or info.get("data_dir"), info.get("seed", 0))
    if info.get("limit"):
        test_set = test_set.subset(slice(0, max(info["limit"] // 4, 1)))
    result = evaluate(model, _loader(test_set, 256, False, 0, args.device))
    print(f"{spec.kind} from {args.checkpoint} on {dataset}: test accuracy {result.accuracy:.4f} "
          f"(loss {result.loss:.4f}, {result.samples} samples)")
    return 0


def register(subparsers) -> None:
    from frontend.training import DATASETS, OPTIMIZERS

    p = subparsers.add_parser("train", help="train an MLP, a CNN, a ResNet9 or an LSTM language model on "
                                            "Nestor-compiled kernels, save a checkpoint")
    p.add_argument("model", choices=sorted(DEFAULTS), help="the model to train")
    p.add_argument("--dataset", choices=DATASETS,
                   help="digits (embedded, the default for images), mnist/fashion-mnist/cifar10 from --data-dir, "
                        "or text (the lstm's, from --data-dir)")
    p.add_argument("--data-dir", help="folder with the dataset's files (IDX files, CIFAR-10 batches, or "
                                      "train.txt and test.txt)")
    p.add_argument("--epochs", type=positive_int, help="passes over the training set (default 20)")
    p.add_argument("--batch-size", type=positive_int, help="samples per step (default 32)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="update rule (default adam)")
    p.add_argument("--lr", type=finite_positive_float, help="learning rate (default 0.002)")
    p.add_argument("--weight-decay", type=finite_non_negative_float, default=0.0, help="L2 penalty (default 0)")
    p.add_argument("--hidden", type=integer(1, MAX_HIDDEN), default=128,
                   help=f"hidden units of the mlp or the lstm, 1 to {MAX_HIDDEN} (default 128)")
    p.add_argument("--width", type=integer(1, 256), default=16, help="base channel count of resnet9 (default 16)")
    p.add_argument("--embedding", type=integer(1, MAX_HIDDEN), default=64,
                   help="word embedding size of the lstm (default 64)")
    p.add_argument("--layers", type=integer(1, 16), default=1, help="stacked LSTM layers (default 1)")
    p.add_argument("--seq-len", type=integer(1, 4096), default=20,
                   help="steps of truncated backpropagation through time of the lstm (default 20)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where kernels run (default cpu)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the split, initialisation and shuffling")
    p.add_argument("--limit", type=non_negative_int, default=0,
                   help="train on the first N samples (lines of text) only (a quick check)")
    p.add_argument("--checkpoint", help="where to save the parameters (default MODEL-DATASET.npz)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=train, parser=p)

    e = subparsers.add_parser("eval", help="reload a checkpoint saved by `nestor train` and report test accuracy")
    e.add_argument("checkpoint", help="the .npz file")
    e.add_argument("--dataset", choices=DATASETS, help="default: the dataset it was trained on")
    e.add_argument("--data-dir", help="folder with the dataset's files (default: the one it was trained on)")
    e.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    e.set_defaults(func=evaluate_checkpoint)
