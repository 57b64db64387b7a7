"""``nestor train resnet9 --dataset cifar10`` and ``nestor train lstm --dataset text`` on files the
tests write: train, save, reload and evaluate to the same figure; and the messages when the data
is not there or does not suit the model."""

from __future__ import annotations

import numpy as np
import pytest

from frontend import data, language
from frontend.training import ModelSpec, build_model, make_optimizer
from nestor.cli import main

from .test_cifar_text import write_cifar


def write_text(folder, lines=30, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{k}" for k in range(12)]
    folder.mkdir(exist_ok=True)
    for name, count in (("train.txt", lines), ("test.txt", lines // 3)):
        (folder / name).write_text("\n".join(" ".join(rng.choice(words, 6)) for _ in range(count)) + "\n")
    return folder


def test_resnet9_on_cifar10_batches(tmp_path, capsys):
    write_cifar(tmp_path / "cifar", n=4)
    checkpoint = tmp_path / "r9.npz"
    assert main(["train", "resnet9", "--dataset", "cifar10", "--data-dir", str(tmp_path / "cifar"), "--epochs", "1",
                 "--batch-size", "4", "--width", "2", "--limit", "8", "--quiet", "--checkpoint",
                 str(checkpoint)]) == 0
    trained = capsys.readouterr().out
    assert "training resnet9 on cifar10: 8 training / 2 test samples" in trained
    assert main(["eval", str(checkpoint)]) == 0
    accuracy = trained.split("test accuracy ")[1].split(")")[0]
    assert f"test accuracy {accuracy})" in capsys.readouterr().out.replace(", 2 samples", "")


def test_lstm_on_a_text_corpus(tmp_path, capsys):
    folder = write_text(tmp_path / "text")
    checkpoint = tmp_path / "lm.npz"
    assert main(["train", "lstm", "--dataset", "text", "--data-dir", str(folder), "--epochs", "1", "--hidden", "8",
                 "--embedding", "8", "--layers", "2", "--seq-len", "4", "--batch-size", "4", "--quiet",
                 "--checkpoint", str(checkpoint)]) == 0
    trained = capsys.readouterr().out
    assert "vocabulary 13" in trained and checkpoint.exists()
    perplexity = trained.split("test perplexity ")[1].split()[0]
    assert main(["eval", str(checkpoint)]) == 0
    assert f"test perplexity {perplexity}" in capsys.readouterr().out


def test_a_language_model_learns_a_repeating_text(tmp_path):
    folder = tmp_path / "text"
    folder.mkdir()
    (folder / "train.txt").write_text("a b c\n" * 6)
    (folder / "test.txt").write_text("a b c\n" * 3)
    corpus = data.Corpus(folder)
    model = build_model(ModelSpec("lstm", (1, 1, 1), classes=4, hidden=8, extra={"embedding": 4, "layers": 1}))
    optimizer = make_optimizer("adam", model.parameters(), 0.1)
    batches = data.batchify(corpus.train, 4)
    first = language.run_text_epoch(model, batches, 5, optimizer)
    for _ in range(8):
        last = language.run_text_epoch(model, batches, 5, optimizer)
    assert last.loss < 0.3 * first.loss
    assert language.run_text_epoch(model, data.batchify(corpus.test, 2), 5).accuracy > 0.9


@pytest.mark.parametrize("model, dataset, message", [
    ("resnet9", "cifar10", "--dataset cifar10 needs --data-dir, the folder holding the CIFAR-10 batches: unpack "
                           "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    ("lstm", "text", "--dataset text needs --data-dir, the folder holding train.txt and test.txt"),
    ("lstm", "digits", "model lstm cannot train on --dataset digits: lstm is a language model for --dataset text"),
    ("cnn", "text", "model cnn cannot train on --dataset text"),
])
def test_train_says_what_data_it_needs(model, dataset, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", model, "--dataset", dataset, "--quiet"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("model, dataset, message", [
    ("resnet9", "cifar10", "nestor: error: cifar10: data_batch_1 (or data_batch_1.bin) not found in"),
    ("lstm", "text", "nestor: error: text corpus: train.txt (or ptb.train.txt) not found in"),
])
def test_train_with_an_empty_data_dir_says_how_to_get_the_data(model, dataset, message, tmp_path, capsys):
    assert main(["train", model, "--dataset", dataset, "--data-dir", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and ("https://" in err)
