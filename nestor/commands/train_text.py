"""``nestor train lstm --dataset text --data-dir DIR``: a word-level LSTM language model trained
with truncated backpropagation through time; ``nestor eval`` of its checkpoint reports the test
perplexity."""

from __future__ import annotations

import argparse
import time


def _batches(corpus, batch_size: int, bptt: int):
    from frontend.data import batchify
    from frontend.errors import DataError

    train = batchify(corpus.train, batch_size)
    if len(train) < 2:
        raise DataError(f"text corpus: {len(corpus.train)} training words fill {len(train)} row of --batch-size "
                        f"{batch_size}; give more text or a smaller --batch-size")
    test = batchify(corpus.test, min(batch_size, max(len(corpus.test) // 2, 1)))
    return train, test


def train_text(args: argparse.Namespace) -> int:
    from frontend import init
    from frontend.language import load_corpus, perplexity, run_text_epoch
    from frontend.training import ModelSpec, build_model, make_optimizer, save_checkpoint

    from .train import _progress_bar

    init.seed(args.seed)
    corpus = load_corpus(args.data_dir, args.limit or None)
    train, test = _batches(corpus, args.batch_size, args.seq_len)
    spec = ModelSpec("lstm", (1, 1, 1), classes=len(corpus.dictionary), hidden=args.hidden,
                     extra={"embedding": args.embedding, "layers": args.layers})
    model = build_model(spec, seed=args.seed, device=args.device)
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    print(f"training lstm on text: {len(corpus.train)} training / {len(corpus.test)} test words, vocabulary "
          f"{len(corpus.dictionary)}, {args.epochs} epochs, batch {args.batch_size}, sequence {args.seq_len}, "
          f"{args.optimizer} lr {args.lr}, device {args.device}")
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        bar, update = _progress_bar(train.size - args.batch_size, epoch, args.epochs, args.quiet)
        result = run_text_epoch(model, train, args.seq_len, optimizer, update)
        bar.close()
        print(f"epoch {epoch}: training perplexity {perplexity(result):.2f}")
    result = run_text_epoch(model, test, args.seq_len)
    print(f"test perplexity {perplexity(result):.2f} (loss {result.loss:.4f}, next-word accuracy "
          f"{result.accuracy:.4f}) after {time.perf_counter() - start:.1f} s")
    path = save_checkpoint(args.checkpoint or "lstm-text.npz", model, spec,
                           {"dataset": "text", "seed": args.seed, "data_dir": args.data_dir, "limit": args.limit,
                            "seq_len": args.seq_len, "batch_size": args.batch_size,
                            "test_perplexity": perplexity(result)})
    print(f"checkpoint saved to {path}")
    return 0


def evaluate_text_checkpoint(args: argparse.Namespace, model, info: dict) -> int:
    """The test perplexity of a saved lstm on the corpus it was trained on (or ``--data-dir``)."""
    from frontend.errors import DataError
    from frontend.language import load_corpus, perplexity, run_text_epoch

    corpus = load_corpus(args.data_dir or info.get("data_dir"), info.get("limit") or None)
    if len(corpus.dictionary) != model.embedding.num_embeddings:
        raise DataError(f"eval: the corpus has {len(corpus.dictionary)} words but the model was trained on "
                        f"{model.embedding.num_embeddings}; give the --data-dir it was trained on")
    seq_len = info.get("seq_len", 20) if isinstance(info.get("seq_len"), int) else 20
    batch_size = info.get("batch_size", 16) if isinstance(info.get("batch_size"), int) else 16
    _, test = _batches(corpus, batch_size, seq_len)
    result = run_text_epoch(model, test, seq_len)
    print(f"lstm from {args.checkpoint} on text: test perplexity {perplexity(result):.2f} "
          f"(loss {result.loss:.4f}, {result.samples} words)")
    return 0
